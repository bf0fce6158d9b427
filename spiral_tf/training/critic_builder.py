"""The critic's parts from a config: the network, how it scores, its loss and its learner.

training/builder.py wires them into a Trainer; training/shared_critic.py
builds a population's one critic with ``make_critic_learner``. Like the
builder, this module reads configs so that nothing else has to.
"""
import functools
from typing import Callable

import tf_keras as keras

from spiral_tf import config as config_lib
from spiral_tf.agents import critic as critic_lib
from spiral_tf.losses import complement
from spiral_tf.losses import nonsaturating_gan
from spiral_tf.losses import rewards
from spiral_tf.losses import wgan_gp
from spiral_tf.training import critic_learner as critic_learner_lib


def make_critic(cfg: config_lib.Config, env) -> critic_lib.Critic:
  """The critic for the environment's canvases (conditional when the agent is)."""
  shape = env.observation_spec()["canvas"].shape
  return critic_lib.Critic(tuple(shape), conditional=cfg.train.conditional, **dict(cfg.critic))


def critic_fn(cfg: config_lib.Config, critic, training: bool) -> Callable:
  """The critic as (images[, targets]) -> scores, on the inputs the config chooses."""
  if not cfg.train.conditional:
    return lambda images, targets=None: critic(images, training=training)
  fn = lambda images, targets: critic(images, targets, training=training)
  if cfg.critic_training.input == "complement":
    # Training sees a random half per example; rewards average the four halves.
    return complement.complement_critic(fn) if training else complement.complement_reward(fn)
  return fn


def score_fn(cfg: config_lib.Config, critic=None) -> Callable:
  """(canvases, targets) -> [N] scores: -l2 to the target, or the (reward) critic's score."""
  if cfg.reward.kind == "critic":
    return rewards.critic_score(critic_fn(cfg, critic, training=False))
  return rewards.l2_reward


def critic_loss_fn(cfg: config_lib.Config) -> Callable:
  """(critic_fn, real, fake, fake_targets) -> (loss, terms) with the config's weights."""
  c = cfg.critic_training
  if c.loss == "non_saturating":
    if cfg.train.conditional:
      return nonsaturating_gan.conditional_critic_loss
    return lambda critic_fn, real, fake, _: nonsaturating_gan.critic_loss(critic_fn, real, fake)
  weights = dict(gp_weight=c.gradient_penalty_weight, centering_weight=c.centering_weight)
  if cfg.train.conditional:
    return functools.partial(wgan_gp.conditional_critic_loss, **weights)
  return lambda critic_fn, real, fake, _: wgan_gp.critic_loss(critic_fn, real, fake, **weights)


def make_critic_learner(cfg: config_lib.Config, env, strategy):
  """(CriticLearner, {name: object} it checkpoints): critic, its optimiser, the reward copy.

  Call inside ``strategy.scope()``. The reward copy (critic_training.reward_polyak)
  is the learner's ``slow_critic``; without it rewards come from the critic.
  """
  c = cfg.critic_training
  critic = make_critic(cfg, env)
  optimizer = keras.optimizers.Adam(c.learning_rate, beta_1=c.beta1)
  state = dict(critic=critic, critic_optimizer=optimizer)
  if c.reward_polyak:
    state["reward_critic"] = make_critic(cfg, env)
    state["reward_critic"].set_weights(critic.get_weights())
  learner = critic_learner_lib.CriticLearner(
      critic, optimizer, strategy, loss_fn=critic_loss_fn(cfg),
      critic_fn=critic_fn(cfg, critic, training=True),
      slow_critic=state.get("reward_critic"), polyak=c.reward_polyak)
  return learner, state
