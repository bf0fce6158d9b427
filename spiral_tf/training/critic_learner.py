"""The critic learner: updates the discriminator D on real images against replayed renders."""
from typing import Callable, Dict

import tensorflow as tf


class CriticLearner:
  """Applies the gradients of a critic loss (paper eq. 1, section 3.4)."""

  def __init__(self, critic, optimizer, strategy, *, loss_fn: Callable, critic_fn: Callable,
               slow_critic=None, polyak: float = 0.0):
    """Args:
      critic, optimizer, strategy: the network, its Keras optimizer and the
        tf.distribute strategy the learner runs under.
      loss_fn: how the critic is trained: (critic_fn, real, fake, fake_targets)
        -> (loss, terms), e.g. losses.wgan_gp.conditional_critic_loss with its
        weights bound (unconditional losses ignore fake_targets).
      critic_fn: (images[, targets]) -> scores: the critic as the loss sees it
        (in training mode; for the complement critic, on complementary halves).
      slow_critic: optional copy of the critic moved towards it after every
        update, copy <- (1 - polyak) copy + polyak critic (rewards come from it).
      polyak: that rate.
    """
    self.critic, self.optimizer, self.strategy = critic, optimizer, strategy
    self.loss_fn = loss_fn
    self.critic_fn = critic_fn
    self.slow_critic = slow_critic
    self.polyak = polyak

  def _replica_step(self, real, fake, fake_targets):
    with tf.GradientTape() as tape:
      loss, terms = self.loss_fn(self.critic_fn, real, fake, fake_targets)
      replica_loss = loss / self.strategy.num_replicas_in_sync
    variables = self.critic.trainable_variables
    grads = tape.gradient(replica_loss, variables)
    self.optimizer.apply_gradients(zip(grads, variables))
    if self.slow_critic is not None:
      for slow, live in zip(self.slow_critic.variables, self.critic.variables):
        slow.assign((1.0 - self.polyak) * slow + self.polyak * live)
      # How far the reward's copy lags the critic, relative to the critic's size.
      terms = dict(terms, slow_lag=tf.linalg.global_norm(
          [s - l for s, l in zip(self.slow_critic.variables, self.critic.variables)])
          / tf.linalg.global_norm(self.critic.variables))
    return terms

  @tf.function
  def step(self, real, fake, fake_targets) -> Dict[str, tf.Tensor]:
    """One critic update on distributed (real, fake, fake_targets) batches."""
    terms = self.strategy.run(self._replica_step, args=(real, fake, fake_targets))
    return {k: self.strategy.reduce(tf.distribute.ReduceOp.MEAN, v, axis=None)
            for k, v in terms.items()}
