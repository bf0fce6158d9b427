"""Which actor pool plays a run's episodes, chosen from the config.

  env.renderer 'tf'           graph_actor.GraphActorPool: whole episodes in the learner's graph
  actors.engine 'processes'   actor_pool.ActorPool: actor processes on this machine
  actors.engine 'ray'         ray_actors.RayActorPool: Ray actors on any node of a cluster

All three are ``pool_interface.ActorPoolInterface``s, so the trainer, the
trajectory pipeline and the replay do not know which one runs. Ray is an
optional extra: its module is imported only for a run that asks for it, and
``check_engine`` says what to install before anything of the run is written.
"""
import functools
import importlib.util
import multiprocessing as mp
from typing import Callable

from spiral_tf import config as config_lib
from spiral_tf.training import actor_pool as actor_pool_lib
from spiral_tf.training import pool_interface
from spiral_tf.training import weights as weights_lib

# The extra that installs Ray, as a user types it.
RAY_EXTRA = "pip install -e '.[cluster]'"


def check_engine(engine: str):
  """ConfigError unless the actors' engine can be imported here (checked at start)."""
  if engine == "ray" and importlib.util.find_spec("ray") is None:
    raise config_lib.ConfigError(
        f"actors.engine 'ray' needs Ray, which is not installed: {RAY_EXTRA} "
        "(or set actors.engine 'processes')")


def factory(cfg: config_lib.Config, *, policy, env, spec, learner_step: Callable[[], int],
            target_stream: Callable, shared_memory_name: str, log: Callable[[str], None],
            log_traceback: Callable[[str], None]) -> Callable[[], pool_interface.ActorPoolInterface]:
  """() -> the config's actor pool, not started, holding the policy's current weights.

  Args:
    cfg: the run's config (env.renderer, actors.*, train.seed and conditional).
    policy: the learner's policy network.
    env: an environment of the config (its rules; the TF renderer copies it).
    spec: the actors' ``actor.ActorSpec``.
    learner_step: () -> the learner update the policy is at now.
    target_stream: (split, seed) -> endless training targets (the in-graph actor's).
    shared_memory_name: the process pool's weight store (one per run folder).
    log, log_traceback: the run's console and log file.
  """
  a, t = cfg.actors, cfg.train
  check_engine(a.engine)

  def make_graph_pool():
    from spiral_tf.training import builder  # pylint: disable=g-import-not-at-top
    from spiral_tf.training import graph_actor  # pylint: disable=g-import-not-at-top
    targets = functools.partial(target_stream, "train", t.seed) if t.conditional else None
    return graph_actor.GraphActorPool(
        policy, builder.tf_renderer(cfg, env), env.action_rules, cfg.env.episode_length,
        a.count * a.envs_per_actor, targets, seed=t.seed, learner_step=learner_step())

  def make_ray_pool():
    from spiral_tf.training import ray_actors  # pylint: disable=g-import-not-at-top
    pool = ray_actors.RayActorPool(spec, a.count, max_restarts=a.max_restarts,
                                   address=a.ray_address, threads=a.threads, log=log,
                                   log_traceback=log_traceback)
    pool.publish(policy.get_weights, learner_step())
    return pool

  def make_process_pool():
    ctx = mp.get_context("spawn")
    store = weights_lib.WeightStore([w.shape for w in policy.get_weights()], ctx,
                                    name=shared_memory_name)
    store.publish(policy.get_weights(), learner_step())
    return actor_pool_lib.ActorPool(spec, a.count, store, max_restarts=a.max_restarts, log=log,
                                    ctx=ctx, log_traceback=log_traceback)

  if cfg.env.renderer == "tf":
    return make_graph_pool
  return make_ray_pool if a.engine == "ray" else make_process_pool
