"""The one config mechanism: typed dataclasses filled from JSON files.

A config file (``configs/*.json``) holds the sections below plus optional
``profiles`` (e.g. ``cpu`` and ``paper``) whose values override the base;
``--set section.key=value`` overrides last. Unknown sections or keys raise
ConfigError naming the key and listing the valid ones. Only the entry points
in ``tools/`` read configs; library code takes typed arguments.
"""
import dataclasses
import difflib
import json
import os
from typing import Any, Dict, List, Optional, Tuple


class ConfigError(ValueError):
  """A config file or override is malformed or names an unknown key."""


@dataclasses.dataclass
class EnvConfig:
  """The rendering environment: 'libmypaint' painting or 'mujoco_scenes'."""
  domain: str = "libmypaint"
  canvas_size: int = 64               # canvas (or MuJoCo render) side in pixels
  grid_size: int = 32
  episode_length: int = 20
  brush: str = "classic/dry_brush"
  brush_sizes: Tuple[float, ...] = (1.0, 2.0, 4.0, 8.0, 12.0, 24.0)
  use_color: bool = False
  use_pressure: bool = True
  shadows: bool = False               # mujoco_scenes only


@dataclasses.dataclass
class DataConfig:
  """The data set of real images (targets when conditional)."""
  name: str = "synthetic"
  path: Optional[str] = None
  # Extra keyword arguments for the loader (e.g. synthetic num_images).
  options: Dict[str, Any] = dataclasses.field(default_factory=dict)
  eval_images: int = 64


@dataclasses.dataclass
class TrainConfig:
  """The training system: actors, learners, rewards, schedule."""
  conditional: bool = True
  reward: str = "l2"                 # 'l2' or 'critic'
  # Potential-based shaping of the l2 reward: per-step reward = score(c_t) -
  # score(c_{t-1}). The return telescopes to the final score minus the blank
  # canvas' score, so the optimum is unchanged, but credit reaches the step
  # that earned it. Not applied to the critic reward (it sees final renders only).
  shaped_reward: bool = True
  reward_scale: float = 1.0
  # 'running': divide the (scaled) reward by the running standard deviation
  # of episode returns; needed for the critic reward, whose scale is arbitrary.
  reward_normalization: str = "none"
  new_stroke_penalty: float = 0.0
  empty_canvas_penalty: float = 0.0
  color_emd_weight: float = 0.0
  batch_size: int = 64
  policy_learning_rate: float = 3e-4
  policy_max_grad_norm: float = 40.0
  discount: float = 1.0
  baseline_cost: float = 0.5
  entropy_cost: float = 0.01
  # Per-component overrides; the move/paint flag needs a larger bonus or the
  # agent collapses to never painting (DESIGN.md, "the trap").
  entropy_costs: Dict[str, float] = dataclasses.field(default_factory=lambda: {"flag": 0.2})
  critic_learning_rate: float = 1e-4
  critic_beta1: float = 0.5
  critic_updates_per_step: int = 1
  gradient_penalty_weight: float = 10.0
  centering_weight: float = 1e-3
  replay_batches: int = 20
  num_actors: int = 2
  envs_per_actor: int = 16
  weight_sync_interval: int = 1      # episodes between weight fetches
  max_actor_restarts: int = 10
  strategy: str = "default"          # 'default', 'mirrored', 'cpu:N' (N logical CPUs)
  max_steps: int = 0                 # agent steps (frames); 0 = no limit
  max_minutes: float = 30.0
  eval_every_minutes: float = 2.0
  checkpoint_every_minutes: float = 5.0
  summary_every_steps: int = 20
  learner_threads: int = 1
  actor_threads: int = 1
  seed: int = 0


@dataclasses.dataclass
class Config:
  """A whole experiment."""
  name: str = "experiment"
  env: EnvConfig = dataclasses.field(default_factory=EnvConfig)
  data: DataConfig = dataclasses.field(default_factory=DataConfig)
  # Keyword arguments of PolicyNetwork and Critic, checked against their signatures.
  policy: Dict[str, Any] = dataclasses.field(default_factory=dict)
  critic: Dict[str, Any] = dataclasses.field(default_factory=dict)
  train: TrainConfig = dataclasses.field(default_factory=TrainConfig)

  def to_dict(self) -> Dict[str, Any]:
    return dataclasses.asdict(self)


_SECTIONS = {"env": EnvConfig, "data": DataConfig, "train": TrainConfig}
_FREE_SECTIONS = ("policy", "critic")


