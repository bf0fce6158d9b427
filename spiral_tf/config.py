"""The one config mechanism: typed dataclasses filled from JSON files.

A config file (``configs/*.json``) holds the sections below plus optional
``profiles`` (e.g. ``cpu`` and ``paper``) whose values override the base;
``--set section.key=value`` overrides last. Only the entry points in
``tools/`` read configs; library code takes typed arguments.

Layers, applied in order: the defaults below, the file's sections, its
profile, then every ``--set`` together (one layer, later ones winning). A
value replaces the one beneath it; a dict value (``data.options``,
``train.entropy_costs``) replaces the whole dict, while
``--set data.options.num_images=10`` changes one entry and keeps the others.

Changing data set: a layer that sets ``data.name`` to another data set and
does not set ``data.options`` (or ``data.path``) itself resets them to ``{}``
(or ``None``): options and paths belong to one loader, so
``--set data.name=mnist`` on a synthetic config does not hand ``num_images``
to the MNIST loader. Set them in the same layer to keep them.

Every value is checked when the config loads (``load``, ``from_dict``,
``validate``): its type (from the annotation: an int is not a bool, a float
is finite, a tuple is a list of its element type), its range (field
metadata), and ``data.options`` against the options the chosen loader
accepts. Every problem is a ConfigError naming the key; unknown keys get a
"did you mean". ``policy`` and ``critic`` are the keyword arguments of
``PolicyNetwork`` and ``Critic``; ``section_kwargs(cfg.policy)`` (or
``**cfg.policy``) gives them as a dict.
"""
import collections.abc
import dataclasses
import difflib
import json
import os
import typing
from typing import Any, Dict, List, Optional, Tuple

from spiral_tf import config_checks as checks
from spiral_tf.config_checks import ConfigError  # noqa: F401  (public here)
from spiral_tf.config_checks import at_least, between, each, one_of, option, positive, \
    strategy_name


@dataclasses.dataclass
class EnvConfig:
  """The rendering environment: 'libmypaint' painting or 'mujoco_scenes'."""
  domain: str = option("libmypaint", one_of("libmypaint", "mujoco_scenes"))
  canvas_size: int = option(64, at_least(2))  # canvas (or MuJoCo render) side in pixels
  grid_size: int = option(32, at_least(2))
  episode_length: int = option(20, at_least(1))
  brush: str = option("classic/dry_brush", lambda v: None if v else "must not be empty")
  brush_sizes: Tuple[float, ...] = option((1.0, 2.0, 4.0, 8.0, 12.0, 24.0), each(positive))
  use_color: bool = False
  use_pressure: bool = True
  shadows: bool = False               # mujoco_scenes only
  # Who paints training episodes: actor processes with libmypaint, or the
  # in-graph actor with the TF renderer (libmypaint only; evaluation always
  # paints with libmypaint).
  renderer: str = option("libmypaint", one_of("libmypaint", "tf"))


@dataclasses.dataclass
class DataConfig:
  """The data set of real images (targets when conditional)."""
  name: str = "synthetic"             # checked against spiral_tf.data.LOADERS or 'tfds:<name>'
  path: Optional[str] = None
  # Extra keyword arguments of the loader (e.g. synthetic num_images), checked
  # against spiral_tf.data.loader_options(name).
  options: Dict[str, Any] = option({})
  eval_images: int = option(64, at_least(1))


class _KeywordSection(collections.abc.Mapping):
  """A section that is also a constructor's keyword arguments: ``Cls(**cfg.policy)``."""

  def __getitem__(self, key):
    if key not in self.keys():
      raise KeyError(key)
    return getattr(self, key)

  def __setitem__(self, key, value):
    if key not in self.keys():
      raise _unknown(key, self.keys(), f"{self.SECTION}.")
    setattr(self, key, value)

  def __iter__(self):
    return iter(self.keys())

  def __len__(self):
    return len(self.keys())

  def keys(self):
    return [f.name for f in dataclasses.fields(self)]


