"""Data loaders: counts, ranges, orientation, fixed splits and errors naming the file."""
import gzip
import os
import re
import shutil
import sys
import types
import zipfile

import numpy as np
from PIL import Image
import pytest

import spiral_tf  # noqa: F401  (before TensorFlow)
import tensorflow as tf

from spiral_tf import data
from spiral_tf.data import DataError, celeba, folder, mnist, omniglot, synthetic


def as_array(ds):
  """Every element of an image dataset, stacked."""
  return np.concatenate(list(ds.batch(1024).as_numpy_iterator()))


def write_idx(path, array, magic=None):
  header = magic if magic is not None else bytes([0, 0, 8, array.ndim])
  header += b"".join(int(d).to_bytes(4, "big") for d in array.shape)
  with gzip.open(path, "wb") as f:
    f.write(header + array.astype(np.uint8).tobytes())


def write_png(path, value=128, size=(8, 8), mode="L"):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  Image.new(mode, size, value).save(path)


# --- MNIST -------------------------------------------------------------------
@pytest.fixture(scope="module")
def mnist_dir(shared_data):
  return os.path.join(shared_data, "mnist")


def test_mnist_t10k_only_is_split_first_90_percent_train_last_10_percent_test(mnist_dir):
  all_images, all_labels = mnist.load_arrays(mnist_dir, "all")
  train_images, train_labels = mnist.load_arrays(mnist_dir, "train")
  test_images, test_labels = mnist.load_arrays(mnist_dir, "test")
  assert (len(all_images), len(train_images), len(test_images)) == (8000, 7200, 800)
  # Disjoint by position and together exactly the file, in order.
  np.testing.assert_array_equal(np.concatenate([train_images, test_images]), all_images)
  np.testing.assert_array_equal(np.concatenate([train_labels, test_labels]), all_labels)
  assert train_labels[0] == 7


def test_mnist_dataset_is_dark_ink_on_white_in_unit_range_with_labels(mnist_dir):
  ds = data.load("mnist", mnist_dir, split="test", size=64, with_labels=True)
  images, labels = map(np.concatenate, zip(*ds.batch(1024).as_numpy_iterator()))
  assert images.shape == (800, 64, 64, 1) and images.dtype == np.float32
  assert images.min() >= 0.0 and images.max() <= 1.0
  assert images.mean() > 0.5  # mostly white background
  np.testing.assert_allclose(images[:, [0, 0, -1, -1], [0, -1, 0, -1]], 1.0, atol=1e-3)
  assert images.reshape(800, -1).min(axis=1).max() < 0.2  # every digit has dark ink
  np.testing.assert_array_equal(labels, mnist.load_arrays(mnist_dir, "test")[1])
  first_image, first_label = next(iter(data.load("mnist", mnist_dir, with_labels=True)))
  assert int(first_label) == 7
  # Same pixels at 28x28 as the inverted raw digit (resizing to its own size is exact).
  raw = mnist.load_arrays(mnist_dir, "train")[0][0]
  at_28 = next(iter(data.load("mnist", mnist_dir, size=28))).numpy()[..., 0]
  np.testing.assert_allclose(at_28, 1.0 - raw / 255.0, atol=1e-6)
  assert first_image.shape == (64, 64, 1)


def test_mnist_three_channels_repeat_the_gray_channel(mnist_dir):
  image = next(iter(data.load("mnist", mnist_dir, channels=3))).numpy()
  assert image.shape == (64, 64, 3)
  np.testing.assert_array_equal(image[..., 0], image[..., 2])


def test_mnist_uses_its_own_train_and_t10k_files_when_both_exist(tmp_path):
  digits = np.arange(3 * 4 * 4).reshape(3, 4, 4)
  write_idx(tmp_path / "train-images-idx3-ubyte.gz", digits)
  write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.array([1, 2, 3]))
  write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", digits[:2])
  write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.array([4, 5]))
  assert list(mnist.load_arrays(str(tmp_path), "train")[1]) == [1, 2, 3]
  assert list(mnist.load_arrays(str(tmp_path), "test")[1]) == [4, 5]


def test_mnist_wrong_magic_number_names_the_file(tmp_path):
  write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", np.zeros((2, 4, 4)), magic=b"\0\0\x08\x01")
  write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.zeros(2))
  with pytest.raises(DataError, match=r"t10k-images-idx3-ubyte\.gz: IDX magic number"):
    mnist.load_arrays(str(tmp_path), "all")


