"""MNIST from the released IDX files (gzipped or not).

Split rule: with both the ``train-*`` and the ``t10k-*`` files present, each
keeps its own role (train files = 'train', t10k files = 'test'). With only
one of the two (the shared test data has only t10k), that set is split by
position: its first 90% is 'train' and its last 10% is 'test'. 'all' is
everything present, train files first.

MNIST digits are white on black; images are inverted to dark ink on white.

Data and licences: the copyright of MNIST is held by Yann LeCun and Corinna
Cortes, who make it available under the Creative Commons Attribution-Share
Alike 3.0 licence (CC BY-SA 3.0). spiral_tf ships none of it; see
docs/data.md for every data set's licence.
"""
import gzip
import os
import zlib
from typing import Optional, Tuple

import numpy as np
import tensorflow as tf

from spiral_tf.data import images as images_lib
from spiral_tf.data.images import DataError

SPLITS = ("train", "test", "all")
TRAIN_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte")
TEST_FILES = ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
# Share of a lone file set held out as 'test': close to MNIST's own 10k of 70k.
HOLDOUT_FRACTION = 0.1
# IDX type code 0x08: unsigned bytes, the only type MNIST uses.
_UBYTE = 0x08


def read_idx(path: str, ndim: int) -> np.ndarray:
  """Reads an IDX file of unsigned bytes with ``ndim`` dimensions (3 for images, 1 for labels)."""
  try:
    with (gzip.open if path.endswith(".gz") else open)(path, "rb") as f:
      data = f.read()
  except (OSError, EOFError, zlib.error) as e:  # BadGzipFile is an OSError; a bad deflate
    # block is a zlib.error, a truncated file an EOFError.
    raise DataError(f"{path}: cannot read ({type(e).__name__}: {e}); expected an IDX file, "
                    "gzipped if named .gz: download it again") from e
  header = 4 + 4 * ndim
  if len(data) < header:
    raise DataError(f"{path}: truncated IDX header ({len(data)} bytes, expected {header})")
  magic = bytes(data[:4])
  if magic[:2] != b"\0\0" or magic[2] != _UBYTE or magic[3] != ndim:
    raise DataError(f"{path}: IDX magic number {magic.hex()} is wrong; expected "
                    f"0000{_UBYTE:02x}{ndim:02x} (unsigned bytes, {ndim} dimensions)")
  shape = tuple(int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
  expected = int(np.prod(shape))
  if len(data) - header != expected:
    raise DataError(f"{path}: IDX data has {len(data) - header} bytes; expected "
                    f"{expected} for shape {shape} (truncated or padded file)")
  return np.frombuffer(data, np.uint8, offset=header).reshape(shape)


def _find(directory: str, stem: str) -> Optional[str]:
  for name in (stem, stem + ".gz"):
    if os.path.isfile(os.path.join(directory, name)):
      return os.path.join(directory, name)
  return None


def _read_set(directory: str, stems: Tuple[str, str]):
  """(images [n, 28, 28], labels [n]) of one file pair, or None if the image file is absent."""
  image_path = _find(directory, stems[0])
  if image_path is None:
    return None
  label_path = _find(directory, stems[1])
  if label_path is None:
    raise DataError(f"{directory}: {os.path.basename(image_path)} has no labels; expected "
                    f"{stems[1]} or {stems[1]}.gz beside it")
  images, labels = read_idx(image_path, 3), read_idx(label_path, 1)
  if len(images) != len(labels):
    raise DataError(f"{label_path}: {len(labels)} labels for {len(images)} images in "
                    f"{image_path}; expected one label per image")
  return images, labels


def load_arrays(path: str, split: str = "train") -> Tuple[np.ndarray, np.ndarray]:
  """(images uint8 [n, 28, 28] white on black as stored, labels int64 [n]) of ``split``."""
  images_lib.check_split(split, SPLITS, "mnist")
  if path is None or not os.path.isdir(path):
    raise DataError(f"mnist: {path!r} is not a folder; expected one holding "
                    f"{TEST_FILES[0]}(.gz) and/or {TRAIN_FILES[0]}(.gz)")
  train, test = _read_set(path, TRAIN_FILES), _read_set(path, TEST_FILES)
  if train is None and test is None:
    raise DataError(f"{path}: no MNIST files; expected {TRAIN_FILES[0]}(.gz) or "
                    f"{TEST_FILES[0]}(.gz) with their labels files")
  present = [s for s in (train, test) if s is not None]
  if split == "all":
    chosen = (np.concatenate([s[0] for s in present]), np.concatenate([s[1] for s in present]))
  elif train is not None and test is not None:
    chosen = train if split == "train" else test
  else:
    (images, labels), = present
    cut = len(images) - int(round(len(images) * HOLDOUT_FRACTION))
    part = slice(None, cut) if split == "train" else slice(cut, None)
    chosen = images[part], labels[part]
  return chosen[0], chosen[1].astype(np.int64)


def load(path: str, split: str = "train", size: int = 64, channels: Optional[int] = None,
         with_labels: bool = False) -> tf.data.Dataset:
  """MNIST images ``[size, size, channels]`` (1 channel by default), with labels if asked."""
  channels = images_lib.check_channels(channels, 1)
  digits, labels = load_arrays(path, split)
  images_lib.require_nonempty(len(digits), "mnist", split, path)
  ds = tf.data.Dataset.from_tensor_slices((digits[..., None], labels))

  def prepare(image, label):
    image = images_lib.to_canvas(image, size, channels, invert=True)
    return (image, label) if with_labels else image

  return ds.map(prepare, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)