# Keyword-only arguments of the constructors that the builder fills itself (from
# the environment's rules or train.conditional), so they are not config keys.
BUILDER_ARGUMENTS = {"policy": ("name", "spatial_components"),
                     "critic": ("name", "conditional")}


@dataclasses.dataclass(eq=True)
class PolicyConfig(_KeywordSection):
  """Keyword arguments of agents.policy.PolicyNetwork but BUILDER_ARGUMENTS (same defaults)."""
  SECTION = "policy"
  conv_channels: int = option(32, at_least(1))
  num_residual_blocks: int = option(8, at_least(0))
  residual_channels: int = option(32, at_least(1))
  encoder_output_size: int = option(8, at_least(1))
  embed_dim: int = option(16, at_least(1))
  conditioning_hidden: Tuple[int, ...] = option((64, 32), each(positive, nonempty=False))
  noise_dim: int = option(10, at_least(0))
  torso_size: int = option(256, at_least(1))
  core_size: int = option(256, at_least(1))
  head_mlp_hidden: Tuple[int, ...] = option((16, 32), each(positive, nonempty=False))
  spatial_head: str = option("conv", one_of("conv", "dense"))
  decoder_channels: int = option(32, at_least(1))
  decoder_residual_blocks: int = option(8, at_least(0))
  # Each action head reads its latent layer-normalised, so that no weight of
  # an earlier head sets the temperature of the later ones (docs/design.md,
  # "Stability"; on in the MNIST critic config).
  heads_layer_norm: bool = False
  blind: bool = False
  # Where the unconditional agent's noise enters: 'torso' (the paper), 'core', 'heads'.
  noise_inputs: Tuple[str, ...] = option(("torso",), each(one_of("torso", "core", "heads")))


@dataclasses.dataclass(eq=True)
class CriticConfig(_KeywordSection):
  """Keyword arguments of agents.critic.Critic but BUILDER_ARGUMENTS (same defaults)."""
  SECTION = "critic"
  channels: Tuple[int, ...] = option((64, 128, 256, 512), each(positive))
  leaky_slope: float = option(0.2, at_least(0.0))
  layer_norm: bool = False
  spectral_norm: bool = False


