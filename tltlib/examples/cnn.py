"""Example 2.1 in its natural form: a convolution over patches, average pooling, activation.

An image (or a 1-d signal, an image with one row) is cut into non-overlapping patches of
size ``patch``; ``M`` kernels of that size slide with stride ``patch`` (``conv2d``, no
bias), average pooling takes blocks of ``pool`` neighbouring patches, then ``sigma``. To
compare with the transformer's ``M x D`` output, each pooled value is copied back to the
``K = pool_h * pool_w`` patches it pools (nearest up-sampling). :meth:`ConvPoolTeacher.as_teacher`
gives the same map in the bilinear form ``sigma(V* X S*)``, with ``X`` the patches as columns.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from tltlib.core.validate import positive_int
from tltlib.model.activations import Activation, get_activation
from tltlib.model.teachers import Teacher, pooling_groups_2d, pooling_scores, value_matrix


def patches(images: torch.Tensor, patch: tuple[int, int]) -> torch.Tensor:
    """``(N, H, W)`` images to ``(N, d, D)`` patch matrices: one column per patch, row-major."""
    if images.ndim != 3:
        raise ValueError(f"images must have shape (N, H, W), got {tuple(images.shape)}")
    ph, pw = patch
    if images.shape[1] % ph or images.shape[2] % pw:
        raise ValueError(f"patch {patch} must tile the images of size {tuple(images.shape[1:])}")
    return F.unfold(images[:, None], kernel_size=patch, stride=patch)


def images_from_patches(
    X: torch.Tensor, grid: tuple[int, int], patch: tuple[int, int]
) -> torch.Tensor:
    """Inverse of :func:`patches`: ``(N, d, D)`` with ``D = grid_h * grid_w`` to ``(N, H, W)``."""
    size = (grid[0] * patch[0], grid[1] * patch[1])
    return F.fold(X, output_size=size, kernel_size=patch, stride=patch)[:, 0]


@dataclass(frozen=True)
class ConvPoolTeacher:
    """``M`` convolution kernels of size ``patch`` (stride ``patch``), ``pool`` average pooling,
    then ``sigma``: the teacher of Example 2.1 written with ``conv2d`` and ``avg_pool2d``."""

    kernels: torch.Tensor  # (M, ph, pw)
    grid: tuple[int, int]  # patches per column and per row of the image
    pool: tuple[int, int]
    activation: Activation

    def __post_init__(self) -> None:
        if self.kernels.ndim != 3:
            raise ValueError(
                f"kernels must have shape (M, ph, pw), got {tuple(self.kernels.shape)}"
            )
        if self.grid[0] % self.pool[0] or self.grid[1] % self.pool[1]:
            raise ValueError(f"pool {self.pool} must tile the patch grid {self.grid} exactly")
        object.__setattr__(self, "activation", get_activation(self.activation))

    @property
    def patch(self) -> tuple[int, int]:
        return tuple(self.kernels.shape[1:])

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        """``(N, H, W)`` images to the ``(N, M, D)`` output, patches in row-major order."""
        k = self.kernels.to(images.dtype)[:, None]
        conv = F.conv2d(images[:, None], k, stride=self.patch)  # (N, M, gh, gw)
        pooled = self.activation(F.avg_pool2d(conv, kernel_size=self.pool))
        up = pooled.repeat_interleave(self.pool[0], dim=2).repeat_interleave(self.pool[1], dim=3)
        return up.flatten(start_dim=2)

    def as_teacher(self) -> Teacher:
        """The bilinear form: ``V*`` = the flattened kernels, ``S*`` = the pooling groups."""
        V = self.kernels.reshape(self.kernels.shape[0], -1).to(torch.float64)
        S = pooling_scores(pooling_groups_2d(self.grid, self.pool))
        return Teacher(V, S, self.activation, name="cnn")


def conv_pool_1d(
    D: int,
    K: int,
    d: int,
    M: int,
    activation: str = "relu",
    seed: int = 0,
    leaky_slope: float = 0.1,
) -> ConvPoolTeacher:
    """The paper's sets 1-2: a signal of ``D`` patches of length ``d``, pooling ``K`` neighbours.

    Its kernels are the value matrix of :func:`tltlib.model.teachers.cnn_teacher` with the same seed.
    """
    D, K = positive_int("D", D, minimum=2), positive_int("K", K)
    if D % K or K == D:
        raise ValueError(
            f"K must be a divisor of D smaller than D (pooling groups partition the "
            f"D patches), got K={K} with D={D}"
        )
    V = value_matrix(M, d, seed)
    return ConvPoolTeacher(
        V.reshape(M, 1, d), (1, D), (1, K), get_activation(activation, leaky_slope)
    )
