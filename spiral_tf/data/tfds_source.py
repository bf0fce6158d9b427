"""The same data sets through TensorFlow Datasets, when TFDS holds them locally.

Never downloads (``download=False``): the data must already be prepared in
``data_dir`` (TFDS's default folder if None). The images get the same
treatment as from the released files (MNIST inverted, CelebA cropped to
``celeba.CROP_BOX``); any other TFDS image set is cropped to its centred
square and kept as is. Splits are TFDS's own; 'valid' means 'validation'.
"""
import importlib
from typing import Optional

import tensorflow as tf

from spiral_tf.data import celeba
from spiral_tf.data import images as images_lib
from spiral_tf.data.images import DataError

# Our name -> (TFDS name, invert, default channels, crop box or None for the centred square).
KNOWN = {
    "mnist": ("mnist", True, 1, None),
    # TFDS decodes Omniglot to RGB; still black ink on white.
    "omniglot": ("omniglot", False, 1, None),
    "celeba": ("celeb_a", False, 3, celeba.CROP_BOX),
}
_SPLIT_NAMES = {"valid": "validation"}


def _import_tfds():
  try:
    return importlib.import_module("tensorflow_datasets")
  except ImportError as e:
    raise DataError("TensorFlow Datasets (the tensorflow_datasets package) is not installed; "
                    "install it, or load the released files with path=...") from e


def _crop(image: tf.Tensor, box) -> tf.Tensor:
  if box is None:
    shape = tf.shape(image)
    side = tf.minimum(shape[0], shape[1])
    return tf.image.crop_to_bounding_box(image, (shape[0] - side) // 2,
                                         (shape[1] - side) // 2, side, side)
  left, top, right, bottom = box
  return tf.image.crop_to_bounding_box(image, top, left, bottom - top, right - left)


def load(name: str, split: str = "train", size: int = 64, channels: Optional[int] = None,
         data_dir: Optional[str] = None, with_labels: bool = False) -> tf.data.Dataset:
  """TFDS data set ``name`` (ours or TFDS's) as canvas images, with labels if asked."""
  tfds = _import_tfds()
  tfds_name, invert, default_channels, box = KNOWN.get(name, (name, False, 3, None))
  channels = images_lib.check_channels(channels, default_channels)
  try:
    ds = tfds.load(tfds_name, split=_SPLIT_NAMES.get(split, split), data_dir=data_dir,
                   download=False, shuffle_files=False)
  except Exception as e:  # pylint: disable=broad-except  (TFDS raises several types)
    raise DataError(f"tfds:{tfds_name}: split {split!r} is not prepared in data_dir="
                    f"{data_dir!r} and downloading is off ({e})") from e

  if with_labels and "label" not in ds.element_spec:
    raise ValueError(f"tfds:{tfds_name} has no 'label' feature; features: "
                     f"{sorted(ds.element_spec)}")

  def prepare(example):
    image = images_lib.to_canvas(_crop(example["image"], box), size, channels, invert=invert)
    return (image, example["label"]) if with_labels else image

  return ds.map(prepare, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
