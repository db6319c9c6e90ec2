"""The paper's MNIST teacher: a small CNN trained with cross-entropy (Section 4.2).

``M`` kernels of ``patch x patch`` pixels slide with stride ``patch`` (no bias), so each
kernel sees the ``D`` non-overlapping patches of the image; average pooling over
``pool x pool`` blocks of patches (``K = pool^2``), the activation, then a linear classifier
over the ``M (grid/pool)^2`` pooled features. After training, the first layer (convolution,
pooling, activation) is the teacher :class:`tltlib.examples.cnn.ConvPoolTeacher`; the classifier is
thrown away.

Both activations the paper uses are positively homogeneous (``sigma(c z) = c sigma(z)`` for
``c > 0``), so multiplying the kernels by ``c`` and the classifier's weights by ``1/c`` gives
the same classifier: the scale of the teacher is not fixed by training.
:func:`rescale_kernels` uses this freedom.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from tltlib.core import dryrun
from tltlib.core.seeding import generator
from tltlib.core.validate import positive_float, positive_int
from tltlib.examples.cnn import ConvPoolTeacher
from tltlib.examples.digits import ImageData
from tltlib.model.activations import Activation, get_activation
from tltlib.model.teachers import Teacher


class PatchCNN(nn.Module):
    """conv (``M`` kernels, ``patch x patch``, stride ``patch``, no bias) -> ``pool x pool``
    average pooling -> ``sigma`` -> linear classifier."""

    def __init__(
        self,
        image_size: int = 27,
        M: int = 16,
        patch: int = 3,
        pool: int = 3,
        n_classes: int = 10,
        activation: str | Activation = "relu",
        leaky_slope: float = 0.1,
    ) -> None:
        super().__init__()
        image_size, patch = positive_int("size", image_size), positive_int("patch", patch)
        M, pool = positive_int("M", M), positive_int("pool", pool)
        if image_size % patch:
            raise ValueError(f"patch must divide the image size {image_size}, got patch={patch}")
        grid = image_size // patch
        if grid % pool or pool == grid:
            raise ValueError(
                f"pool must divide the {grid} x {grid} grid of patches into more than one "
                f"block, got pool={pool}"
            )
        self.grid, self.patch, self.pool = grid, patch, pool
        self.sigma = get_activation(activation, leaky_slope)
        self.conv = nn.Conv2d(1, M, patch, stride=patch, bias=False, dtype=torch.float64)
        self.classifier = nn.Linear(M * (grid // pool) ** 2, n_classes, dtype=torch.float64)

    @property
    def M(self) -> int:
        return self.conv.out_channels

    def hidden(self, images: torch.Tensor) -> torch.Tensor:
        """The pooled, activated features ``(N, M, grid/pool, grid/pool)``: the teacher's output."""
        return self.sigma(F.avg_pool2d(self.conv(images[:, None]), self.pool))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Class logits ``(N, n_classes)`` of ``(N, H, W)`` images."""
        return self.classifier(self.hidden(images).flatten(start_dim=1))

    def teacher(self) -> ConvPoolTeacher:
        """The first layer as a :class:`ConvPoolTeacher` (kernels copied, float64)."""
        kernels = self.conv.weight.detach()[:, 0].to(torch.float64).clone()
        return ConvPoolTeacher(kernels, (self.grid, self.grid), (self.pool, self.pool), self.sigma)


def init_cnn(model: PatchCNN, seed: int) -> PatchCNN:
    """PyTorch's default initialisation (uniform, bound ``1/sqrt(fan_in)``), drawn from the
    seed's stream ``"cnn_init"`` rather than the global random state."""
    g = generator(seed, "cnn_init")
    fan_conv, fan_linear = model.conv.weight[0].numel(), model.classifier.in_features
    params = (
        (model.conv.weight, fan_conv),
        (model.classifier.weight, fan_linear),
        (model.classifier.bias, fan_linear),
    )
    with torch.no_grad():
        for p, fan_in in params:
            nn.init.uniform_(p, -(fan_in**-0.5), fan_in**-0.5, generator=g)
    return model


def accuracy(model: PatchCNN, images: torch.Tensor, labels: torch.Tensor) -> float:
    """Fraction of ``images`` whose largest logit is the label."""
    with torch.no_grad():
        return float((model(images).argmax(dim=1) == labels).double().mean())


@dataclass
class TrainedCNN:
    """A trained :class:`PatchCNN` with its accuracies and per-epoch training loss."""

    model: PatchCNN
    train_accuracy: float
    test_accuracy: float
    epoch_loss: list[float] = field(default_factory=list)
    settings: dict = field(default_factory=dict)