def test_mnist_truncated_file_names_the_file(tmp_path):
  path = tmp_path / "t10k-images-idx3-ubyte"
  path.write_bytes(bytes([0, 0, 8, 3]) + (10).to_bytes(4, "big") + (28).to_bytes(4, "big") * 2
                   + bytes(100))
  write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.zeros(10))
  with pytest.raises(DataError, match=r"t10k-images-idx3-ubyte: IDX data has 100 bytes; "
                     r"expected 7840"):
    mnist.load_arrays(str(tmp_path), "all")


def test_mnist_label_count_mismatch_and_missing_files_are_named(tmp_path):
  with pytest.raises(DataError, match="t10k-images-idx3-ubyte"):
    data.load("mnist", str(tmp_path))
  write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", np.zeros((3, 4, 4)))
  with pytest.raises(DataError, match="has no labels; expected t10k-labels-idx1-ubyte"):
    mnist.load_arrays(str(tmp_path), "all")
  write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.zeros(2))
  with pytest.raises(DataError, match=r"t10k-labels-idx1-ubyte\.gz: 2 labels for 3 images"):
    mnist.load_arrays(str(tmp_path), "all")


# --- Omniglot ----------------------------------------------------------------
def test_omniglot_zip_splits_by_drawer_into_disjoint_train_and_test(shared_data):
  path = os.path.join(shared_data, "omniglot")
  train = omniglot.load_files(path, "train")
  test = omniglot.load_files(path, "test")
  assert (len(train), len(test)) == (2448, 272)  # drawers 19-20 of 20 are test
  names = {n for n, _ in train} | {n for n, _ in test}
  assert len(names) == 2720 and names == {n for n, _ in omniglot.load_files(path, "all")}
  assert all(n.endswith(("_19.png", "_20.png")) for n, _ in test)
  assert [n for n, _ in omniglot.load_files(path, "test")] == [n for n, _ in test]


def test_omniglot_images_are_black_ink_on_white_without_inversion(shared_data):
  images = as_array(data.load("omniglot", os.path.join(shared_data, "omniglot"), split="test"))
  assert images.shape == (272, 64, 64, 1)
  assert images.min() >= 0.0 and images.max() <= 1.0
  assert images.mean() > 0.8
  np.testing.assert_allclose(images[:, [0, 0, -1, -1], [0, -1, 0, -1]], 1.0, atol=1e-3)
  assert images.reshape(len(images), -1).min(axis=1).max() < 0.2


def test_omniglot_extracted_folder_matches_the_zip(shared_data, tmp_path):
  zip_path = os.path.join(shared_data, "omniglot", "images_background_small1.zip")
  with zipfile.ZipFile(zip_path) as archive:
    members = [m for m in archive.namelist() if "/Balinese/character01/" in m and
               m.endswith(".png")]
    archive.extractall(tmp_path, members)
  extracted = str(tmp_path / "images_background_small1")
  assert len(omniglot.load_files(extracted, "train")) == 18
  from_folder = as_array(data.load("omniglot", extracted, split="test", size=32))
  from_zip = as_array(data.load("omniglot", zip_path, split="test", size=32))
  np.testing.assert_array_equal(from_folder, from_zip[:2])  # Balinese/character01 sorts first


def test_omniglot_background_is_train_and_evaluation_is_test_when_both_exist(tmp_path):
  png = tmp_path / "one.png"
  write_png(str(png))
  for kind in ("background", "evaluation"):
    with zipfile.ZipFile(tmp_path / f"images_{kind}.zip", "w") as archive:
      for drawer in (1, 20):  # drawer 20 would be 'test' under the drawer rule
        archive.write(png, f"images_{kind}/alpha/character01/0001_{drawer:02d}.png")
  assert {n.split(":")[1] for n, _ in omniglot.load_files(str(tmp_path), "train")} == {
      "images_background/alpha/character01/0001_01.png",
      "images_background/alpha/character01/0001_20.png"}
  assert all("images_evaluation.zip:" in n for n, _ in omniglot.load_files(str(tmp_path), "test"))
  assert len(omniglot.load_files(str(tmp_path), "all")) == 4


def test_omniglot_malformed_archives_name_the_file(tmp_path):
  empty = tmp_path / "images_background.zip"
  with zipfile.ZipFile(empty, "w") as archive:
    archive.writestr("README.txt", "no images")
  with pytest.raises(DataError, match=r"images_background\.zip: zip holds no PNG files"):
    data.load("omniglot", str(empty))
  not_zip = tmp_path / "images_evaluation.zip"
  not_zip.write_bytes(b"plain text")
  with pytest.raises(DataError, match=r"images_evaluation\.zip: not a readable zip"):
    omniglot.load_files(str(not_zip))
  bad_png = tmp_path / "bad" / "images_background.zip"
  bad_png.parent.mkdir()
  with zipfile.ZipFile(bad_png, "w") as archive:
    archive.writestr("alpha/character01/0001_01.png", b"not a png")
  with pytest.raises(DataError, match=r"images_background\.zip:alpha/character01/0001_01\.png: "
                     "not a PNG"):
    omniglot.load_files(str(bad_png))


