"""One critic for a whole population (pbt.shared_critic, tools/pbt.py --shared-critic).

SPIRAL++ trained its population against one discriminator. Here:

  tools/pbt.py    starts a CriticServer as a named Ray actor (``actor_name(RUN)``)
  each member     gets a SharedCriticLearner in place of its own CriticLearner: each
                  critic update sends the member's batch (its real images, its replayed
                  renders and their targets) to the server, which applies it to the one
                  critic; every pbt.shared_critic_pull_updates the member copies the
                  server's weights into its own critic (and reward copy), which score
                  its rewards as before
  each round end  the member asks the server to save: RUN/shared_critic/ holds the
                  critic, its optimiser and its update count, and a new tools/pbt.py run
                  resumes them

The member's own copy is still in its checkpoints (an exploit copies it with
the rest) but the next pull replaces it: the server's critic is the one that
learns. One critic has one learning rate, so pbt.explore may not perturb
critic_training.learning_rate; the server updates in the order batches
arrive, one at a time.
"""
import hashlib
import os
from typing import Dict, Optional

import numpy as np

from spiral_tf import config as config_lib

NAMESPACE = "spiral_tf"
FOLDER = "shared_critic"


def actor_name(run_dir: str) -> str:
  """The server's Ray actor name: one per population folder, so two populations never share."""
  digest = hashlib.sha1(os.path.abspath(run_dir).encode()).hexdigest()[:12]
  return f"shared_critic_{digest}"


def check(cfg: config_lib.Config):
  """ConfigError, one line, when pbt.shared_critic cannot be used with this config."""
  if not cfg.pbt.shared_critic:
    return
  if cfg.reward.kind != "critic":
    raise config_lib.ConfigError(
        f"pbt.shared_critic shares the critic of the critic reward, but reward.kind is "
        f"{cfg.reward.kind!r}: set reward.kind=critic or drop --shared-critic")
  if cfg.train.strategy != "default":
    raise config_lib.ConfigError(
        f"pbt.shared_critic needs each member's learner on one device (train.strategy "
        f"'default'), not {cfg.train.strategy!r}")
  if "critic_training.learning_rate" in cfg.pbt.explore:
    raise config_lib.ConfigError(
        "pbt.shared_critic trains one critic for every member, so its learning rate cannot "
        "differ between members: remove critic_training.learning_rate from pbt.explore")


def _array(value) -> np.ndarray:
  return value.numpy() if hasattr(value, "numpy") else np.asarray(value)


class CriticServer:
  """The population's critic: one update per batch any member sends, weights for every member.

  A plain class: tools/pbt.py runs it as a Ray actor (``start``); tests may
  call it directly.
  """

  def __init__(self, config: dict, directory: str):
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    import tf_keras  # pylint: disable=g-import-not-at-top
    from spiral_tf.training import builder  # pylint: disable=g-import-not-at-top
    from spiral_tf.training import checkpointing  # pylint: disable=g-import-not-at-top
    cfg = config_lib.from_dict(config)
    tf_keras.utils.set_random_seed(cfg.train.seed)
    self.learner, state = builder.make_critic_learner(cfg, builder.make_env(cfg),
                                                      tf.distribute.get_strategy())
    self.updates = tf.Variable(0, dtype=tf.int64, trainable=False)
    self.directory = directory
    self.reward_critic = state.get("reward_critic")
    self.checkpoints = checkpointing.RunCheckpoints(directory, max_to_keep=2,
                                                    updates=self.updates, **state)
    self.restored = self.checkpoints.restore(log=lambda _: None)

  def step(self, real, fake, fake_targets) -> Dict[str, float]:
    """One critic update on a member's batch; returns the learner's terms."""
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    terms = self.learner.step(tf.constant(real), tf.constant(fake), tf.constant(fake_targets))
    self.updates.assign_add(1)
    return {k: float(v) for k, v in terms.items()}

  def weights(self):
    """(updates so far, the critic's weights, the reward copy's weights or None)."""
    reward = None if self.reward_critic is None else self.reward_critic.get_weights()
    return int(self.updates.numpy()), self.learner.critic.get_weights(), reward

  def update_count(self) -> int:
    return int(self.updates.numpy())

  def save(self) -> str:
    """Writes the critic, its optimiser and the update count into the server's folder."""
    return self.checkpoints.save(int(self.updates.numpy()))


