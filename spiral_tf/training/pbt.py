"""Population-based training (Jaderberg et al., 2017): members, rounds, exploit and explore.

  tools/pbt.py --population N: N members, each an ordinary run folder RUN/members/member-KK
  a round:  each member trains to the round's end (pbt.interval_minutes of training
            minutes, or pbt.interval_agent_steps), is measured on the validation images
            (training/pbt_fitness.py: held-out l2 over the blank canvas' l2, or for
            unconditional MNIST a digit classifier's Fréchet distance over the random
            policy's; lower is better) and reports to Ray Tune's PopulationBasedTraining
  exploit:  a member of the bottom pbt.quantile_fraction copies the WHOLE checkpoint of a
            member of the top one (policy, critic, optimisers, counters, render replay)
            into its own folder; no member ever trains in another's folder
  explore:  its values of the keys pbt.explore declares, and of no other, are resampled or
            scaled by a perturbation factor, then clipped into their ranges

``train_member`` is the Tune function trainable (tools/pbt.py wires the Tuner);
Ray and TensorFlow are imported only once it runs, TensorFlow after it has
hidden the GPUs, so the config checks and ``explore`` need neither. A member's
``pbt_member.json`` (the round it trains, the member it copied, its values
and, once done, its result) is what a new run of tools/pbt.py resumes from.
"""
import copy
import dataclasses
import difflib
import json
import math
import os
import shutil
import tempfile
import typing
from typing import Callable, Dict, NamedTuple, Optional

import numpy as np

from spiral_tf import config as config_lib
from spiral_tf import files
from spiral_tf.config_sections import PbtConfig
from spiral_tf.training import pbt_fitness
from spiral_tf.training import shared_critic
from spiral_tf.training.pbt_fitness import FITNESS

STATE_NAME = "pbt_member.json"
# A member's result of one round: what it reports to Tune and pbt.json keeps
# (the numbers of the other kind of config are None).
RESULT_KEYS = (("member", "round", "parent", "values", "agent_steps", "learner_updates",
                "training_minutes", FITNESS, "shared_critic_updates")
               + pbt_fitness.CONDITIONAL_KEYS + pbt_fitness.UNCONDITIONAL_KEYS)


class Rounds(NamedTuple):
  """When the population's rounds end: every ``interval`` of ``unit``, up to ``budget``."""
  unit: str          # 'minutes' (training minutes, resumes included) or 'agent_steps'
  interval: float
  budget: float      # train.max_minutes or train.max_agent_steps
  count: int

  def end(self, number: int) -> float:
    """Where round ``number`` (from 1) ends."""
    return min(number * self.interval, self.budget)


def rounds(cfg: config_lib.Config) -> Rounds:
  """The rounds of the config; ConfigError when it sets no budget to divide."""
  unit = "agent_steps" if cfg.pbt.interval_agent_steps else "minutes"
  interval = getattr(cfg.pbt, f"interval_{unit}")
  budget = getattr(cfg.train, f"max_{unit}")
  if not budget:
    raise config_lib.ConfigError(f"train.max_{unit} is 0 (no limit), so the population would "
                                 f"never end: set the training each member gets, in rounds of "
                                 f"pbt.interval_{unit}")
  return Rounds(unit, interval, budget, math.ceil(budget / interval - 1e-9))


def numeric_keys(cfg: config_lib.Config) -> Dict[str, type]:
  """Every pbt.explore key -> its type (int or float); ConfigError naming a key that is neither."""
  known = {f"{s}.{f.name}": typing.get_type_hints(type(getattr(cfg, s)))[f.name]
           for s in config_lib.SECTIONS for f in dataclasses.fields(getattr(cfg, s))}
  out = {}
  for key in cfg.pbt.explore:
    if key not in known:
      close = difflib.get_close_matches(key, list(known), n=1)
      hint = f" (did you mean {close[0]!r}?)" if close else ""
      raise config_lib.ConfigError(f"pbt.explore names {key!r}, which is not a config key{hint}")
    kind = known[key]
    if kind not in (int, float):
      raise config_lib.ConfigError(f"pbt.explore names {key}, which is not a number "
                                   f"({config_value(cfg, key)!r}): only numbers can be explored")
    out[key] = kind
  return out


def config_value(cfg: config_lib.Config, key: str):
  """The value of a dotted key ('train.entropy_cost')."""
  section, name = key.split(".")
  return getattr(getattr(cfg, section), name)


def check_population(cfg: config_lib.Config, population: int):
  """ConfigError, one line, unless tools/pbt.py can train this config as ``population`` members."""
  if population < 2:
    raise config_lib.ConfigError(f"--population must be at least 2 (got {population}): a "
                                 "member exploits by copying a better one")
  pbt_fitness.check(cfg)
  shared_critic.check(cfg)
  rounds(cfg)
  numeric_keys(cfg)
  for key, (low, high) in cfg.pbt.explore.items():
    value = config_value(cfg, key)
    if not low <= value <= high:
      raise config_lib.ConfigError(
          f"pbt.explore gives {key} the range [{low}, {high}], which does not hold its value "
          f"{value}: widen the range or change the value")


