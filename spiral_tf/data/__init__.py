"""Target images for SPIRAL: one entry point, ``load``, over one module per data set.

Every data set is a ``tf.data.Dataset`` of float32 ``[size, size, channels]``
images in [0, 1], white background and dark ink like the painting canvas.
Split rules are fixed and documented in each module; the file loaders
raise ``DataError`` naming the file when it is missing or malformed.
"""
import inspect
import typing
from typing import Any, Dict, Optional

import tensorflow as tf

from spiral_tf.data import celeba
from spiral_tf.data import folder
from spiral_tf.data import mnist
from spiral_tf.data import mujoco_scenes
from spiral_tf.data import omniglot
from spiral_tf.data import synthetic
from spiral_tf.data import tfds_source
from spiral_tf.data.images import DataError

LOADERS = {
    "mnist": mnist.load,
    "omniglot": omniglot.load,
    "celeba": celeba.load,
    "folder": folder.load,
    "synthetic": synthetic.load,
    "mujoco_scenes": mujoco_scenes.load,
}
SOURCES = ("files", "tfds")
_TFDS_PREFIX = "tfds:"
# Arguments every loader takes from the caller; the rest are its options.
CORE_ARGUMENTS = ("path", "split", "size", "channels", "name", "data_dir")
# The split carved out of 'train' by ``load``'s ``validation_images``.
VALIDATION = "validation"


def _options_of(fn, skip=()) -> Dict[str, Any]:
  hints = typing.get_type_hints(fn, localns={"tf": tf})  # "tf.data.Dataset" returns
  return {p.name: hints.get(p.name, Any) for p in inspect.signature(fn).parameters.values()
          if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
          and p.name not in CORE_ARGUMENTS + tuple(skip)}


def loader_options(name: str) -> Dict[str, Any]:
  """The options (``**kwargs`` of ``load``) data set ``name`` accepts: option -> type annotation.

  Raises ValueError for an unknown data set.
  """
  if name.startswith(_TFDS_PREFIX):
    return _options_of(tfds_source.load)
  if name not in LOADERS:
    raise ValueError(f"unknown data set {name!r}; valid: {sorted(LOADERS)} "
                     f"or '{_TFDS_PREFIX}<name>'")
  options = _options_of(LOADERS[name])
  if name == "synthetic":  # its load passes **kwargs on to generate; size is the canvas size
    options.update(_options_of(synthetic.generate, skip=("canvas_size",)))
  return options


def load(name: str, path: Optional[str] = None, split: str = "train", size: int = 64,
         channels: Optional[int] = None, source: str = "files", validation_images: int = 0,
         **kwargs) -> tf.data.Dataset:
  """Loads data set ``name`` as canvas-like images.

  Args:
    name: one of ``LOADERS`` ('mnist', 'omniglot', 'celeba', 'folder',
      'synthetic', 'mujoco_scenes'), or 'tfds:<name>' to read it through TensorFlow Datasets.
    path: the released files (see each module); the TFDS ``data_dir`` for TFDS;
      unused for 'synthetic'.
    split: 'train', 'test' or 'all' ('valid' too for CelebA), or VALIDATION.
    size: image side in pixels (the canvas size).
    channels: 1 or 3; None for the data set's own (3 for CelebA, folders
      and coloured synthetic images, else 1).
    source: 'files' or 'tfds' (same as the 'tfds:' prefix).
    validation_images: > 0: the first this many images of 'train' are the
      VALIDATION split, and 'train' starts after them (population-based
      training ranks its members on images none of them trained on). 0: no
      VALIDATION split, 'train' is whole.
    **kwargs: loader options, e.g. ``with_labels`` (MNIST, TFDS),
      ``with_index`` and the ``synthetic.generate`` arguments.
  """
  if split == VALIDATION or validation_images:
    return _validation_split(name, path, split, size, channels, source, validation_images, kwargs)
  if name.startswith(_TFDS_PREFIX):
    name, source = name[len(_TFDS_PREFIX):], "tfds"
  if source not in SOURCES:
    raise ValueError(f"unknown source {source!r}; valid: {list(SOURCES)}")
  if source == "tfds":
    return tfds_source.load(name, split=split, size=size, channels=channels, data_dir=path,
                            **kwargs)
  if name not in LOADERS:
    raise ValueError(f"unknown data set {name!r}; valid: {sorted(LOADERS)} "
                     f"or '{_TFDS_PREFIX}<name>'")
  return LOADERS[name](path, split=split, size=size, channels=channels, **kwargs)


def _validation_split(name, path, split, size, channels, source, count, kwargs):
  """``load`` of VALIDATION (the first ``count`` images of 'train'), or of a split without them."""
  if split not in (VALIDATION, "train"):
    return load(name, path, split, size, channels, source, **kwargs)
  if count < 1:
    raise ValueError(f"split {VALIDATION!r} needs validation_images >= 1, got {count}")
  train = load(name, path, "train", size, channels, source, **kwargs)
  available = int(train.cardinality())  # < 0: unknown (or endless), not checked
  if 0 <= available <= count:
    raise DataError(f"{name}: the train split holds {available} images, so holding out "
                    f"{count} for validation (pbt.validation_images) leaves none to train on")
  return train.take(count) if split == VALIDATION else train.skip(count)


__all__ = ["DataError", "LOADERS", "VALIDATION", "load", "loader_options", "celeba", "folder",
           "mnist", "omniglot", "synthetic", "tfds_source"]
