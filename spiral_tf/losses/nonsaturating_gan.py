"""The non-saturating GAN loss for the critic (Goodfellow et al. 2014; SPIRAL++ section 2.1).

L_D = E_real[softplus(-D(x))] + E_fake[softplus(D(x))], with D a logit:
the cross-entropy of a real/fake classifier. SPIRAL++ replaced WGAN-GP by it,
with spectral normalisation as the regulariser, and reports it as their main
gain in fidelity. Its reward is the logit D(x) itself (log-odds of "real"),
which, unlike log sigmoid D(x), does not saturate when the critic is sure.
"""
from typing import Callable, Tuple

import tensorflow as tf


def _scores(critic_fn, images, condition):
  scores = critic_fn(images) if condition is None else critic_fn(images, condition)
  return tf.reshape(scores, [-1])  # [B]


def _total(real_logits, fake_logits):
  """(L_D, terms) from the logits [B] of real and fake examples."""
  real_loss = tf.reduce_mean(tf.nn.softplus(-real_logits))  # -log sigmoid(D(real))
  fake_loss = tf.reduce_mean(tf.nn.softplus(fake_logits))   # -log (1 - sigmoid(D(fake)))
  terms = {"real_score": tf.reduce_mean(real_logits), "fake_score": tf.reduce_mean(fake_logits),
           "real_loss": real_loss, "fake_loss": fake_loss}
  # The same name as WGAN-GP's distance estimate, for one curve in TensorBoard.
  terms["wasserstein"] = terms["real_score"] - terms["fake_score"]
  terms["total"] = real_loss + fake_loss
  return terms["total"], terms


def critic_loss(critic_fn: Callable, real, fake, *, condition=None) -> Tuple[tf.Tensor, dict]:
  """L_D on real and fake images [B, H, W, C] (the same optional condition for both)."""
  return _total(_scores(critic_fn, real, condition), _scores(critic_fn, fake, condition))


def conditional_critic_loss(critic_fn: Callable, real, fake, fake_targets) -> Tuple[tf.Tensor, dict]:
  """L_D of the conditional critic: real pairs (x, x), fake pairs (render, its target)."""
  return _total(_scores(critic_fn, real, real), _scores(critic_fn, fake, fake_targets))
