"""Wiring: builds environments, networks and data from a Config.

This is the only module of the library that reads a Config (like Acme's
``agent.py``): actors, learners, networks and losses take typed arguments.
"""
import inspect
from typing import Iterator, Optional

import numpy as np
import tensorflow as tf

from spiral_tf import config as config_lib
from spiral_tf import data as data_lib
from spiral_tf.agents import critic as critic_lib
from spiral_tf.agents import policy as policy_lib
from spiral_tf.envs import libmypaint_env


# Which components matter after a "do nothing" action, per domain: after a
# libmypaint move only flag and end; after a MuJoCo skip only kind.
MASK_RULES = {
    "libmypaint": dict(flag="flag", move_value=0, move_components=("flag", "end")),
    "mujoco_scenes": dict(flag="kind", move_value=2, move_components=("kind",)),
}


def mask_rule(cfg: config_lib.Config) -> dict:
  """Keyword arguments of agents.policy.component_masks for the config's domain."""
  return MASK_RULES[cfg.env.domain]


def random_action_fn(cfg: config_lib.Config):
  """(env, rng) -> a uniformly random action of the config's domain."""
  if cfg.env.domain == "mujoco_scenes":
    from spiral_tf.envs import mujoco_scenes  # pylint: disable=g-import-not-at-top
    return lambda env, rng: mujoco_scenes.random_action(rng)
  return lambda env, rng: libmypaint_env.random_action(env, rng, 0.5)


def env_kwargs(cfg: config_lib.Config) -> dict:
  """LibMyPaintEnv keyword arguments of the config's environment."""
  e = cfg.env
  return dict(canvas_size=e.canvas_size, grid_size=e.grid_size, episode_length=e.episode_length,
              brush=e.brush, brush_sizes=e.brush_sizes, use_color=e.use_color,
              use_pressure=e.use_pressure)


def make_env(cfg: config_lib.Config, targets=None) -> libmypaint_env.LibMyPaintEnv:
  """One environment of the config's domain; conditional configs get ``targets``."""
  if cfg.env.domain == "mujoco_scenes":
    from spiral_tf.envs import mujoco_scenes  # pylint: disable=g-import-not-at-top
    return mujoco_scenes.MujocoScenesEnv(
        image_size=cfg.env.canvas_size, episode_length=cfg.env.episode_length,
        shadows=cfg.env.shadows, targets=targets, conditional=cfg.train.conditional)
  return libmypaint_env.LibMyPaintEnv(targets=targets, conditional=cfg.train.conditional,
                                      **env_kwargs(cfg))


def make_batched_env(cfg: config_lib.Config, num_envs: int, targets=None):
  """(BatchedPyEnvironment, list of its envs): one process, several canvases."""
  envs = [make_env(cfg, targets) for _ in range(num_envs)]
  from tf_agents.environments import batched_py_environment  # pylint: disable=g-import-not-at-top
  return batched_py_environment.BatchedPyEnvironment(envs, multithreading=False), envs


def _checked_kwargs(cls, kwargs: dict, section: str) -> dict:
  params = inspect.signature(cls.__init__).parameters
  valid = [p for p, v in params.items() if v.kind == v.KEYWORD_ONLY]
  for key in kwargs:
    if key not in valid:
      raise config_lib.ConfigError(
          f"unknown config key {section}.{key!r}; valid keys: {sorted(valid)}")
  return dict(kwargs)


def make_policy(cfg: config_lib.Config, env) -> policy_lib.PolicyNetwork:
  """The policy network, built from the environment's specs."""
  kwargs = _checked_kwargs(policy_lib.PolicyNetwork, cfg.policy, "policy")
  return policy_lib.PolicyNetwork(env.observation_spec(), env.action_spec(), **kwargs)


def make_critic(cfg: config_lib.Config, env) -> critic_lib.Critic:
  """The Wasserstein critic for the environment's canvases."""
  kwargs = _checked_kwargs(critic_lib.Critic, cfg.critic, "critic")
  shape = env.observation_spec()["canvas"].shape
  return critic_lib.Critic(tuple(shape), conditional=cfg.train.conditional, **kwargs)


def load_dataset(cfg: config_lib.Config, split: str) -> tf.data.Dataset:
  """The config's image data set at the canvas size and channel count."""
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
  return data_lib.load(cfg.data.name, cfg.data.path, split=split, size=cfg.env.canvas_size,
                       channels=channels, **options)


def load_images(cfg: config_lib.Config, split: str, limit: int) -> np.ndarray:
  """Up to ``limit`` images of ``split`` as float32 [N, S, S, C] (fixed order)."""
  images = list(load_dataset(cfg, split).take(limit).as_numpy_iterator())
  if not images:
    raise data_lib.DataError(f"data set {cfg.data.name!r} split {split!r} is empty")
  return np.stack(images).astype(np.float32)


def target_iterator(cfg: config_lib.Config, split: str, seed: int) -> Iterator[np.ndarray]:
  """An endless shuffled stream of images, for conditional environments."""
  ds = load_dataset(cfg, split).shuffle(2048, seed=seed, reshuffle_each_iteration=True)
  return ds.repeat().as_numpy_iterator()


def build_actor(cfg_dict: dict, actor_id: int, restarts: int):
  """Builds an actor's environments and policy inside its own process."""
  cfg = config_lib.from_dict(cfg_dict)
  seed = cfg.train.seed * 10007 + actor_id * 101 + restarts
  targets: Optional[Iterator] = None
  if cfg.train.conditional:
    targets = target_iterator(cfg, "train", seed)
  env, _ = make_batched_env(cfg, cfg.train.envs_per_actor, targets)
  policy = make_policy(cfg, env)
  return env, policy, cfg.env.episode_length, seed, mask_rule(cfg)


def set_threads(threads: int, log=print):
  """Gives TensorFlow in this process a thread budget (2 cores drown otherwise).

  TensorFlow fixes its thread pools when it runs its first op; later calls
  (e.g. a second Trainer in one process) keep the pools it has.
  """
  try:
    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)
  except RuntimeError:
    if tf.config.threading.get_intra_op_parallelism_threads() != threads:
      log(f"note: TensorFlow already started with its own thread pools; asked for {threads}")


def make_strategy(name: str) -> tf.distribute.Strategy:
  """'default' (one device), 'mirrored' (all GPUs) or 'cpu:N' (N logical CPUs, for tests)."""
  if name == "default":
    return tf.distribute.get_strategy()
  if name == "mirrored":
    return tf.distribute.MirroredStrategy()
  if name.startswith("cpu:"):
    n = int(name.split(":", 1)[1])
    cpu = tf.config.list_physical_devices("CPU")[0]
    if len(tf.config.get_logical_device_configuration(cpu) or []) != n:
      try:
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * n)
      except RuntimeError as e:
        raise config_lib.ConfigError(
            f"train.strategy {name!r} needs {n} logical CPUs, but TensorFlow already "
            "initialised its devices in this process; choose the strategy before any "
            "TensorFlow op runs (e.g. from tools/train.py)") from e
    return tf.distribute.MirroredStrategy([f"/cpu:{i}" for i in range(n)])
  raise config_lib.ConfigError(
      f"train.strategy {name!r} is not 'default', 'mirrored' or 'cpu:N'")