def _sample(low: float, high: float, rng: np.random.Generator) -> float:
  """Log-uniform in a range of positive numbers (learning rates span decades), else uniform."""
  if low > 0:
    return float(np.exp(rng.uniform(np.log(low), np.log(high))))
  return float(rng.uniform(low, high))


def _typed(value: float, kind: type):
  return int(round(value)) if kind is int else float(value)


def initial_values(cfg: config_lib.Config, member: int) -> Dict[str, float]:
  """Member 0 starts from the config's values; the others from values drawn in the ranges."""
  kinds = numeric_keys(cfg)
  if member == 0:
    return {key: config_value(cfg, key) for key in kinds}
  rng = np.random.default_rng([cfg.train.seed, member])
  return {key: _typed(_sample(low, high, rng), kinds[key])
          for key, (low, high) in cfg.pbt.explore.items()}


def explore(values: Dict[str, float], pbt: PbtConfig, rng: np.random.Generator,
            kinds: Optional[Dict[str, type]] = None) -> Dict[str, float]:
  """``values`` after PBT's explore step: only the keys ``pbt.explore`` declares change.

  Each is resampled in its range (with ``pbt.resample_probability``) or
  multiplied by one of ``pbt.perturbation_factors``, then clipped into its
  range; ``kinds`` says which keys are integers (rounded).
  """
  out = dict(values)
  for key, (low, high) in pbt.explore.items():
    if rng.random() < pbt.resample_probability:
      value = _sample(low, high, rng)
    else:
      value = values[key] * pbt.perturbation_factors[rng.integers(len(pbt.perturbation_factors))]
    out[key] = _typed(min(max(value, low), high), (kinds or {}).get(key, float))
  return out


def member_config(base: dict, values: Dict[str, float], member: int,
                  schedule: Rounds, number: int) -> config_lib.Config:
  """A member's config for round ``number``: its values, its seed, the round's end."""
  values_dict = copy.deepcopy(base)
  for key, value in values.items():
    section, name = key.split(".")
    values_dict[section][name] = value
  train = values_dict["train"]
  train["seed"] += member  # members start from different weights and play different episodes
  if schedule.unit == "agent_steps":
    train.update(max_agent_steps=int(schedule.end(number)), max_minutes=0.0)
  else:
    train["max_minutes"] = float(schedule.end(number))
  return config_lib.from_dict(values_dict)


def read_state(folder: str) -> Optional[dict]:
  """A member's pbt_member.json (in its run folder or in a Tune checkpoint), or None."""
  path = os.path.join(folder, STATE_NAME)
  if not os.path.exists(path):
    return None
  with open(path) as f:
    return json.load(f)


def set_learning_rates(trainer, cfg: config_lib.Config):
  """The config's learning rates into the restored optimisers.

  tf_keras' Adam keeps its learning rate in the checkpoint, so a restore
  puts back the rate the checkpoint was trained with (the donor's, after an
  exploit): without this, exploring a learning rate would change nothing.
  """
  trainer.policy_learner.optimizer.learning_rate = cfg.train.policy_learning_rate
  if trainer.critic_learner is not None and not cfg.pbt.shared_critic:  # else the server's
    trainer.critic_learner.optimizer.learning_rate = cfg.critic_training.learning_rate


def train_round(cfg: config_lib.Config, member_dir: str, log: Callable[[str], None],
                population_dir: Optional[str] = None):
  """Trains a member's folder to the end of its config's schedule, as tools/train.py would
  (with pbt.shared_critic, against the critic of ``population_dir``'s server)."""
  from spiral_tf.training import builder  # pylint: disable=g-import-not-at-top
  from spiral_tf.training import run_folder  # pylint: disable=g-import-not-at-top
  from spiral_tf.training import weights  # pylint: disable=g-import-not-at-top
  import tf_keras  # pylint: disable=g-import-not-at-top
  tf_keras.backend.clear_session()  # a reused Tune actor trains round after round
  folder = run_folder.RunFolder(member_dir)
  folder.lock()
  try:
    weights.remove_stale(folder.shared_memory_name)
    trainer = builder.build_trainer(cfg, member_dir, log=log)
    trainer.restore()
    set_learning_rates(trainer, cfg)
    shared = shared_critic.attach(trainer, cfg, population_dir, log)  # None if not shared
    folder.write_config(builder.config_dict(cfg))
    trainer.run()
    if shared is not None:
      shared.save(log)
  finally:
    folder.release()  # before tune.report: a paused member's process may train another
  return trainer


