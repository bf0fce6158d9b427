"""The builder: the only library code that reads a Config (like Acme's ``agent.py``).

It turns an experiment's config into typed parts: environments (and a
picklable ``ActorSpec`` for the actor processes), the policy and critic
networks, the per-component entropy costs, the scoring function ("how a
canvas is scored"), the critic loss ("how the critic is trained"), the data,
the schedule and the ``Trainer``. Actors, learners, networks and losses take
typed arguments. A trained agent read back from a run folder is built from
these parts by ``trained_agent.py``.
"""
import copy
import functools
import json
import os
from typing import Callable, Iterator, Optional

import numpy as np
import tensorflow as tf
import tf_keras as keras

from spiral_tf import config as config_lib
from spiral_tf import data as data_lib
from spiral_tf.agents import acting
from spiral_tf.agents import policy as policy_lib
from spiral_tf.envs import libmypaint_env
from spiral_tf.eval import reconstruction
from spiral_tf.training import actor as actor_lib
from spiral_tf.training import checkpointing
from spiral_tf.training import collapse_guard
from spiral_tf.training.critic_builder import critic_fn, critic_loss_fn, make_critic  # noqa: F401
from spiral_tf.training.critic_builder import make_critic_learner, score_fn  # noqa: F401
from spiral_tf.training import devices
from spiral_tf.training import pipeline
from spiral_tf.training import policy_learner as policy_learner_lib
from spiral_tf.training import pools
from spiral_tf.training import replay as replay_lib
from spiral_tf.training import reporting
from spiral_tf.training import run_folder
from spiral_tf.training import trainer as trainer_lib


def env_kwargs(cfg: config_lib.Config) -> dict:
  """The keyword arguments of the config's environment class, all but ``targets``."""
  e = cfg.env
  if e.domain == "mujoco_scenes":
    return dict(image_size=e.canvas_size, episode_length=e.episode_length, shadows=e.shadows,
                conditional=cfg.train.conditional)
  return dict(canvas_size=e.canvas_size, grid_size=e.grid_size, episode_length=e.episode_length,
              brush=e.brush, brush_sizes=tuple(e.brush_sizes), use_color=e.use_color,
              use_pressure=e.use_pressure, conditional=cfg.train.conditional)


def env_factory(cfg: config_lib.Config) -> Callable:
  """A picklable (targets=None) -> environment of the config's domain."""
  env_class = libmypaint_env.LibMyPaintEnv
  if cfg.env.domain == "mujoco_scenes":
    from spiral_tf.envs import mujoco_scenes  # pylint: disable=g-import-not-at-top
    env_class = mujoco_scenes.MujocoScenesEnv
  return functools.partial(_with_targets, env_class, env_kwargs(cfg))


def _with_targets(env_class, kwargs: dict, targets=None):
  return env_class(targets=targets, **kwargs)


def make_env(cfg: config_lib.Config, targets=None):
  """One environment of the config's domain (a ProgramEnvironment)."""
  return env_factory(cfg)(targets)


def painting_env_kwargs(cfg: config_lib.Config) -> dict:
  """The environment's keyword arguments without a target (for re-painting programs)."""
  return dict(env_kwargs(cfg), conditional=False)


def tf_renderer(cfg: config_lib.Config, env=None):
  """The TF renderer of a painting config's environment, or None for other domains."""
  from spiral_tf.envs import tf_renderer as tf_renderer_lib  # pylint: disable=g-import-not-at-top
  if cfg.env.domain != "libmypaint":
    return None
  return tf_renderer_lib.TFRenderer.from_env(env if env is not None else make_env(cfg))


def _policy_for_env(kwargs: dict, env) -> policy_lib.PolicyNetwork:
  kwargs = dict(kwargs, spatial_components=env.action_rules.spatial_components)
  return policy_lib.PolicyNetwork(env.observation_spec(), env.action_spec(), **kwargs)


def policy_factory(cfg: config_lib.Config) -> Callable:
  """A picklable env -> policy network built from the environment's specs."""
  return functools.partial(_policy_for_env, dict(cfg.policy))


def make_policy(cfg: config_lib.Config, env) -> policy_lib.PolicyNetwork:
  """The policy network, built from the environment's specs and rules."""
  return policy_factory(cfg)(env)


def entropy_costs(cfg: config_lib.Config, env) -> dict:
  """The entropy cost of every action component: train.entropy_costs over train.entropy_cost."""
  components = env.action_rules.components
  unknown = sorted(set(cfg.train.entropy_costs) - set(components))
  if unknown:
    raise config_lib.ConfigError(
        f"train.entropy_costs names {unknown}, which this environment's actions do not "
        f"have; its components are {list(components)}")
  return {k: float(cfg.train.entropy_costs.get(k, cfg.train.entropy_cost)) for k in components}


