"""The critic's loss: WGAN-GP (Gulrajani et al. 2017) plus SPIRAL's centering.

Paper eq. 1: L_D = -E_{x~p_d}[D(x)] + E_{x~p_g}[D(x)] + R, with R the
gradient penalty, plus a term pulling the mean of D over 1/2 p_g + 1/2 p_d
towards 0 (paper section 3.2): the solution of eq. 1 is defined only up to an
additive constant, and D's scores are the policy's rewards.

The critic must score each example on its own (no batch normalisation), as
WGAN-GP requires, so that the gradient of the summed scores is the stack of
the per-example gradients.
"""
from typing import Callable, Tuple

import tensorflow as tf

# WGAN-GP's lambda (Gulrajani et al. 2017, Alg. 1); the paper keeps it.
DEFAULT_GP_WEIGHT = 10.0
# The paper gives no weight for the centering term. The Wasserstein and
# gradient-penalty terms are blind to a constant shift of D (the output bias
# gets no gradient from them), so the centering term alone moves it and,
# under Adam, at the full learning rate whatever the weight; a small weight
# fixes the constant without pulling on the other weights against the
# Wasserstein estimate. 1e-3 is also Progressive GAN's drift-term weight
# (Karras et al. 2018), a similar guard on the critic's offset.
DEFAULT_CENTERING_WEIGHT = 1e-3
# Keeps sqrt differentiable at a zero gradient; below float32's resolution
# of 1, so a unit-norm gradient still gives an exactly zero penalty.
_NORM_EPSILON = 1e-12


def _scores(critic_fn, images, condition):
  """critic_fn(images[, condition]) as [B]."""
  scores = critic_fn(images) if condition is None else critic_fn(images, condition)
  return tf.reshape(scores, [-1])  # [B] (accepts [B] or [B, 1])


def interpolate(real, fake, alpha):
  """x_hat = alpha real + (1 - alpha) fake with one alpha [B] per example."""
  # real, fake: [B, H, W, C]; alpha: [B] broadcast over the image axes.
  alpha = tf.cast(alpha, real.dtype)  # [B]
  image_axes = tf.ones([tf.rank(real) - 1], tf.int32)  # [1, 1, 1]
  alpha = tf.reshape(alpha, tf.concat([tf.shape(alpha), image_axes], 0))  # [B, 1, 1, 1]
  return alpha * real + (1.0 - alpha) * fake


def gradient_penalty(critic_fn: Callable, real, fake, *, condition=None,
                     interpolation_alpha=None, seed=None):
  """E[(||grad_x D(x_hat)||_2 - 1)^2] over random interpolates x_hat (WGAN-GP).

  Args:
    critic_fn: images [B, ...] (, condition) -> scores [B] or [B, 1].
    real, fake: [B, H, W, C] images.
    condition: optional [B, ...] passed unchanged to critic_fn (the target
      image of the conditional critic, eq. 6); the gradient is taken with
      respect to the image only.
    interpolation_alpha: [B] in [0, 1]; None draws it uniformly.
    seed: optional shape-[2] integer seed making that draw stateless.

  Returns:
    The penalty, a scalar; differentiable with respect to the critic's
    variables (the inner gradient is recorded by any enclosing tape).
  """
  real = tf.convert_to_tensor(real)
  fake = tf.convert_to_tensor(fake, real.dtype)
  if interpolation_alpha is None:
    shape = tf.shape(real)[:1]  # [1] = (B,)
    if seed is None:
      interpolation_alpha = tf.random.uniform(shape, dtype=real.dtype)
    else:
      interpolation_alpha = tf.random.stateless_uniform(shape, seed, dtype=real.dtype)
  # The penalty is a soft Lipschitz constraint sampled along lines between
  # p_d and p_g; it constrains D, not the samples.
  x_hat = tf.stop_gradient(interpolate(real, fake, interpolation_alpha))  # [B, H, W, C]
  with tf.GradientTape() as tape:
    tape.watch(x_hat)
    # Examples are scored independently, so d(sum of scores)/dx_hat stacks
    # the per-example gradients.
    total_score = tf.reduce_sum(_scores(critic_fn, x_hat, condition))
  grads = tape.gradient(total_score, x_hat)  # [B, H, W, C]
  grads = tf.reshape(grads, [tf.shape(grads)[0], -1])  # [B, H*W*C]
  norms = tf.sqrt(tf.reduce_sum(tf.square(grads), axis=1) + _NORM_EPSILON)  # [B]
  return tf.reduce_mean(tf.square(norms - 1.0))