# --- CelebA ------------------------------------------------------------------
def test_celeba_partial_copy_splits_by_name_hash_into_rgb_faces(shared_data):
  path = os.path.join(shared_data, "celeba")
  splits = {s: celeba.list_files(path, s) for s in ("train", "valid", "test")}
  assert sum(map(len, splits.values())) == 32
  assert len(set().union(*map(set, splits.values()))) == 32
  assert splits["test"] == celeba.list_files(path, "test") and splits["test"]
  images = as_array(data.load("celeba", path, split="all"))
  assert images.shape == (32, 64, 64, 3) and images.dtype == np.float32
  assert images.min() >= 0.0 and images.max() <= 1.0
  assert np.abs(images[..., 0] - images[..., 2]).mean() > 0.01  # colour, not gray
  gray = as_array(data.load("celeba", path, split="test", channels=1))
  assert gray.shape == (len(splits["test"]), 64, 64, 1)


def test_celeba_full_folder_uses_the_standard_index_ranges(shared_data, tmp_path):
  face = os.path.join(shared_data, "celeba", "img_align_celeba", "000001.jpg")
  folder_path = tmp_path / "img_align_celeba"
  folder_path.mkdir()
  for number in (1, 162770, 162771, 182637, 182638, 202599):
    shutil.copy(face, folder_path / f"{number:06d}.jpg")
  names = {s: [os.path.basename(f) for f in celeba.list_files(str(tmp_path), s)]
           for s in ("train", "valid", "test")}
  assert names == {"train": ["000001.jpg", "162770.jpg"],
                   "valid": ["162771.jpg", "182637.jpg"],
                   "test": ["182638.jpg", "202599.jpg"]}


def test_celeba_bad_files_are_named(tmp_path):
  with pytest.raises(DataError, match="no img_align_celeba/ folder"):
    data.load("celeba", str(tmp_path))
  folder_path = tmp_path / "img_align_celeba"
  folder_path.mkdir()
  with pytest.raises(DataError, match="img_align_celeba: folder is empty"):
    data.load("celeba", str(tmp_path))
  (folder_path / "000001.jpg").write_text("not a jpeg")
  with pytest.raises(DataError, match=r"000001\.jpg: not a readable image"):
    data.load("celeba", str(tmp_path), split="all")
  Image.new("RGB", (64, 64)).save(folder_path / "000001.jpg")
  with pytest.raises(DataError, match=r"000001\.jpg: image is 64x64; expected .* 178x218"):
    data.load("celeba", str(tmp_path), split="all")


# --- Folder ------------------------------------------------------------------
def test_folder_split_is_deterministic_disjoint_and_complete(tmp_path):
  # 40 files with distinct gray levels, so images identify their file.
  for i in range(40):
    write_png(str(tmp_path / f"sub{i % 3}" / f"img{i:02d}.png"), value=5 * i)
  train = folder.list_files(str(tmp_path), "train")
  test = folder.list_files(str(tmp_path), "test")
  assert len(train) + len(test) == 40 and not set(train) & set(test) and test
  assert test == folder.list_files(str(tmp_path), "test")
  levels = np.round(as_array(data.load("folder", str(tmp_path), split="test",
                                       size=8))[:, 0, 0, 0] * 255)
  expected = [int(os.path.basename(f)[3:5]) * 5 for f in test]
  np.testing.assert_array_equal(levels, expected)


def test_folder_makes_transparency_white_and_crops_to_a_centred_square(shared_data, tmp_path):
  image = Image.new("RGBA", (30, 10), (0, 0, 0, 0))
  image.paste((0, 0, 0, 255), (10, 0, 20, 10))  # opaque black in the centre third
  image.save(tmp_path / "wide.png")
  out = as_array(data.load("folder", str(tmp_path), split="all", size=10))
  assert out.shape == (1, 10, 10, 3)
  np.testing.assert_allclose(out, 0.0, atol=1e-6)  # only the black square remains
  (tmp_path / "wide.png").unlink()
  Image.new("RGBA", (4, 4), (0, 0, 0, 0)).save(tmp_path / "all.png")
  np.testing.assert_allclose(as_array(data.load("folder", str(tmp_path), split="all")), 1.0)
  mona = as_array(data.load("folder", os.path.join(shared_data, "images"), split="all"))
  assert mona.shape == (1, 64, 64, 3) and 0.0 <= mona.min() and mona.max() <= 1.0


