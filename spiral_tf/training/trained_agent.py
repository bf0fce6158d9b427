"""A trained agent read back from a run folder: its config, its policy, what it needs to run.

A run folder of tools/train.py holds ``config.json`` and ``checkpoints/``.
The tools that use a trained run (evaluate, paint, export, score_samples,
mcmc_baseline) load it with ``load``; ``train.init_policy_from`` copies its
policy with ``restore_policy``. Both read the checkpoints by the rule of a
resume (``checkpointing.restore_newest``: the newest that restores, a
damaged one skipped and logged) and write nothing into the folder, which
may still be training. A config.json written by an earlier version loads
too (``config.load_saved`` translates renamed keys).
"""
import os
from typing import Callable, List, NamedTuple, Optional

import tensorflow as tf

from spiral_tf import config as config_lib
from spiral_tf.agents import policy as policy_lib
from spiral_tf.training import builder
from spiral_tf.training import checkpointing


class TrainedAgent(NamedTuple):
  """A policy restored from a run folder, with what is needed to run it."""
  config: config_lib.Config
  policy: policy_lib.PolicyNetwork
  make_env: Callable   # (targets=None) -> environment
  checkpoint: str      # the checkpoint restored
  learner_step: int
  agent_steps: Optional[int] = None  # None: a policy-only checkpoint (a shipped agent)


def load_config(run_dir: str) -> config_lib.Config:
  """The config a run folder was trained with (its config.json)."""
  path = os.path.join(run_dir, "config.json")
  if not os.path.isfile(path):
    raise FileNotFoundError(f"{path} not found: is {run_dir!r} a run folder of tools/train.py?")
  return config_lib.load_saved(path)


def restore_policy(policy: policy_lib.PolicyNetwork, run_dir: str,
                   log: Callable[[str], None] = print, **more) -> str:
  """Restores ``policy`` (and ``more`` objects) from a run folder's newest restorable checkpoint.

  Returns the checkpoint's path. Raises CheckpointError naming the folder
  when it has no checkpoint or none restores (damaged, or saved by a policy
  of other sizes), leaving ``policy`` as it was.
  """
  directory = os.path.join(run_dir, "checkpoints")
  before = policy.get_weights()  # put back if no checkpoint fits, or one fits in part
  try:
    path = checkpointing.restore_newest(tf.train.Checkpoint(policy=policy, **more), directory,
                                        partial=True, log=log, own=False)
  except checkpointing.CheckpointMismatchError as e:
    policy.set_weights(before)
    raise checkpointing.CheckpointMismatchError(
        f"the policy saved in {directory} does not fit this config's policy ({e.reasons[0]}). "
        "Both need the same policy.* settings and the same action space (env.canvas_size, "
        "grid_size, brush sizes, domain)", e.reasons) from e
  except checkpointing.CheckpointError as e:
    policy.set_weights(before)
    raise checkpointing.CheckpointError(
        f"no checkpoint in {directory} could be restored ({'; '.join(e.reasons)})",
        e.reasons) from e
  if path is None:
    raise checkpointing.CheckpointError(f"no checkpoint in {directory}: train first")
  return path


def init_policy_from(policy: policy_lib.PolicyNetwork, source_run: str,
                     log: Callable[[str], None] = print) -> str:
  """``train.init_policy_from``: another run's policy starts this one; returns its checkpoint."""
  try:
    path = restore_policy(policy, source_run, log)
  except checkpointing.CheckpointError as e:
    raise checkpointing.CheckpointError(
        f"train.init_policy_from: {e}; name another run folder, or set it to \"\" to start "
        "from random weights") from e
  log(f"policy initialised from {path} (train.init_policy_from)")
  return path


def checkpoints(run_dir: str) -> List[str]:
  """The checkpoints a run folder kept, oldest first (the paths ``load(checkpoint=)`` takes)."""
  return list(reversed(checkpointing.checkpoint_paths(os.path.join(run_dir, "checkpoints"))))


