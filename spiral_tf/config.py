"""The one config mechanism: typed dataclasses filled from JSON files.

A config file (``configs/*.json``) holds the sections of
``config_sections.Config`` plus optional ``profiles`` (e.g. ``cpu`` and
``paper``) whose values override the base; ``--set section.key=value``
overrides last. Only the entry points in ``tools/`` read configs; library
code takes typed arguments.

Layers, applied in order: the defaults, the file's sections, its profile,
then every ``--set`` together (one layer, later ones winning). A value
replaces the one beneath it; a dict value (``data.options``,
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
"did you mean", and a key of an earlier version (``RENAMED``) names the key
that replaced it. A run folder's saved config.json is the exception: read
with ``load_saved`` (or ``from_dict``), its old keys are moved to their new
places, so runs trained before a rename still evaluate and resume.
``policy`` and ``critic`` are the keyword arguments of ``PolicyNetwork`` and
``Critic``; ``section_kwargs(cfg.policy)`` (or ``**cfg.policy``) gives them
as a dict.
"""
import copy
import dataclasses
import difflib
import json
import os
import typing
from typing import Any, Dict, List, Optional

from spiral_tf import config_checks as checks
from spiral_tf.config_checks import ConfigError  # noqa: F401  (public here)
# The sections are public here too (config_lib.Config, config_lib.PolicyConfig, ...).
from spiral_tf.config_sections import BUILDER_ARGUMENTS, SECTIONS, Config  # noqa: F401
from spiral_tf.config_sections import ActorsConfig, CriticConfig, DataConfig  # noqa: F401
from spiral_tf.config_sections import CriticTrainingConfig, EnvConfig, PolicyConfig  # noqa: F401
from spiral_tf.config_sections import RewardConfig, TrainConfig, section_kwargs  # noqa: F401

_TOP_LEVEL = ["name", "description", "profiles", *SECTIONS]

# Keys of earlier versions, (section, key) -> (section, key) today. A config
# file or --set using one is refused, naming its new place; a run folder's
# saved config.json is translated (``migrate``).
RENAMED = {
    # A key names its unit: agent steps (frames) or learner updates.
    ("train", "max_steps"): ("train", "max_agent_steps"),
    ("train", "summary_every_steps"): ("train", "summary_every_updates"),
    ("train", "reward"): ("reward", "kind"),
    ("train", "shaped_reward"): ("reward", "shaped"),
    ("train", "reward_scale"): ("reward", "scale"),
    ("train", "reward_normalization"): ("reward", "normalization"),
    ("train", "new_stroke_penalty"): ("reward", "new_stroke_penalty"),
    ("train", "empty_canvas_penalty"): ("reward", "empty_canvas_penalty"),
    ("train", "color_emd_weight"): ("reward", "color_emd_weight"),
    ("train", "critic_learning_rate"): ("critic_training", "learning_rate"),
    ("train", "critic_beta1"): ("critic_training", "beta1"),
    ("train", "critic_updates_per_step"): ("critic_training", "updates_per_learner_update"),
    ("train", "critic_loss"): ("critic_training", "loss"),
    ("train", "critic_input"): ("critic_training", "input"),
    ("train", "critic_fakes"): ("critic_training", "fakes"),
    ("train", "critic_warmup_steps"): ("critic_training", "warmup_updates"),
    ("train", "critic_reward_polyak"): ("critic_training", "reward_polyak"),
    ("train", "gradient_penalty_weight"): ("critic_training", "gradient_penalty_weight"),
    ("train", "centering_weight"): ("critic_training", "centering_weight"),
    ("train", "replay_batches"): ("critic_training", "replay_batches"),
    ("train", "num_actors"): ("actors", "count"),
    ("train", "envs_per_actor"): ("actors", "envs_per_actor"),
    ("train", "weight_sync_interval"): ("actors", "weight_sync_every_episodes"),
    ("train", "max_actor_restarts"): ("actors", "max_restarts"),
    ("train", "actor_threads"): ("actors", "threads"),
}


def _renamed_error(section: str, key: str) -> ConfigError:
  """The one-line error for a key of an earlier version: where it is now."""
  new_section, new_key = RENAMED[section, key]
  verb = "was renamed" if new_section == section else "moved to"
  return ConfigError(f"{section}.{key} {verb} {new_section}.{new_key}")


def _merge_section(obj, values: Dict[str, Any], section: str):
  fields = {f.name: f for f in dataclasses.fields(obj)}
  hints = typing.get_type_hints(type(obj))
  for key, value in values.items():
    if key not in fields:
      if (section, key) in RENAMED:
        raise _renamed_error(section, key)
      raise checks.unknown_key(key, fields, f"{section}.")
    setattr(obj, key, value)
    checks.check_field(obj, fields[key], hints, f"{section}.{key}")


