"""Any folder of PNG/JPEG images, searched recursively.

Images are cropped to their centred square (never stretched), transparent
pixels become white, then they are resized to the canvas. 16-bit greyscale
is scaled to 8 bits; an image beyond ``images.MAX_IMAGE_PIXELS`` (8192 x
8192) is a DataError naming it.

Split rule: by ``hash_bucket`` of the path relative to the folder (with
``/`` separators): buckets 0-89 'train', 90-99 'test'. A file keeps its
split when others are added or removed. 'all' is everything, in sorted order.
"""
import os
from typing import List, Optional

import tensorflow as tf

from spiral_tf.data import images as images_lib
from spiral_tf.data.images import DataError

SPLITS = ("train", "test", "all")
TEST_BUCKETS = (90, 100)
# Up to this many files a split is decoded once at load, in every process that
# loads it (0.2 ms a 64-pixel PNG, 1 ms a 178x218 JPEG on this 2-core machine:
# at most 5 s); beyond, only each file's header and tail are read.
FULL_CHECK_LIMIT = 5000


def list_files(path: str, split: str = "train") -> List[str]:
  """Paths of the images of ``split``, sorted by relative path."""
  images_lib.check_split(split, SPLITS, "folder")
  if path is None or not os.path.isdir(path):
    raise DataError(f"folder: {path!r} is not a folder; expected a folder of PNG/JPEG images")
  relative = []
  for root, dirs, files in os.walk(path):
    dirs.sort()
    for name in files:
      if name.lower().endswith(images_lib.IMAGE_EXTENSIONS):
        relative.append(os.path.relpath(os.path.join(root, name), path).replace(os.sep, "/"))
  if not relative:
    raise DataError(f"{path}: no images; expected PNG/JPEG files "
                    f"({', '.join(images_lib.IMAGE_EXTENSIONS)}) in it or its subfolders")
  relative.sort()
  if split != "all":
    lo, hi = TEST_BUCKETS
    relative = [r for r in relative if (lo <= images_lib.hash_bucket(r) < hi) == (split == "test")]
  return [os.path.join(path, r) for r in relative]


def load(path: str, split: str = "train", size: int = 64,
         channels: Optional[int] = None) -> tf.data.Dataset:
  """The folder's images ``[size, size, channels]`` (3 channels by default)."""
  channels = images_lib.check_channels(channels, 3)
  files = list_files(path, split)
  images_lib.require_nonempty(len(files), "folder", split, path)
  # A bad file fails now, naming itself, not inside tf.data in an actor process:
  # small folders are decoded once; large ones have each header and tail read.
  if len(files) <= FULL_CHECK_LIMIT:
    images_lib.check_decodable(files, files)
  else:
    for f in files:
      images_lib.open_image(f, f).close()
      images_lib.check_complete(f)
  # Large images are decoded reduced (OVERSAMPLE pixels a canvas pixel): an
  # 8000-pixel photo need not become 200 MB of pixels for a 64-pixel target.
  return images_lib.decoded_dataset(files, files, "RGB",
                                    min_side=images_lib.OVERSAMPLE * size).map(
      lambda image: images_lib.to_canvas(image, size, channels),
      num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