def _export(member_dir: str, state: dict, into: str):
  """The member's newest checkpoint and its state file, copied into a Tune checkpoint folder."""
  from spiral_tf.training import checkpointing  # pylint: disable=g-import-not-at-top
  source = os.path.join(member_dir, "checkpoints")
  newest = os.path.basename(checkpointing.checkpoint_paths(source)[0])
  os.makedirs(os.path.join(into, "checkpoints"))
  for name in os.listdir(source):
    older = name.startswith("ckpt-") and not name.startswith(newest + ".")
    if name != "checkpoint" and not older and os.path.isfile(os.path.join(source, name)):
      shutil.copy2(os.path.join(source, name), os.path.join(into, "checkpoints", name))
  files.write_json(os.path.join(into, STATE_NAME), state)


def _exploit(member_dir: str, exported: str):
  """The member's checkpoints replaced by exported ones (restore takes the highest number)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from spiral_tf.training import checkpointing  # pylint: disable=g-import-not-at-top
  own = os.path.join(member_dir, "checkpoints")
  shutil.rmtree(own, ignore_errors=True)
  shutil.copytree(os.path.join(exported, "checkpoints"), own)
  tf.compat.v1.train.update_checkpoint_state(own, checkpointing.checkpoint_paths(own)[0])


class Population(NamedTuple):
  """What every member's trainable is given (through tune.with_parameters)."""
  run_dir: str
  config: dict      # the population's config, pbt.hold_out_validation on
  start_round: int  # the rounds every member had finished when this tools/pbt.py run began
  gpus: float = 0.0  # GPUs Ray gives each member's learner (0: it never sees one)


def member_dir(run_dir: str, member: str) -> str:
  return os.path.join(run_dir, "members", member)


def train_member(trial_config: dict, population: Population):
  """Ray Tune's function trainable: one member, one tune.report per round.

  ``trial_config["values"]`` are the member's explored values. A Tune
  checkpoint from another member is an exploit: its checkpoint replaces this
  member's own before the next round.
  """
  if not population.gpus:  # a learner on CPUs; its actor processes inherit this
    os.environ["CUDA_VISIBLE_DEVICES"] = "-1"
  from ray import tune  # pylint: disable=g-import-not-at-top
  from spiral_tf.training import devices  # pylint: disable=g-import-not-at-top
  if not population.gpus:
    devices.hide_gpus()  # in case TensorFlow came up before (a reused actor)
  name = tune.get_context().get_trial_name()
  folder = member_dir(population.run_dir, name)
  os.makedirs(folder, exist_ok=True)
  log = _member_log(folder)
  base = config_lib.from_dict(population.config)
  schedule, values = rounds(base), trial_config["values"]
  state, done = read_state(folder), population.start_round
  checkpoint = tune.get_checkpoint()
  if checkpoint is not None:
    with checkpoint.as_directory() as exported:
      saved = read_state(exported)
      done = saved["round"]
      if saved["member"] != name:
        state = dict(member=name, round=done + 1, parent=saved["member"], values=values,
                     result=None)
        files.write_json(os.path.join(folder, STATE_NAME), state)
        _exploit(folder, exported)
        log(f"exploit: took {saved['member']}'s round-{done} checkpoint; explore: {values}")
  for number in range(done + 1, schedule.count + 1):
    if state and state["round"] == number and state["result"]:  # done before a resume
      _report(tune, folder, state)
      continue
    parent = state["parent"] if state and state["round"] == number else None
    state = dict(member=name, round=number, parent=parent, values=values, result=None)
    files.write_json(os.path.join(folder, STATE_NAME), state)
    index = int(name.rsplit("-", 1)[1])  # member-03: 3
    cfg = member_config(population.config, values, index, schedule, number)
    trainer = train_round(cfg, folder, log, population.run_dir)
    state["result"] = dict(
        member=name, round=number, parent=parent, values=values,
        agent_steps=int(trainer.frames.numpy()), learner_updates=int(trainer.learner_step.numpy()),
        training_minutes=float(trainer.seconds.numpy()) / 60.0,
        # this member's updates of the population's critic this round (pbt.shared_critic)
        shared_critic_updates=(trainer.critic_learner.updates if cfg.pbt.shared_critic
                               else None),
        **pbt_fitness.fitness(cfg, trainer.policy, population.run_dir, log))  # RESULT_KEYS
    files.write_json(os.path.join(folder, STATE_NAME), state)
    log(f"round {number}: {state['result'][FITNESS]:.4f}{pbt_fitness.describe(cfg)}")
    _report(tune, folder, state)


def _report(tune, folder: str, state: dict):
  with tempfile.TemporaryDirectory(prefix="spiral_pbt_") as into:
    _export(folder, state, into)
    tune.report(dict(state["result"]), checkpoint=tune.Checkpoint.from_directory(into))


def _member_log(folder: str) -> Callable[[str], None]:
  """A member's console: lines appended to its train.log (Ray keeps workers' output apart)."""
  def log(message: str):
    with open(os.path.join(folder, "train.log"), "a") as f:
      f.write(message.rstrip() + "\n")
  return log