def shaped_reward(cfg: config_lib.Config) -> bool:
  """Per-step score differences: for l2, and for a critic that sees half-painted canvases."""
  r = cfg.reward
  return r.shaped and (r.kind == "l2" or cfg.critic_training.fakes != "final")


def _load_kwargs(cfg: config_lib.Config) -> dict:
  options = dict(cfg.data.options)
  if cfg.data.name == "synthetic":
    e = cfg.env
    # Targets painted by the agent's own environment, so they are reachable.
    options.setdefault("grid_size", e.grid_size)
    options.setdefault("episode_length", e.episode_length)
    options.setdefault("use_color", e.use_color)
    options.setdefault("env_kwargs", dict(brush=e.brush, brush_sizes=tuple(e.brush_sizes),
                                          use_pressure=e.use_pressure))
  channels = 3 if cfg.env.use_color or cfg.env.domain == "mujoco_scenes" else 1
  held_out = cfg.pbt.validation_images if cfg.pbt.hold_out_validation else 0  # PBT's fitness set
  return dict(options, name=cfg.data.name, path=cfg.data.path, size=cfg.env.canvas_size,
              channels=channels, validation_images=held_out)


def load_dataset(cfg: config_lib.Config, split: str) -> tf.data.Dataset:
  """The config's image data set at the canvas size and channel count."""
  return data_lib.load(split=split, **_load_kwargs(cfg))


def load_images(cfg: config_lib.Config, split: str, limit: int) -> np.ndarray:
  """Up to ``limit`` images of ``split`` as float32 [N, S, S, C] (fixed order)."""
  images = list(load_dataset(cfg, split).take(limit).as_numpy_iterator())
  if not images:
    raise data_lib.DataError(f"data set {cfg.data.name!r} split {split!r} is empty")
  return np.stack(images).astype(np.float32)


def _target_stream(load_kwargs: dict, split: str, seed: int) -> Iterator[np.ndarray]:
  ds = data_lib.load(split=split, **load_kwargs)
  ds = ds.shuffle(2048, seed=seed, reshuffle_each_iteration=True)
  return ds.repeat().as_numpy_iterator()


def actor_spec(cfg: config_lib.Config) -> actor_lib.ActorSpec:
  """What the actor processes build, as picklable values and factories."""
  a = cfg.actors
  targets = (functools.partial(_target_stream, _load_kwargs(cfg), "train")
             if cfg.train.conditional else None)
  return actor_lib.ActorSpec(env_factory(cfg), policy_factory(cfg), targets, a.envs_per_actor,
                             cfg.train.seed, a.threads, a.weight_sync_every_episodes)


def schedule(cfg: config_lib.Config) -> trainer_lib.Schedule:
  """The Trainer's schedule from train.* (and the critic's warm-up)."""
  t, c = cfg.train, cfg.critic_training
  return trainer_lib.Schedule(
      max_agent_steps=t.max_agent_steps, max_minutes=t.max_minutes,
      eval_every_minutes=t.eval_every_minutes, checkpoint_every_minutes=t.checkpoint_every_minutes,
      summary_every_updates=t.summary_every_updates, batch_size=t.batch_size,
      critic_updates_per_learner_update=c.updates_per_learner_update,
      episode_length=cfg.env.episode_length,
      critic_warmup_updates=c.warmup_updates if cfg.reward.kind == "critic" else 0)


def config_dict(cfg: config_lib.Config) -> dict:
  """The config as plain JSON values."""
  return json.loads(json.dumps(cfg.to_dict()))