@dataclasses.dataclass
class TrainConfig:
  """The training system: actors, learners, rewards, schedule."""
  conditional: bool = True
  reward: str = option("l2", one_of("l2", "critic"))
  # Potential-based shaping of the l2 reward: per-step reward = score(c_t) -
  # score(c_{t-1}). The return telescopes to the final score minus the blank
  # canvas' score, so the optimum is unchanged, but credit reaches the step
  # that earned it. Applied to the critic reward only when the critic also
  # trains on intermediate canvases (critic_fakes), else its scores of
  # half-painted canvases mean nothing.
  shaped_reward: bool = True
  reward_scale: float = option(1.0, positive)
  # 'running': divide the (scaled) reward by the running standard deviation
  # of episode returns; needed for the critic reward, whose scale is arbitrary.
  reward_normalization: str = option("none", one_of("none", "running"))
  new_stroke_penalty: float = option(0.0, at_least(0.0))
  empty_canvas_penalty: float = option(0.0, at_least(0.0))
  color_emd_weight: float = option(0.0, at_least(0.0))
  batch_size: int = option(64, at_least(1))
  policy_learning_rate: float = option(3e-4, positive)
  policy_max_grad_norm: float = option(40.0, positive)
  discount: float = option(1.0, between(0.0, 1.0))
  baseline_cost: float = option(0.5, at_least(0.0))
  entropy_cost: float = option(0.01, at_least(0.0))
  # Per-component overrides; the move/paint flag needs a larger bonus or the
  # agent collapses to never painting (docs/design.md, "The never-paint trap"). Component names
  # depend on the environment, so the builder checks them.
  entropy_costs: Dict[str, float] = option({"flag": 0.2}, each(at_least(0.0), nonempty=False))
  critic_learning_rate: float = option(1e-4, positive)
  critic_beta1: float = option(0.5, between(0.0, 0.999))
  critic_updates_per_step: int = option(1, at_least(1))
  # How the critic is trained: 'wgan_gp' (the paper: WGAN-GP with the
  # centering term) or 'non_saturating' (SPIRAL++: the non-saturating GAN
  # loss, usually with critic.spectral_norm).
  critic_loss: str = option("wgan_gp", one_of("wgan_gp", "non_saturating"))
  # What the conditional critic sees: 'pair' (render, target) or
  # 'complement' (SPIRAL++ 2.3: one random half of the target beside the
  # other half of the render, so it cannot compare them pixel by pixel).
  critic_input: str = option("pair", one_of("pair", "complement"))
  # Which canvases the critic sees as fakes: 'final' renders (the paper,
  # section 3.4), 'final_and_random' (plus one random earlier canvas of each
  # episode, blank included) or 'all' (every canvas of the episode).
  critic_fakes: str = option("final", one_of("final", "final_and_random", "all"))
  # Learner updates at the start during which only the critic trains (the
  # policy acts but is not updated), so its first rewards are not noise.
  critic_warmup_steps: int = option(0, at_least(0))
  # 0: rewards from the live critic; tau > 0: from a slow copy, updated
  # copy <- (1 - tau) copy + tau critic after each critic update
  # (LearningToPaint: tau = 1e-3).
  critic_reward_polyak: float = option(0.0, between(0.0, 1.0))
  gradient_penalty_weight: float = option(10.0, at_least(0.0))
  centering_weight: float = option(1e-3, at_least(0.0))
  replay_batches: int = option(20, at_least(1))
  num_actors: int = option(2, at_least(1))
  envs_per_actor: int = option(16, at_least(1))
  weight_sync_interval: int = option(1, at_least(1))  # episodes between weight fetches
  max_actor_restarts: int = option(10, at_least(0))
  strategy: str = option("default", strategy_name)  # 'default', 'mirrored', 'cpu:N' (N CPUs)
  max_steps: int = option(0, at_least(0))     # agent steps (frames); 0 = no limit
  max_minutes: float = option(30.0, at_least(0.0))  # 0 = no limit
  eval_every_minutes: float = option(2.0, at_least(0.0))
  checkpoint_every_minutes: float = option(5.0, at_least(0.0))
  summary_every_steps: int = option(20, at_least(1))
  learner_threads: int = option(1, at_least(0))  # 0 = TensorFlow's default
  actor_threads: int = option(1, at_least(0))
  seed: int = option(0, at_least(0))
  # A run folder whose newest policy weights start this run (transfer, e.g.
  # an MNIST agent fine-tuned on Omniglot). Used only when the run starts
  # from step 0; the optimiser, critic and counters start fresh. The two
  # runs need the same policy.* and action space.
  init_policy_from: str = ""
  # When an evaluation finds the greedy policy painting nothing after it has
  # painted, put back the learners' state of the last evaluation at which it
  # painted and go on with a new seed (training/collapse_guard.py); each
  # restore is listed in metrics.json.
  collapse_guard: bool = False


@dataclasses.dataclass
class Config:
  """A whole experiment."""
  name: str = "experiment"
  env: EnvConfig = dataclasses.field(default_factory=EnvConfig)
  data: DataConfig = dataclasses.field(default_factory=DataConfig)
  policy: PolicyConfig = dataclasses.field(default_factory=PolicyConfig)
  critic: CriticConfig = dataclasses.field(default_factory=CriticConfig)
  train: TrainConfig = dataclasses.field(default_factory=TrainConfig)

  def to_dict(self) -> Dict[str, Any]:
    return dataclasses.asdict(self)


_SECTIONS = {"env": EnvConfig, "data": DataConfig, "policy": PolicyConfig,
             "critic": CriticConfig, "train": TrainConfig}