def apply(config: Config, values: Dict[str, Any]) -> Config:
  """Merges one layer, a nested dict of values, into ``config`` (in place) and returns it."""
  if not isinstance(values, dict):
    raise ConfigError(f"a config must be a JSON object, got {values!r}")
  for key, value in values.items():
    if key == "name":
      config.name = checks.check_type(value, str, "name")
    elif key in SECTIONS:
      if not isinstance(value, dict):
        raise ConfigError(f"config section {key!r} must be an object, got {value!r}")
      if key == "data" and "name" in value and value["name"] != config.data.name:
        # Another data set: the old one's options and path do not apply (module doc).
        config.data.options = value.get("options", {})
        config.data.path = value.get("path")
      _merge_section(getattr(config, key), value, key)
    elif key not in ("profiles", "description"):
      raise checks.unknown_key(key, _TOP_LEVEL, "")
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
      raise checks.unknown_key(key, accepted, f"data.options (of the {data.name!r} loader) ")
    data.options[key] = checks.check_type(value, accepted[key], f"data.options.{key}")


def _power_of_two_times(size: int, base: int) -> bool:
  """Whether ``size`` is ``base`` times 1, 2, 4, 8, ..."""
  factor = size // base if base > 0 else 0
  return factor >= 1 and factor * base == size and not factor & (factor - 1)


def validate(config: Config):
  """Checks every value's type and range, and the rules across sections."""
  checks.check_type(config.name, str, "name")
  for name, cls in SECTIONS.items():
    section = getattr(config, name)
    if not isinstance(section, cls):
      raise ConfigError(f"config section {name!r} must be a {cls.__name__}, got "
                        f"{type(section).__name__}")
    hints = typing.get_type_hints(cls)
    for field in dataclasses.fields(section):
      checks.check_field(section, field, hints, f"{name}.{field.name}")
  e, p = config.env, config.policy
  if e.domain == "libmypaint" and e.grid_size > e.canvas_size:
    raise ConfigError(f"env.grid_size ({e.grid_size}) must be <= env.canvas_size "
                      f"({e.canvas_size}): a grid cell is at least one pixel")
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
  if config.actors.engine == "ray" and e.renderer == "tf":
    raise ConfigError("env.renderer 'tf' plays the episodes in the learner's process, so there "
                      "are no actors for actors.engine 'ray'; set env.renderer 'libmypaint'")
  if config.train.strategy == "multiworker" and config.train.collapse_guard:
    raise ConfigError("train.collapse_guard puts back an earlier state on one learner worker, "
                      "which train.strategy 'multiworker' cannot keep in step: turn one off")
  if config.reward.kind == "l2" and not config.train.conditional:
    raise ConfigError("reward.kind 'l2' needs a target: set train.conditional true")
  if config.critic_training.input == "complement" and not config.train.conditional:
    raise ConfigError("critic_training.input 'complement' needs a target: it is for conditional "
                      "critics (set train.conditional true or critic_training.input 'pair')")
  _check_data_options(config.data)


def migrate(values: Dict[str, Any]) -> Dict[str, Any]:
  """A copy of a saved config with the keys of earlier versions (RENAMED) in their new places."""
  values = copy.deepcopy(values)
  if not isinstance(values, dict):
    return values  # apply names the problem
  for (section, key), (new_section, new_key) in RENAMED.items():
    old = values.get(section)
    if isinstance(old, dict) and key in old:
      value = old.pop(key)
      new = values.setdefault(new_section, {})
      if isinstance(new, dict):
        new.setdefault(new_key, value)
  return values


def from_dict(values: Dict[str, Any]) -> Config:
  """Rebuilds a Config saved with to_dict, by this version or an earlier one; validated.

  For configs the project wrote (a run folder's config.json): keys of earlier
  versions are translated, where a config file or --set would be refused.
  """
  config = apply(Config(), migrate(values))
  validate(config)
  return config


def load_saved(path: str) -> Config:
  """A run folder's config.json (see from_dict); a damaged file is a ConfigError saying so."""
  try:
    with open(path) as f:
      values = json.load(f)
  except (json.JSONDecodeError, UnicodeDecodeError) as e:
    raise ConfigError(
        f"{path} is damaged: it is not valid JSON ({e}). Restore it from a copy, or from the "
        "\"config\" entry of the run's metrics.json, which holds the same config") from e
  return from_dict(values)