def _unknown(key: str, valid, where: str) -> ConfigError:
  close = difflib.get_close_matches(key, list(valid), n=1)
  hint = f" (did you mean {close[0]!r}?)" if close else ""
  return ConfigError(f"unknown config key {where}{key!r}{hint}; valid keys: {sorted(valid)}")


def _coerce(value, default, where):
  """Casts JSON values to the type of the default (tuples, floats from ints)."""
  if isinstance(default, bool):
    if not isinstance(value, bool):
      raise ConfigError(f"{where} must be true or false, got {value!r}")
    return value
  if isinstance(default, tuple):
    return tuple(value)
  if isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
    return float(value)
  if isinstance(default, int) and not isinstance(value, int):
    raise ConfigError(f"{where} must be an integer, got {value!r}")
  return value


def _merge_section(obj, values: Dict[str, Any], section: str):
  fields = {f.name: f for f in dataclasses.fields(obj)}
  for key, value in values.items():
    if key not in fields:
      raise _unknown(key, fields, f"{section}.")
    setattr(obj, key, _coerce(value, getattr(obj, key), f"{section}.{key}"))


def apply(config: Config, values: Dict[str, Any]) -> Config:
  """Merges a nested dict of values into ``config`` (in place) and returns it."""
  for key, value in values.items():
    if key == "name":
      config.name = str(value)
    elif key in _SECTIONS:
      if not isinstance(value, dict):
        raise ConfigError(f"config section {key!r} must be an object")
      _merge_section(getattr(config, key), value, key)
    elif key in _FREE_SECTIONS:
      getattr(config, key).update(value)
    elif key not in ("profiles", "description"):
      raise _unknown(key, ["name", "description", "profiles", *_SECTIONS, *_FREE_SECTIONS], "")
  return config


def parse_override(text: str) -> Dict[str, Any]:
  """'train.batch_size=32' -> {'train': {'batch_size': 32}} (value parsed as JSON)."""
  if "=" not in text or "." not in text.split("=", 1)[0]:
    raise ConfigError(f"override {text!r} must look like section.key=value")
  path, raw = text.split("=", 1)
  try:
    value = json.loads(raw)
  except json.JSONDecodeError:
    value = raw  # a bare string
  out: Dict[str, Any] = {}
  node = out
  keys = path.split(".")
  for k in keys[:-1]:
    node = node.setdefault(k, {})
  node[keys[-1]] = value
  return out


def load(path: str, profile: Optional[str] = "cpu", overrides: List[str] = ()) -> Config:
  """Reads a config file, applies a profile and ``section.key=value`` overrides."""
  if not os.path.isfile(path):
    raise ConfigError(f"config file {path!r} does not exist; see configs/ for examples")
  try:
    with open(path) as f:
      raw = json.load(f)
  except json.JSONDecodeError as e:
    raise ConfigError(f"config file {path!r} is not valid JSON: {e}") from e
  config = apply(Config(), raw)
  profiles = raw.get("profiles", {})
  if profile:
    if profile not in profiles:
      raise ConfigError(f"config {path!r} has no profile {profile!r}; it has {sorted(profiles)}")
    apply(config, profiles[profile])
  for text in overrides:
    apply(config, parse_override(text))
  validate(config)
  return config


def validate(config: Config):
  """Checks values that would otherwise fail deep inside training."""
  t = config.train
  if config.env.domain not in ("libmypaint", "mujoco_scenes"):
    raise ConfigError(f"env.domain must be 'libmypaint' or 'mujoco_scenes', got "
                      f"{config.env.domain!r}")
  if t.reward not in ("l2", "critic"):
    raise ConfigError(f"train.reward must be 'l2' or 'critic', got {t.reward!r}")
  if t.reward_normalization not in ("none", "running"):
    raise ConfigError(f"train.reward_normalization must be 'none' or 'running', got "
                      f"{t.reward_normalization!r}")
  if t.reward == "l2" and not t.conditional:
    raise ConfigError("train.reward 'l2' needs a target: set train.conditional true")
  for name, value in (("batch_size", t.batch_size), ("num_actors", t.num_actors),
                      ("envs_per_actor", t.envs_per_actor)):
    if value < 1:
      raise ConfigError(f"train.{name} must be >= 1, got {value}")


def from_dict(values: Dict[str, Any]) -> Config:
  """Rebuilds a Config saved with to_dict (e.g. from a run folder's config.json)."""
  return apply(Config(), values)
