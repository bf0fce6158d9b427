"""Typed values for the config: type checks from annotations, range checks from field metadata.

``check_type(value, annotation, where)`` accepts a JSON value for an
annotation (an int is not a bool, a float is finite, a tuple is a list of its
element type) and returns it in that type; ``option(default, check)`` is a
dataclass field whose ``check`` (one of the small functions below, returning
None or what the value must be) ``check_field`` applies; ``unknown_key`` is
the error for a key that does not exist. Every problem is a ConfigError
naming the key.
"""
import collections.abc
import dataclasses
import difflib
import math
import re
import typing
from typing import Any


class ConfigError(ValueError):
  """A config file or override is malformed, out of range or names an unknown key."""


def unknown_key(key: str, valid, where: str) -> ConfigError:
  """The error for a key that is not in ``valid``, with a "did you mean" when one is close."""
  close = difflib.get_close_matches(str(key), list(valid), n=1)
  hint = f" (did you mean {close[0]!r}?)" if close else ""
  return ConfigError(f"unknown config key {where}{key!r}{hint}; valid keys: {sorted(valid)}")


# Range checks: each returns None or what the value must be.
def at_least(low):
  return lambda v: None if v >= low else f"must be >= {low}"


def positive(v):
  return None if v > 0 else "must be > 0"


def between(low, high):
  return lambda v: None if low <= v <= high else f"must be in [{low}, {high}]"


def one_of(*choices):
  return lambda v: None if v in choices else f"must be one of {list(choices)}"


def each(check, nonempty=True):
  """A check of every element of a tuple (or value of a dict)."""
  def each(values):
    items = list(values.values() if isinstance(values, dict) else values)
    if nonempty and not items:
      return "must not be empty"
    problem = next((p for p in map(check, items) if p), None)
    return problem and "values " + problem.replace("must ", "must each ", 1)
  return each


def strategy_name(v):
  return None if re.fullmatch(r"default|mirrored|multiworker|cpu:[1-9]\d*", v) else \
      "must be 'default', 'mirrored', 'multiworker' or 'cpu:N'"


def option(default, check=None):
  """A dataclass field with a range check in its metadata."""
  if isinstance(default, (dict, list)):
    return dataclasses.field(default_factory=lambda: type(default)(default),
                             metadata={"check": check})
  return dataclasses.field(default=default, metadata={"check": check})


def check_type(value, kind, where: str):
  """``value`` as the annotation ``kind`` says (lists become tuples, ints floats); ConfigError if not."""
  origin, args = typing.get_origin(kind), typing.get_args(kind)
  if kind is Any:
    return value
  if origin is typing.Union:  # Optional[X]
    if value is None and type(None) in args:
      return None
    return check_type(value, next(a for a in args if a is not type(None)), where)
  if kind is bool:
    if not isinstance(value, bool):
      raise ConfigError(f"{where} must be true or false, got {value!r}")
    return value
  if kind is int:
    if isinstance(value, bool) or not isinstance(value, int):
      raise ConfigError(f"{where} must be an integer, got {value!r}")
    return value
  if kind is float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
      raise ConfigError(f"{where} must be a number, got {value!r}")
    if not math.isfinite(value):
      raise ConfigError(f"{where} must be a finite number, got {value!r}")
    return float(value)
  if kind is str:
    if not isinstance(value, str):
      raise ConfigError(f"{where} must be a string, got {value!r}")
    return value
  if origin in (tuple, list, collections.abc.Sequence) or kind in (tuple, list):
    if not isinstance(value, (list, tuple)):
      raise ConfigError(f"{where} must be a list, got {value!r}")
    if args and args[-1] is not Ellipsis and len(args) != len(value):
      raise ConfigError(f"{where} must be a list of {len(args)} values, got {value!r}")
    element = lambda i: args[0] if len(args) == 1 or args[-1] is Ellipsis else args[i]
    return tuple(check_type(v, element(i), f"{where}[{i}]") if args else v
                 for i, v in enumerate(value))
  if origin in (dict, collections.abc.Mapping) or kind is dict:
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
      raise ConfigError(f"{where} must be an object with string keys, got {value!r}")
    return {k: check_type(v, args[1], f"{where}.{k}") if args else v for k, v in value.items()}
  return value  # an annotation we do not check (e.g. a class)


def check_field(section, field: dataclasses.Field, hints, where: str):
  value = check_type(getattr(section, field.name), hints[field.name], where)
  check = field.metadata.get("check")
  problem = check(value) if check and value is not None else None
  if problem:
    raise ConfigError(f"{where} {problem}, got {value!r}")
  setattr(section, field.name, value)