_TOP_LEVEL = ["name", "description", "profiles", *_SECTIONS]


def section_kwargs(section) -> Dict[str, Any]:
  """A section's values as a dict of keyword arguments (e.g. ``PolicyNetwork(**...)``)."""
  return {f.name: getattr(section, f.name) for f in dataclasses.fields(section)}


def _unknown(key: str, valid, where: str) -> ConfigError:
  close = difflib.get_close_matches(str(key), list(valid), n=1)
  hint = f" (did you mean {close[0]!r}?)" if close else ""
  return ConfigError(f"unknown config key {where}{key!r}{hint}; valid keys: {sorted(valid)}")


def _merge_section(obj, values: Dict[str, Any], section: str):
  fields = {f.name: f for f in dataclasses.fields(obj)}
  hints = typing.get_type_hints(type(obj))
  for key, value in values.items():
    if key not in fields:
      raise _unknown(key, fields, f"{section}.")
    setattr(obj, key, value)
    checks.check_field(obj, fields[key], hints, f"{section}.{key}")


def apply(config: Config, values: Dict[str, Any]) -> Config:
  """Merges one layer, a nested dict of values, into ``config`` (in place) and returns it."""
  if not isinstance(values, dict):
    raise ConfigError(f"a config must be a JSON object, got {values!r}")
  for key, value in values.items():
    if key == "name":
      config.name = checks.check_type(value, str, "name")
    elif key in _SECTIONS:
      if not isinstance(value, dict):
        raise ConfigError(f"config section {key!r} must be an object, got {value!r}")
      if key == "data" and "name" in value and value["name"] != config.data.name:
        # Another data set: the old one's options and path do not apply (module doc).
        config.data.options = value.get("options", {})
        config.data.path = value.get("path")
      _merge_section(getattr(config, key), value, key)
    elif key not in ("profiles", "description"):
      raise _unknown(key, _TOP_LEVEL, "")
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


def _deep_merge(into: Dict[str, Any], values: Dict[str, Any]) -> Dict[str, Any]:
  for key, value in values.items():
    if isinstance(value, dict) and isinstance(into.get(key), dict):
      _deep_merge(into[key], value)
    else:
      into[key] = value
  return into


def _folder_given(path: str) -> ConfigError:
  """The error for a folder given as the config: it names the JSON files it holds."""
  names = sorted(n for n in os.listdir(path) if n.endswith(".json"))
  if not names:
    return ConfigError(f"config {path!r} is a folder and holds no .json file; give a config "
                       "JSON file, e.g. configs/default.json")
  shown = ", ".join(os.path.join(path, n) for n in names[:5]) + (", ..." if len(names) > 5 else "")
  return ConfigError(f"config {path!r} is a folder; give one of its JSON files: {shown}")


def load(path: str, profile: Optional[str] = "cpu", overrides: List[str] = ()) -> Config:
  """Reads a config file, applies a profile and ``section.key=value`` overrides."""
  if os.path.isdir(path):
    raise _folder_given(path)
  if not os.path.isfile(path):
    raise ConfigError(f"config file {path!r} does not exist; see configs/ for examples")
  try:
    with open(path) as f:
      raw = json.load(f)
  except (json.JSONDecodeError, UnicodeDecodeError) as e:
    raise ConfigError(f"config file {path!r} is not valid JSON: {e}") from e
  config = apply(Config(), raw)
  profiles = raw.get("profiles", {})
  if not isinstance(profiles, dict):
    raise ConfigError(f"config {path!r}: 'profiles' must be an object of profiles")
  if profile:
    if profile not in profiles:
      raise ConfigError(f"config {path!r} has no profile {profile!r}; it has {sorted(profiles)}")
    apply(config, profiles[profile])
  layer: Dict[str, Any] = {}
  deep = set()  # (section, key) of overrides such as data.options.num_images=10
  for text in overrides:
    override = parse_override(text)
    _deep_merge(layer, override)
    section, = override
    if isinstance(override[section], dict) and len(text.split("=", 1)[0].split(".")) > 2:
      deep.add((section, next(iter(override[section]))))
  for section, key in deep:  # one entry of a dict: the rest of the dict stays
    current = getattr(getattr(config, section, None), key, None)
    new_data_set = section == "data" and layer["data"].get("name", config.data.name) != \
        config.data.name
    if isinstance(current, dict) and not new_data_set:
      layer[section][key] = _deep_merge(json.loads(json.dumps(current)), layer[section][key])
  apply(config, layer)
  validate(config)
  return config