def train_cnn(
    data: ImageData,
    activation: str = "relu",
    *,
    M: int = 16,
    patch: int = 3,
    pool: int = 3,
    epochs: int = 20,
    lr: float = 0.01,
    batch: int = 64,
    seed: int = 0,
    leaky_slope: float = 0.1,
) -> TrainedCNN:
    """Train a :class:`PatchCNN` on ``data`` with cross-entropy and Adam (float64, seeded).

    ``epochs`` passes over the training images in a random order from the stream
    ``"cnn_batches"``; ``epochs=0`` returns the untrained network (a baseline).
    """
    epochs = positive_int("epochs", epochs, minimum=0)
    lr, batch = positive_float("lr", lr), positive_int("batch", batch)
    n_classes = int(max(data.train_labels.max(), data.test_labels.max())) + 1
    model = init_cnn(PatchCNN(data.size, M, patch, pool, n_classes, activation, leaky_slope), seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    g = generator(seed, "cnn_batches")
    x, y = data.train_images, data.train_labels
    losses = []
    dryrun.checkpoint("train_cnn")
    for _ in range(epochs):
        order = torch.randperm(len(y), generator=g)
        total = 0.0
        for start in range(0, len(y), batch):
            idx = order[start : start + batch]
            loss = F.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
        losses.append(total / len(y))
    model.eval()
    settings = dict(
        activation=model.sigma.name,
        M=M,
        patch=patch,
        pool=pool,
        epochs=epochs,
        lr=lr,
        batch=batch,
        seed=seed,
        optimizer="Adam",
        loss="cross-entropy",
    )
    return TrainedCNN(
        model,
        accuracy(model, x, y),
        accuracy(model, data.test_images, data.test_labels),
        losses,
        settings,
    )


def kernel_norm(model: PatchCNN) -> float:
    """``||V*||_F``: the Frobenius norm of the convolution kernels."""
    return float(torch.linalg.norm(model.conv.weight.detach()))


def rescale_kernels(model: PatchCNN, norm: float) -> PatchCNN:
    """A copy whose kernels have Frobenius norm ``norm`` and whose classifier weights are
    divided by the same factor: the same logits, by positive homogeneity of ``sigma``."""
    norm = positive_float("kernel_norm", norm)
    c = norm / kernel_norm(model)
    out = PatchCNN(
        model.grid * model.patch,
        model.M,
        model.patch,
        model.pool,
        model.classifier.out_features,
        model.sigma,
    )
    out.load_state_dict(model.state_dict())
    with torch.no_grad():
        out.conv.weight.mul_(c)
        out.classifier.weight.div_(c)
    out.eval()
    return out


def logit_gap(a: PatchCNN, b: PatchCNN, images: torch.Tensor) -> float:
    """``max |logits_a - logits_b|`` over ``images``, relative to ``max |logits_a|``."""
    with torch.no_grad():
        la, lb = a(images), b(images)
    return float((la - lb).abs().max() / la.abs().max())


def class_balance(labels: torch.Tensor) -> np.ndarray:
    """Fraction of each class among ``labels`` (chance accuracy is its maximum)."""
    counts = np.bincount(np.asarray(labels), minlength=int(labels.max()) + 1)
    return counts / counts.sum()


def accuracy_report(cnns: Mapping[str, TrainedCNN]) -> str:
    """One line per activation: train and test accuracy and ``||V*||_F`` of the kernels."""
    return "\n".join(
        f"{act:>10}: accuracy {r.train_accuracy:.3f} (train), {r.test_accuracy:.3f} (test);"
        f" ||V*||_F = {kernel_norm(r.model):.2f}"
        for act, r in cnns.items()
    )


def largest_logit_gap(
    cnns: Mapping[str, TrainedCNN], rescaled: Mapping[str, PatchCNN], images: torch.Tensor
) -> float:
    """The largest :func:`logit_gap` between each trained network ``cnns[a].model`` and its
    rescaled copy ``rescaled[a]`` on ``images``, over the activations ``a`` of ``rescaled``."""
    return max(logit_gap(cnns[a].model, rescaled[a], images) for a in rescaled)


def natural_form_gap(
    convs: Mapping[str, ConvPoolTeacher],
    teachers: Mapping[str, Teacher],
    images: torch.Tensor,
    X: torch.Tensor,
) -> float:
    """``max |conv+pool(images) - sigma(V* X S*)|`` over the activations ``a`` of ``convs``:
    the natural form ``convs[a]`` against the bilinear form ``teachers[a]`` on the patches
    ``X`` of the same ``images`` (Example 2.1)."""
    return max(float((convs[a](images) - teachers[a](X)).abs().max()) for a in convs)