def centering_penalty(real_scores, fake_scores):
  """(mean of D over 1/2 p_d + 1/2 p_g)^2: pins eq. 1's free constant (section 3.2)."""
  # real_scores: [B_real], fake_scores: [B_fake]; each half weighs 1/2 even
  # when the batch sizes differ, as in the paper's mixture.
  mix_mean = 0.5 * (tf.reduce_mean(real_scores) + tf.reduce_mean(fake_scores))
  return tf.square(mix_mean)


def critic_loss(critic_fn: Callable, real, fake, *, condition=None,
                gp_weight: float = DEFAULT_GP_WEIGHT,
                centering_weight: float = DEFAULT_CENTERING_WEIGHT,
                interpolation_alpha=None, seed=None) -> Tuple[tf.Tensor, dict]:
  """L_D of paper eq. 1 with the centering term, and its terms.

  L_D = -E[D(real)] + E[D(fake)] + gp_weight * gradient_penalty
        + centering_weight * (1/2 E[D(real)] + 1/2 E[D(fake)])^2.

  Args:
    critic_fn: images [B, ...] (, condition) -> scores [B] or [B, 1].
    real: [B, H, W, C] data images (conditional: the targets themselves,
      since p_d is a Dirac at x_target, eq. 6).
    fake: [B, H, W, C] final renders.
    condition: optional [B, ...] conditioning input for both real and fake.
    gp_weight, centering_weight: the weights above.
    interpolation_alpha, seed: see gradient_penalty.

  Returns:
    (loss scalar, terms) with terms 'wasserstein' (E[D(real)] - E[D(fake)],
    the critic's distance estimate), 'gradient_penalty', 'centering',
    'real_score', 'fake_score' and 'total'.
  """
  real_scores = _scores(critic_fn, real, condition)  # [B]
  fake_scores = _scores(critic_fn, fake, condition)  # [B]
  gp = gradient_penalty(critic_fn, real, fake, condition=condition,
                        interpolation_alpha=interpolation_alpha, seed=seed)
  return _total(real_scores, fake_scores, gp, gp_weight, centering_weight)


def _total(real_scores, fake_scores, gp, gp_weight, centering_weight):
  """(L_D, terms) from the scores [B] and the gradient penalty."""
  terms = {
      "real_score": tf.reduce_mean(real_scores),
      "fake_score": tf.reduce_mean(fake_scores),
      "gradient_penalty": gp,
      "centering": centering_penalty(real_scores, fake_scores),
  }
  terms["wasserstein"] = terms["real_score"] - terms["fake_score"]
  terms["total"] = (-terms["wasserstein"] + gp_weight * terms["gradient_penalty"]
                    + centering_weight * terms["centering"])
  return terms["total"], terms


def conditional_critic_loss(critic_fn: Callable, real, fake, fake_targets, *,
                            gp_weight: float = DEFAULT_GP_WEIGHT,
                            centering_weight: float = DEFAULT_CENTERING_WEIGHT,
                            interpolation_alpha=None, seed=None) -> Tuple[tf.Tensor, dict]:
  """L_D of the conditional critic D(image, target) (paper eq. 6), with its terms.

  p_d is a Dirac at the target, so the real pair is (x, x). Real images and
  renders come with their own targets: each batch is scored against its own
  condition, and the gradient penalty interpolates within each fake's own
  pair, between its target and its render, conditioned on the same target.

  Args:
    critic_fn: (images [B, ...], targets [B, ...]) -> scores [B] or [B, 1].
    real: [B, H, W, C] data images (their own targets).
    fake: [B, H, W, C] renders; fake_targets: [B, H, W, C] their targets.
    gp_weight, centering_weight, interpolation_alpha, seed: as in critic_loss.

  Returns:
    (loss scalar, terms) with the same terms as critic_loss.
  """
  real_scores = _scores(critic_fn, real, real)  # [B]
  fake_scores = _scores(critic_fn, fake, fake_targets)  # [B]
  gp = gradient_penalty(critic_fn, fake_targets, fake, condition=fake_targets,
                        interpolation_alpha=interpolation_alpha, seed=seed)
  return _total(real_scores, fake_scores, gp, gp_weight, centering_weight)