def test_folder_errors_name_the_folder_or_file(tmp_path):
  with pytest.raises(DataError, match=re.escape(f"{tmp_path}: no images")):
    data.load("folder", str(tmp_path))
  (tmp_path / "fake.png").write_text("text")
  with pytest.raises(DataError, match=r"fake\.png: not a readable image"):
    data.load("folder", str(tmp_path), split="all")


# --- Synthetic ---------------------------------------------------------------
SMALL = dict(num_images=40, canvas_size=16, grid_size=16, episode_length=6, strokes=(1, 3))


def test_synthetic_is_bit_reproducible_by_seed_and_differs_across_seeds():
  synthetic.clear_cache()
  first = synthetic.generate(seed=3, **SMALL).images.copy()
  synthetic.clear_cache()
  again = synthetic.generate(seed=3, **SMALL)
  np.testing.assert_array_equal(first, again.images)
  assert synthetic.generate(seed=3, **SMALL) is again  # cached in memory
  other = synthetic.generate(seed=4, **SMALL).images
  assert np.abs(other - first).mean() > 0.01


def test_synthetic_programs_are_move_paint_pairs_that_re_render_to_the_images():
  generated = synthetic.generate(seed=3, **SMALL)
  env = generated.config.make_env()
  counts = set()
  for image, program in zip(generated.images, generated.programs):
    assert [a["flag"] for a in program] == [0, 1] * (len(program) // 2)
    counts.add(len(program) // 2)
    np.testing.assert_array_equal(synthetic.render(env, program), image)
  assert counts == {1, 2, 3}
  assert generated.images.shape == (40, 16, 16, 1)
  assert (generated.images.reshape(40, -1).min(axis=1) < 0.9).mean() > 0.9  # visible ink


def test_synthetic_dataset_splits_by_position_and_converts_channels():
  generated = synthetic.generate(seed=3, **SMALL)
  kwargs = {k: v for k, v in SMALL.items() if k != "canvas_size"}
  ds = data.load("synthetic", size=16, split="test", seed=3, with_index=True, **kwargs)
  images, index = map(np.concatenate, zip(*ds.batch(64).as_numpy_iterator()))
  assert list(index) == [36, 37, 38, 39]  # last 10%
  np.testing.assert_array_equal(images, generated.images[36:])
  train = as_array(data.load("synthetic", size=16, channels=3, seed=3, **kwargs))
  assert train.shape == (36, 16, 16, 3)
  colour = synthetic.generate(seed=3, use_color=True, **SMALL).images
  assert colour.shape == (40, 16, 16, 3)
  with pytest.raises(ValueError, match="3 strokes need 6 steps"):
    synthetic.generate(**dict(SMALL, episode_length=5))


# --- Registry and TFDS -------------------------------------------------------
def test_unknown_name_lists_the_valid_ones():
  with pytest.raises(ValueError, match=r"unknown data set 'cifar'; valid: \['celeba', 'folder', "
                     r"'mnist', 'mujoco_scenes', 'omniglot', 'synthetic'\]"):
    data.load("cifar")


def test_tfds_without_the_package_raises_a_clear_error(monkeypatch):
  monkeypatch.setitem(sys.modules, "tensorflow_datasets", None)  # import fails even if installed
  with pytest.raises(DataError, match="tensorflow_datasets package\\) is not installed"):
    data.load("tfds:mnist")


def test_tfds_mnist_is_read_without_download_and_inverted(monkeypatch):
  calls = []

  def fake_load(name, split, data_dir, download, shuffle_files):
    calls.append((name, split, download))
    digits = np.zeros((2, 28, 28, 1), np.uint8)
    digits[:, 10:18, 12:16] = 255  # a white stroke on black, as TFDS stores MNIST
    return tf.data.Dataset.from_tensor_slices({"image": digits, "label": np.array([7, 2])})

  monkeypatch.setitem(sys.modules, "tensorflow_datasets", types.SimpleNamespace(load=fake_load))
  ds = data.load("mnist", source="tfds", split="test", size=28, with_labels=True)
  images, labels = map(np.concatenate, zip(*ds.batch(2).as_numpy_iterator()))
  assert calls == [("mnist", "test", False)]
  assert list(labels) == [7, 2]
  assert images[0, 0, 0, 0] == 1.0 and images[0, 14, 14, 0] == 0.0
