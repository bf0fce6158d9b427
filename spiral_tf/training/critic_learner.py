"""The critic learner: WGAN-GP on real images against replayed final renders."""
from typing import Dict

import tensorflow as tf

from spiral_tf.losses import wgan_gp


class CriticLearner:
  """Updates the Wasserstein critic D (paper eq. 1, section 3.4)."""

  def __init__(self, critic, optimizer, strategy, *, conditional: bool,
               gradient_penalty_weight: float = 10.0, centering_weight: float = 1e-3):
    self.critic, self.optimizer, self.strategy = critic, optimizer, strategy
    self.conditional = conditional
    self.gp_weight = gradient_penalty_weight
    self.centering_weight = centering_weight

  def _replica_step(self, real, fake, fake_targets):
    if self.conditional:
      # p_d is a Dirac at the target (eq. 6): the real pair is (x, x). Real
      # images and renders come with their own targets, so score each batch
      # against its own condition.
      critic_fn = lambda images, condition: self.critic(images, condition)
      with tf.GradientTape() as tape:
        real_scores = self.critic(real, real)
        fake_scores = self.critic(fake, fake_targets)
        # Interpolate within each fake's own pair: x_hat between its target and
        # its render, conditioned on the same target.
        gp = wgan_gp.gradient_penalty(critic_fn, fake_targets, fake, condition=fake_targets)
        centering = wgan_gp.centering_penalty(real_scores, fake_scores)
        wasserstein = tf.reduce_mean(real_scores) - tf.reduce_mean(fake_scores)
        loss = -wasserstein + self.gp_weight * gp + self.centering_weight * centering
        replica_loss = loss / self.strategy.num_replicas_in_sync
      terms = dict(wasserstein=wasserstein, gradient_penalty=gp, centering=centering,
                   real_score=tf.reduce_mean(real_scores),
                   fake_score=tf.reduce_mean(fake_scores), total=loss)
    else:
      with tf.GradientTape() as tape:
        loss, terms = wgan_gp.critic_loss(
            self.critic, real, fake, gp_weight=self.gp_weight,
            centering_weight=self.centering_weight)
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