def _restore_one(path: str, **objects) -> None:
  """Restores ``objects`` from the checkpoint ``path``; CheckpointError naming it if it cannot."""
  try:
    status = tf.train.Checkpoint(**objects).restore(path)
    status.expect_partial()
    status.assert_existing_objects_matched()
  except (tf.errors.OpError, ValueError, AssertionError) as e:
    raise checkpointing.CheckpointError(
        f"checkpoint {path} could not be restored ({type(e).__name__}: "
        f"{str(e).splitlines()[0][:200]}): name one of its run's checkpoints/ckpt-N "
        "(the prefix, without .index)", [str(e)]) from e


def saved_counters(path: str) -> dict:
  """{'frames', 'seconds', 'learner_step'}: a run's counters in checkpoint ``path`` (None if absent).

  A policy saved alone (a shipped agent) has no 'frames' or 'seconds'.
  """
  saved = {name for name, _ in tf.train.list_variables(path)}
  values = {}
  for key in ("frames", "seconds", "learner_step"):
    name = f"{key}/.ATTRIBUTES/VARIABLE_VALUE"  # a tf.Variable tracked as Checkpoint(key=...)
    values[key] = tf.train.load_variable(path, name).item() if name in saved else None
  return values


def load(run_dir: str, log: Callable[[str], None] = print,
         checkpoint: Optional[str] = None) -> TrainedAgent:
  """The trained agent of a run folder: its config and its newest restorable policy.

  ``checkpoint``: restore that checkpoint (a prefix ``.../ckpt-N``, e.g. one
  of ``checkpoints(run_dir)``) instead of the newest.
  """
  cfg = load_config(run_dir)
  env = builder.make_env(cfg)
  policy = builder.make_policy(cfg, env)
  step = tf.Variable(0, dtype=tf.int64, name="learner_step")
  if checkpoint is None:
    path = restore_policy(policy, run_dir, log, learner_step=step)
  else:
    if not os.path.isfile(checkpoint + ".index"):
      raise checkpointing.CheckpointError(
          f"no checkpoint {checkpoint} ({checkpoint}.index not found): name one of "
          f"{os.path.join(run_dir, 'checkpoints')}/ckpt-N, without .index")
    _restore_one(checkpoint, policy=policy, learner_step=step)
    path = checkpoint
  return TrainedAgent(cfg, policy, builder.env_factory(cfg), path, int(step.numpy()),
                      saved_counters(path)["frames"])


def critic_scores(agent: TrainedAgent) -> dict:
  """{'critic': score, 'reward critic': score} from the agent's own checkpoint.

  Each score is ``(canvases, targets=None) -> [N]`` (the critic reward's
  scoring function); 'reward critic' is the slow copy the policy was rewarded
  by, present when the run used ``critic_training.reward_polyak``. Empty when
  the checkpoint holds no critic (an l2 run, or a policy saved alone).
  """
  saved = {name.split("/", 1)[0] for name, _ in tf.train.list_variables(agent.checkpoint)}
  env = builder.make_env(agent.config)
  critics = {key: builder.make_critic(agent.config, env) for key in ("critic", "reward_critic")
             if key in saved}
  if not critics:
    return {}
  tf.train.Checkpoint(**critics).restore(agent.checkpoint).expect_partial()
  return {key.replace("_", " "): builder.score_fn(agent.config, critic)
          for key, critic in critics.items()}


def exported(agent: TrainedAgent):
  """The SavedModel module of a trained agent (its ``paint`` signature for painting agents)."""
  from spiral_tf.agents import export  # pylint: disable=g-import-not-at-top
  env = agent.make_env()
  renderer = builder.tf_renderer(agent.config, env)
  return export.ExportedAgent(agent.policy, env.action_rules, renderer, env.episode_length,
                              environment=builder.painting_env_kwargs(agent.config),
                              data_name=agent.config.data.name)
