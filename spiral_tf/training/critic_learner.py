"""The critic learner: updates the discriminator D on real images against replayed renders."""
from typing import Callable, Dict

import tensorflow as tf


class CriticLearner:
  """Applies the gradients of a critic loss (paper eq. 1, section 3.4)."""

  def __init__(self, critic, optimizer, strategy, *, loss_fn: Callable, conditional: bool):
    """Args:
      critic, optimizer, strategy: the network, its Keras optimizer and the
        tf.distribute strategy the learner runs under.
      loss_fn: how the critic is trained: (critic_fn, real, fake, fake_targets)
        -> (loss, terms), e.g. losses.wgan_gp.conditional_critic_loss
        (conditional) or a wrapper of losses.wgan_gp.critic_loss ignoring
        fake_targets (unconditional), with its weights bound.
      conditional: whether the critic scores (image, target) pairs.
    """
    self.critic, self.optimizer, self.strategy = critic, optimizer, strategy
    self.loss_fn = loss_fn
    self.conditional = conditional

  def _critic_fn(self, images, condition=None):
    return self.critic(images, condition) if self.conditional else self.critic(images)

  def _replica_step(self, real, fake, fake_targets):
    with tf.GradientTape() as tape:
      loss, terms = self.loss_fn(self._critic_fn, real, fake, fake_targets)
      replica_loss = loss / self.strategy.num_replicas_in_sync
    variables = self.critic.trainable_variables
    grads = tape.gradient(replica_loss, variables)
    self.optimizer.apply_gradients(zip(grads, variables))
    return terms

  @tf.function
  def step(self, real, fake, fake_targets) -> Dict[str, tf.Tensor]:
    """One critic update on distributed (real, fake, fake_targets) batches."""
    terms = self.strategy.run(self._replica_step, args=(real, fake, fake_targets))
    return {k: self.strategy.reduce(tf.distribute.ReduceOp.MEAN, v, axis=None)
            for k, v in terms.items()}