def build_trainer(cfg: config_lib.Config, run_dir: str, log: Callable[[str], None] = print,
                  chief_run_dir: Optional[str] = None) -> trainer_lib.Trainer:
  """Every part of a training run, wired into a Trainer for ``run_dir`` (for a learner worker
  that is not the chief: its scratch; it resumes from ``chief_run_dir``'s checkpoints)."""
  role = devices.worker_role(cfg.train.strategy)
  if role.index:  # its own episodes and samples; its networks start as the chief's
    cfg = copy.deepcopy(cfg)
    cfg.train.seed = devices.worker_seed(cfg.train.seed, role)
  t, r, c = cfg.train, cfg.reward, cfg.critic_training
  devices.set_threads(t.learner_threads, log)
  keras.utils.set_random_seed(t.seed)  # Python, NumPy and TensorFlow (Keras initialisers too)
  strategy = devices.make_strategy(t.strategy)
  env = make_env(cfg)  # for specs and rules
  critic = None
  with strategy.scope():
    policy = make_policy(cfg, env)
    policy_optimizer = keras.optimizers.Adam(t.policy_learning_rate)
    counters = dict(learner_step=tf.Variable(0, dtype=tf.int64, trainable=False),
                    frames=tf.Variable(0, dtype=tf.int64, trainable=False),
                    seconds=tf.Variable(0.0, dtype=tf.float64, trainable=False))
    tracked = dict(policy=policy, policy_optimizer=policy_optimizer, **counters)
    critic_learner = None
    reward_critic = None
    if r.kind == "critic":
      critic_learner, critic_state = make_critic_learner(cfg, env, strategy)
      tracked.update(critic_state)
      critic = critic_learner.critic
      reward_critic = critic_state.get("reward_critic", critic)
    policy_learner = policy_learner_lib.PolicyLearner(
        policy, policy_optimizer, strategy, score_fn=score_fn(cfg, reward_critic),
        rules=env.action_rules, shaped_reward=shaped_reward(cfg), reward_scale=r.scale,
        normalize_rewards=r.normalization == "running",
        new_stroke_penalty=r.new_stroke_penalty, empty_canvas_penalty=r.empty_canvas_penalty,
        color_emd_weight=r.color_emd_weight, discount=t.discount,
        blank_canvas=(reconstruction.blank_canvas(functools.partial(make_env, cfg))
                      if r.empty_canvas_penalty else 1.0),
        baseline_cost=t.baseline_cost, entropy_costs=entropy_costs(cfg, env),
        max_grad_norm=t.policy_max_grad_norm)
  tracked["return_moments"] = policy_learner.return_moments
  replay = replay_lib.RenderReplay(c.replay_batches * t.batch_size,
                                   env.observation_spec()["canvas"].shape, t.conditional,
                                   seed=t.seed, fakes=c.fakes)
  checkpoints = checkpointing.RunCheckpoints(
      os.path.join(run_dir, "checkpoints"), replay=replay if critic else None,
      restore_from=chief_run_dir and os.path.join(chief_run_dir, "checkpoints"),
      keep_every_minutes=t.keep_checkpoint_every_minutes, **tracked)
  spec = acting.tensor_spec(env.observation_spec(), env.action_spec(), cfg.env.episode_length,
                            policy.noise_dim)
  folder = run_folder.RunFolder(run_dir)  # names and log file only; tools/train.py locks it
  make_actor_pool = pools.factory(
      cfg, policy=policy, env=env, spec=actor_spec(cfg),
      learner_step=lambda: int(counters["learner_step"].numpy()),
      target_stream=functools.partial(_target_stream, _load_kwargs(cfg)),
      shared_memory_name=folder.shared_memory_name, log=log, log_traceback=folder.append_log)

  def policy_batches(pool):
    taps = [replay.add_episodes] if critic else []
    return pipeline.policy_dataset(lambda: pipeline.tapped(pool.outputs(), taps), spec,
                                   t.batch_size, strategy)

  critic_batches = None
  if critic:
    critic_batches = lambda: pipeline.critic_dataset(load_dataset(cfg, "train"), replay,
                                                     t.batch_size, strategy, seed=t.seed)
  eval_targets = load_images(cfg, "test", cfg.data.eval_images) if t.conditional else None
  reporter = reporting.Reporter(run_dir, cfg.name, env_factory(cfg), policy,
                                eval_targets=eval_targets, num_samples=cfg.data.eval_images,
                                config=config_dict(cfg), seed=t.seed, log=log)
  return trainer_lib.Trainer(
      schedule=schedule(cfg), strategy=strategy, policy=policy, policy_learner=policy_learner,
      critic_learner=critic_learner, checkpoints=checkpoints, counters=counters,
      make_actor_pool=make_actor_pool, policy_batches=policy_batches,
      critic_batches=critic_batches, replay=replay, reporter=reporter, log=log,
      initialize=_policy_initializer(policy, t.init_policy_from, log),
      guard=_collapse_guard(cfg, run_dir, tracked, log),
      worker_max=devices.worker_max(strategy) if role.count > 1 else None)


def _collapse_guard(cfg: config_lib.Config, run_dir: str, tracked: dict,
                    log: Callable[[str], None]):
  """The CollapseGuard of train.collapse_guard over the learners' state (not the counters)."""
  if not cfg.train.collapse_guard:
    return None
  state = {k: v for k, v in tracked.items() if k not in ("learner_step", "frames", "seconds")}
  return collapse_guard.CollapseGuard(
      os.path.join(run_dir, "checkpoints", collapse_guard.STATE_NAME), cfg.train.seed,
      log=log, **state)


def _policy_initializer(policy, source_run: str, log: Callable[[str], None]):
  """What a run starting from step 0 does first: copy another run's policy (or nothing)."""
  if not source_run:
    return None
  # Imported here, not at the top: trained_agent builds its agents with this module.
  from spiral_tf.training import trained_agent  # pylint: disable=g-import-not-at-top
  return functools.partial(trained_agent.init_policy_from, policy, source_run, log)
