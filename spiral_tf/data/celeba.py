"""CelebA faces from the released ``img_align_celeba/`` folder (JPEG 178x218, ``000001.jpg``...).

Preprocessing: each image is cropped to the 140x140 square with top-left
corner (x=19, y=40), which is centred horizontally and spans brow to chin
on the aligned faces (the usual GAN crop), then resized to the canvas.

Split rule: the standard partition by file number (``list_eval_partition.txt``):
000001-162770 'train', 162771-182637 'valid', 182638-202599 'test', used when
the folder holds files in all three ranges. A partial copy (such as the 32
faces of the shared test data) instead splits by ``hash_bucket`` of the file
name: buckets 0-79 'train', 80-89 'valid', 90-99 'test'. 'all' is everything.

Data and licences: CelebA may be used for non-commercial research purposes
only, under the agreement its authors ask users to accept. spiral_tf ships
none of it; see docs/data.md for every data set's licence.
"""
import os
from typing import List, Optional

import tensorflow as tf

from spiral_tf.data import images as images_lib
from spiral_tf.data.images import DataError

SPLITS = ("train", "valid", "test", "all")
FOLDER = "img_align_celeba"
IMAGE_SIZE = (178, 218)  # (width, height) of every aligned face.
CROP_BOX = (19, 40, 159, 180)  # (left, top, right, bottom): 140x140.
STANDARD_RANGES = {"train": (1, 162770), "valid": (162771, 182637), "test": (182638, 202599)}
FALLBACK_BUCKETS = {"train": (0, 80), "valid": (80, 90), "test": (90, 100)}


def _folder(path: str) -> str:
  """The ``img_align_celeba`` folder: ``path`` itself or its child."""
  if path is not None and os.path.isdir(os.path.join(path, FOLDER)):
    return os.path.join(path, FOLDER)
  if path is not None and os.path.basename(os.path.normpath(path)) == FOLDER \
      and os.path.isdir(path):
    return path
  raise DataError(f"celeba: no {FOLDER}/ folder at {path!r}; expected the released "
                  f"{FOLDER}/ of 000001.jpg... or the folder holding it")


def _number(name: str, folder: str) -> int:
  stem, ext = os.path.splitext(name)
  if not stem.isdigit() or ext.lower() not in (".jpg", ".jpeg", ".png"):
    raise DataError(f"{os.path.join(folder, name)}: not a CelebA file name; expected "
                    "NNNNNN.jpg such as 000001.jpg")
  return int(stem)


def list_files(path: str, split: str = "train") -> List[str]:
  """Paths of the images of ``split``, sorted by file number."""
  images_lib.check_split(split, SPLITS, "celeba")
  folder = _folder(path)
  names = sorted(n for n in os.listdir(folder) if not n.startswith("."))
  if not names:
    raise DataError(f"{folder}: folder is empty; expected CelebA JPEGs 000001.jpg...")
  numbers = {n: _number(n, folder) for n in names}
  if split != "all":
    standard = all(any(lo <= k <= hi for k in numbers.values())
                   for lo, hi in STANDARD_RANGES.values())
    if standard:
      lo, hi = STANDARD_RANGES[split]
      names = [n for n in names if lo <= numbers[n] <= hi]
    else:
      lo, hi = FALLBACK_BUCKETS[split]
      names = [n for n in names if lo <= images_lib.hash_bucket(n) < hi]
  names.sort(key=numbers.get)
  return [os.path.join(folder, n) for n in names]


def _check(path: str):
  """Reads the header and the tail only: a wrong file fails here, naming itself, not in tf.data."""
  with images_lib.open_image(path, path) as image:
    if image.size != IMAGE_SIZE:
      raise DataError(f"{path}: image is {image.size[0]}x{image.size[1]}; expected the "
                      f"aligned CelebA size {IMAGE_SIZE[0]}x{IMAGE_SIZE[1]}")
  images_lib.check_complete(path)


def load(path: str, split: str = "train", size: int = 64,
         channels: Optional[int] = None) -> tf.data.Dataset:
  """CelebA faces ``[size, size, channels]`` (3 channels by default)."""
  channels = images_lib.check_channels(channels, 3)
  files = list_files(path, split)
  images_lib.require_nonempty(len(files), "celeba", split, path)
  for f in files:
    _check(f)
  return images_lib.decoded_dataset(files, files, "RGB", lambda w, h: CROP_BOX).map(
      lambda image: images_lib.to_canvas(image, size, channels),
      num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