def _check_data_options(data: DataConfig):
  """data.name is a loader and data.options are among the options it accepts."""
  from spiral_tf import data as data_lib  # pylint: disable=g-import-not-at-top  (TensorFlow)
  try:
    accepted = data_lib.loader_options(data.name)
  except ValueError as e:
    names = list(data_lib.LOADERS)
    close = difflib.get_close_matches(data.name, names, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise ConfigError(f"data.name {data.name!r} is not a data set{hint}; valid: "
                      f"{sorted(names)} or 'tfds:<name>'") from e
  for key, value in data.options.items():
    if key not in accepted:
      raise _unknown(key, accepted, f"data.options (of the {data.name!r} loader) ")
    data.options[key] = checks.check_type(value, accepted[key], f"data.options.{key}")


def _power_of_two_times(size: int, base: int) -> bool:
  """Whether ``size`` is ``base`` times 1, 2, 4, 8, ..."""
  factor = size // base if base > 0 else 0
  return factor >= 1 and factor * base == size and not factor & (factor - 1)


def validate(config: Config):
  """Checks every value's type and range, and the rules across sections."""
  checks.check_type(config.name, str, "name")
  for name, cls in _SECTIONS.items():
    section = getattr(config, name)
    if not isinstance(section, cls):
      raise ConfigError(f"config section {name!r} must be a {cls.__name__}, got "
                        f"{type(section).__name__}")
    hints = typing.get_type_hints(cls)
    for field in dataclasses.fields(section):
      checks.check_field(section, field, hints, f"{name}.{field.name}")
  e, t = config.env, config.train
  if e.domain == "libmypaint" and e.grid_size > e.canvas_size:
    raise ConfigError(f"env.grid_size ({e.grid_size}) must be <= env.canvas_size "
                      f"({e.canvas_size}): a grid cell is at least one pixel")
  p = config.policy
  if not _power_of_two_times(e.canvas_size, p.encoder_output_size):
    raise ConfigError(f"env.canvas_size ({e.canvas_size}) must be policy.encoder_output_size "
                      f"({p.encoder_output_size}) times a power of two (the encoder halves it), "
                      f"e.g. {p.encoder_output_size * 4}")
  if e.domain == "libmypaint" and p.spatial_head == "conv" and not _power_of_two_times(
      e.grid_size, 4):
    raise ConfigError(f"env.grid_size ({e.grid_size}) must be 4 times a power of two for "
                      "policy.spatial_head 'conv' (its decoder doubles a 4x4 map), or set "
                      "policy.spatial_head 'dense'")
  if e.renderer == "tf" and e.domain != "libmypaint":
    raise ConfigError(f"env.renderer 'tf' paints strokes: it needs env.domain 'libmypaint', "
                      f"not {e.domain!r}")
  if t.reward == "l2" and not t.conditional:
    raise ConfigError("train.reward 'l2' needs a target: set train.conditional true")
  if t.critic_input == "complement" and not t.conditional:
    raise ConfigError("train.critic_input 'complement' needs a target: it is for conditional "
                      "critics (set train.conditional true or critic_input 'pair')")
  _check_data_options(config.data)


def from_dict(values: Dict[str, Any]) -> Config:
  """Rebuilds a Config saved with to_dict (e.g. from a run folder's config.json); validated."""
  config = apply(Config(), values)
  validate(config)
  return config