class SharedCriticLearner:
  """A member's stand-in for its CriticLearner: updates go to the server, weights come back."""

  def __init__(self, server, critic, reward_critic=None, pull_every: int = 10, get=None):
    """Args:
      server: the CriticServer's Ray actor handle (or anything with the same
        methods behind ``.remote``).
      critic, reward_critic: the member's copies, which score its rewards.
      pull_every: critic updates between two copies of the server's weights.
      get: resolves what ``.remote`` returns (``ray.get``; tests pass their own).
    """
    if get is None:
      import ray  # pylint: disable=g-import-not-at-top
      get = ray.get
    self.server, self.get = server, get
    self.critic, self.reward_critic = critic, reward_critic
    self.pull_every = pull_every
    self.updates = 0  # this member's updates of the shared critic
    self.server_updates: Optional[int] = None  # the server's count at the last pull

  def pull(self) -> int:
    """Copies the server's weights into the member's critic (and reward copy)."""
    updates, critic, reward = self.get(self.server.weights.remote())
    self.critic.set_weights(critic)
    if self.reward_critic is not None and self.reward_critic is not self.critic:
      self.reward_critic.set_weights(reward if reward is not None else critic)
    self.server_updates = updates
    return updates

  def step(self, real, fake, fake_targets) -> Dict[str, float]:
    """One update of the shared critic on this member's batch (CriticLearner.step's terms)."""
    terms = self.get(self.server.step.remote(_array(real), _array(fake), _array(fake_targets)))
    self.updates += 1
    if self.updates % self.pull_every == 0:
      self.pull()
    return terms

  def save(self, log=print):
    """Has the server save its critic (a round's end); the member takes its newest weights."""
    self.get(self.server.save.remote())
    log(f"shared critic: {self.updates} updates from this member, {self.pull()} in all")


def start(ray, config: dict, run_dir: str, gpus: float = 0.0):
  """The population's CriticServer as a named Ray actor (RUN/shared_critic/ resumed if there)."""
  from spiral_tf.training import ray_actors  # pylint: disable=g-import-not-at-top
  env_vars = dict(ray_actors.ACTOR_ENV)
  if gpus:
    env_vars.pop("CUDA_VISIBLE_DEVICES")
  remote = ray.remote(CriticServer).options(
      name=actor_name(run_dir), namespace=NAMESPACE, num_cpus=0, num_gpus=gpus,
      max_restarts=0, runtime_env={"env_vars": env_vars})
  server = remote.remote(config, os.path.join(run_dir, FOLDER))
  ray.get(server.update_count.remote())  # built (and resumed) before any member asks
  return server


def attach(trainer, cfg: config_lib.Config, run_dir: str,
           log=print) -> Optional[SharedCriticLearner]:
  """With pbt.shared_critic: the member Trainer's critic learner replaced by the population's.

  The member's critic takes the server's weights at once. ``run_dir``: the
  population's folder (the server's name comes from it). None (nothing
  changed) without pbt.shared_critic.
  """
  if not cfg.pbt.shared_critic:
    return None
  import ray  # pylint: disable=g-import-not-at-top
  server = ray.get_actor(actor_name(run_dir), namespace=NAMESPACE)
  own = trainer.critic_learner
  shared = SharedCriticLearner(server, own.critic, own.slow_critic,
                               pull_every=cfg.pbt.shared_critic_pull_updates)
  updates = shared.pull()
  trainer.critic_learner = shared
  log(f"shared critic: took the population's critic ({updates} updates so far)")
  return shared
