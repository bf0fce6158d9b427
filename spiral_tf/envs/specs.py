"""Spec helpers shared by the rendering environments."""
import itertools
import math
import numbers
from collections.abc import Mapping
from typing import Sequence

import numpy as np


class InvalidActionError(ValueError):
  """An action is missing a component or has one outside its valid range."""


class EpisodeOrderError(RuntimeError):
  """``step()`` was called before ``reset()`` or after the episode's last step."""


def whole_number(name: str, value, minimum: int) -> int:
  """``value`` as an int >= ``minimum``; ValueError naming ``name`` otherwise (never truncated)."""
  ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
  ok = ok and math.isfinite(value) and int(value) == value and value >= minimum
  if not ok:
    raise ValueError(f"{name} must be a whole number >= {minimum}, got {value!r}")
  return int(value)


def positive_reals(name: str, values) -> tuple:
  """``values`` as a non-empty tuple of finite floats > 0; ValueError naming ``name`` otherwise."""
  try:
    out = tuple(float(v) for v in values)
  except (TypeError, ValueError):
    out = ()
  if not out or not all(math.isfinite(v) and v > 0 for v in out):
    raise ValueError(f"{name} must be a non-empty list of finite numbers > 0, got {values!r}")
  return out


def discrete_spec(name: str, num_values: int):
  """A scalar int32 ``BoundedArraySpec`` taking values 0 .. num_values - 1."""
  # Imported here so that the MuJoCo renderer (which validates objects with this
  # module) runs where TensorFlow is not installed, e.g. a GPU box checking EGL.
  from tf_agents.specs import array_spec  # pylint: disable=g-import-not-at-top
  return array_spec.BoundedArraySpec((), np.int32, 0, num_values - 1, name=name)


def check_components(action, ranges: Mapping[str, int]):
  """InvalidActionError unless ``action`` is a mapping with exactly the components of ``ranges``."""
  if not isinstance(action, Mapping):
    raise InvalidActionError(
        f"an action must be a dict with components {list(ranges)}, got "
        f"{type(action).__name__}")
  for name, count in ranges.items():
    if name not in action:
      raise InvalidActionError(
          f"action component {name!r} is missing; it must be an integer in "
          f"[0, {count - 1}] (components: {list(ranges)})")
  unknown = set(action) - set(ranges)
  if unknown:
    raise InvalidActionError(
        f"unknown action component(s) {sorted(unknown)}; valid: {list(ranges)}")


def _invalid(name: str, value, count: int) -> InvalidActionError:
  return InvalidActionError(f"action component {name!r} = {value!r} is not valid; it must be "
                            f"an integer in [0, {count - 1}]")


def validate_action(action: Mapping, ranges: Mapping[str, int], batch_dims: int = 0) -> dict:
  """Checks every component of ``action`` against ``ranges`` (name -> count).

  ``batch_dims`` 0: one action (the environments), returned as a dict of
  Python ints; a whole float (2.0) counts as an integer. ``batch_dims`` n > 0:
  a batch of actions (the TF renderer), every component an integer array of
  n dimensions, all of one shape, returned as NumPy arrays. Raises
  InvalidActionError naming the component, its value and its valid range.
  """
  check_components(action, ranges)
  out = {}
  shape = None
  for name, count in ranges.items():
    value = action[name]
    if batch_dims == 0:
      try:
        as_int = int(value)
        ok = as_int == value and 0 <= as_int < count
      except (TypeError, ValueError, OverflowError):  # None, 'a', nan; inf overflows
        ok = False
      if not ok:
        raise _invalid(name, value, count)
      out[name] = as_int
      continue
    array = np.asarray(value)
    if array.ndim != batch_dims:
      raise InvalidActionError(
          f"action component {name!r} has shape {array.shape}; expected {batch_dims} "
          "dimension(s)")
    if array.size and (not np.issubdtype(array.dtype, np.integer)
                       or array.min() < 0 or array.max() >= count):
      bad = array.dtype  # not numbers at all, or whole floats
      if np.issubdtype(array.dtype, np.number):
        wrong = (array < 0) | (array >= count) | (array != np.floor(array))
        if wrong.any():
          bad = array.flat[np.flatnonzero(wrong)[0]].item()
      raise _invalid(name, bad, count)
    if shape is not None and array.shape != shape:
      raise InvalidActionError(
          f"action component {name!r} has shape {array.shape}; the others have {shape}")
    shape = array.shape
    out[name] = array
  return out


def grid_to_canvas(index: int, grid: int, canvas: int) -> Sequence[float]:
  """Flat grid index -> canvas point (y, x): (row, col) * canvas / grid."""
  row, col = divmod(index, grid)
  scale = canvas / grid
  return row * scale, col * scale


class TargetSource:
  """Where a conditional environment's targets come from.

  An image given with ``set_next`` is used for the next episode; otherwise one
  is drawn from ``targets`` (a list, cycled; any other iterable; or a
  callable returning an image). Every image is checked against ``shape``.
  """

  def __init__(self, targets, shape):
    self.shape = tuple(shape)
    self._next = None
    if targets is None or callable(targets):
      self._source = targets
    elif isinstance(targets, (list, tuple)):
      self._source = itertools.cycle(targets)
    else:
      self._source = iter(targets)

  def check(self, image) -> np.ndarray:
    """The image as float32 of ``shape`` (2-D grayscale gains its channel axis)."""
    image = np.asarray(image, np.float32)
    if image.ndim == 2 and len(self.shape) == 3 and self.shape[-1] == 1:
      image = image[..., None]
    if image.shape != self.shape:
      raise ValueError(f"target image has shape {image.shape}; expected {self.shape} "
                       "(float32 in [0, 1], the canvas' size and channels)")
    if not np.isfinite(image).all() or image.min() < 0.0 or image.max() > 1.0:
      raise ValueError("target image values must be finite and in [0, 1]")
    return image

  def set_next(self, image):
    """Uses ``image`` for the next episode."""
    self._next = self.check(image)

  def draw(self) -> np.ndarray:
    """The next episode's target."""
    if self._next is not None:
      image, self._next = self._next, None
      return image
    if self._source is None:
      raise ValueError("conditional environment has no target: pass targets= "
                       "or call set_next_target(image) before reset()")
    return self.check(self._source() if callable(self._source) else next(self._source))
