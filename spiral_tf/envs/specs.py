"""Spec helpers shared by the rendering environments."""
from collections.abc import Mapping
from typing import Sequence

import numpy as np
from tf_agents.specs import array_spec


class InvalidActionError(ValueError):
  """An action is missing a component or has one outside its valid range."""


def discrete_spec(name: str, num_values: int) -> array_spec.BoundedArraySpec:
  """A scalar int32 spec taking values 0 .. num_values - 1."""
  return array_spec.BoundedArraySpec((), np.int32, 0, num_values - 1, name=name)


def validate_action(action: Mapping, ranges: Mapping[str, int]) -> dict:
  """Checks every component of ``action`` against ``ranges`` (name -> count).

  Returns the action as a dict of Python ints. Raises InvalidActionError
  naming the component and its valid range.
  """
  if not isinstance(action, Mapping):
    raise InvalidActionError(
        f"an action must be a dict with components {list(ranges)}, got "
        f"{type(action).__name__}")
  out = {}
  for name, count in ranges.items():
    if name not in action:
      raise InvalidActionError(
          f"action component {name!r} is missing; it must be an integer in "
          f"[0, {count - 1}] (components: {list(ranges)})")
    value = action[name]
    try:
      as_int = int(value)
      ok = as_int == value and 0 <= as_int < count
    except (TypeError, ValueError):
      ok = False
    if not ok:
      raise InvalidActionError(
          f"action component {name!r} = {value!r} is out of range; it must be "
          f"an integer in [0, {count - 1}]")
    out[name] = as_int
  unknown = set(action) - set(ranges)
  if unknown:
    raise InvalidActionError(
        f"unknown action component(s) {sorted(unknown)}; valid: {list(ranges)}")
  return out


def grid_to_canvas(index: int, grid: int, canvas: int) -> Sequence[float]:
  """Flat grid index -> canvas point (y, x): (row, col) * canvas / grid."""
  row, col = divmod(index, grid)
  scale = canvas / grid
  return row * scale, col * scale
