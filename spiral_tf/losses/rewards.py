"""Rewards for the policy: the l2 reward and the auxiliary penalties.

The environment gives the agent nothing until the last step, where the
reward is the critic's score D(R(a_1..a_N)) (paper eq. 4) or, in the paper's
main ablation, the negative l2 distance to the target. The auxiliary terms
bias the search (paper sections 3.2, 4.3, 4.5): a penalty per new disjoint
stroke and for an empty canvas (MNIST), and the earth mover's distance
between colour histograms (CelebA). The critic's score needs no function:
it is already a [B] reward.

All functions take batches; canvases are [B, H, W, C] floats in [0, 1].
"""
from typing import Callable, Optional

import tensorflow as tf


def _reduce_image_axes(x, reduce_fn):
  """reduce_fn over every axis but the batch axis: [B, ...] -> [B]."""
  return reduce_fn(tf.reshape(x, [tf.shape(x)[0], -1]), axis=1)


def l2_distance(canvas, target):
  """Mean over pixels and channels of (canvas - target)^2, one per example."""
  # canvas, target: [B, H, W, C] -> [B]. A mean, not a sum, so the scale
  # does not depend on the canvas size or the number of channels.
  canvas = tf.convert_to_tensor(canvas)
  target = tf.convert_to_tensor(target, canvas.dtype)
  return _reduce_image_axes(tf.square(canvas - target), tf.reduce_mean)


def l2_reward(canvas, target):
  """-l2_distance(canvas, target): the paper's fixed reward (section 3.3); a scoring function."""
  return -l2_distance(canvas, target)  # [B]


def new_strokes(acted):
  """1 at each step that acts after a step that did not (a new disjoint stroke), else 0."""
  # acted: [T, B] 1 where the step painted. Before the first action the brush
  # has just been placed, so the first action's predecessor counts as a move.
  acted = tf.cast(acted, tf.float32)  # [T, B]
  previous = tf.concat([tf.zeros_like(acted[:1]), acted[:-1]], axis=0)  # [T, B]
  return acted * (1.0 - previous)


def empty_canvas_penalty(canvas, weight: float = 1.0, background=1.0,
                         threshold: float = 0.01):
  """-weight where no pixel differs from the background by more than threshold."""
  # canvas: [B, H, W, C]; background: a scalar, [C] or an [H, W, C] image
  # (white = 1.0 for paper; MuJoCo's empty platform is an image). The
  # largest difference, not the mean, so that one thin stroke already counts
  # as painting; the threshold absorbs libmypaint's fixed-point rounding of
  # an untouched surface.
  canvas = tf.convert_to_tensor(canvas)
  background = tf.cast(background, canvas.dtype)
  largest = _reduce_image_axes(tf.abs(canvas - background), tf.reduce_max)  # [B]
  return -weight * tf.cast(largest <= threshold, canvas.dtype)


def color_histograms(images, bins: int = 32):
  """Per-channel normalised histograms of values in [0, 1]: [B, H, W, C] -> [B, C, bins]."""
  images = tf.convert_to_tensor(images)
  channels = tf.shape(images)[-1]
  values = tf.reshape(images, [tf.shape(images)[0], -1, channels])  # [B, N, C]
  values = tf.transpose(values, [0, 2, 1])  # [B, C, N]
  # Bin i covers [i / bins, (i + 1) / bins); 1.0 falls in the last bin.
  index = tf.clip_by_value(tf.cast(tf.floor(values * bins), tf.int32), 0, bins - 1)
  flat = tf.reshape(index, [-1, tf.shape(index)[-1]])  # [B*C, N]
  counts = tf.math.bincount(flat, minlength=bins, maxlength=bins, axis=-1,
                            dtype=images.dtype)  # [B*C, bins]
  counts = tf.reshape(counts, [tf.shape(images)[0], channels, bins])  # [B, C, bins]
  return counts / tf.reduce_sum(counts, axis=-1, keepdims=True)


def color_histogram_emd(canvas, target, bins: int = 32):
  """Earth mover's distance between colour histograms, averaged over channels."""
  # canvas, target: [B, H, W, C] -> [B]. In 1-D the EMD is the L1 distance
  # between the CDFs times the bin width, so it is in units of intensity
  # (0 .. 1, 1 = all mass moved from black to white). A hard histogram is
  # fine: it is a reward, never differentiated.
  cdf_canvas = tf.cumsum(color_histograms(canvas, bins), axis=-1)  # [B, C, bins]
  cdf_target = tf.cumsum(color_histograms(target, bins), axis=-1)  # [B, C, bins]
  emd = tf.reduce_sum(tf.abs(cdf_canvas - cdf_target), axis=-1) / bins  # [B, C]
  return tf.reduce_mean(emd, axis=-1)


def final_step_rewards(final_reward, num_steps: int):
  """[B] -> [T, B]: zeros, then final_reward at the last step (paper eq. 4)."""
  final_reward = tf.convert_to_tensor(final_reward)
  zeros = tf.zeros([num_steps - 1, tf.shape(final_reward)[0]], final_reward.dtype)
  return tf.concat([zeros, final_reward[None]], axis=0)  # [T, B]


def shaped_rewards(scores):
  """Per-step score differences: [T + 1, B] scores of c_0..c_T -> [T, B] rewards.

  r_t = s(c_t) - s(c_{t-1}) (potential-based shaping, Ng et al. 1999;
  SPIRAL++ section 2.2): the undiscounted return telescopes to
  s(c_T) - s(c_0), so the optimum is unchanged, but credit reaches the step
  that earned it.
  """
  scores = tf.convert_to_tensor(scores)
  return scores[1:] - scores[:-1]


def update_return_moments(moments, returns, decay: float):
  """Running [count > 0, mean, E[x^2]] of episode returns [B]; returns the new moments [3]."""
  moments = tf.convert_to_tensor(moments, tf.float32)
  batch = tf.stack([1.0, tf.reduce_mean(returns), tf.reduce_mean(tf.square(returns))])
  decay = tf.where(moments[0] > 0.0, decay, 0.0)  # the first batch replaces the zeros
  return decay * moments + (1.0 - decay) * batch


def return_std(moments):
  """Standard deviation from running moments [count > 0, mean, E[x^2]]."""
  return tf.sqrt(tf.maximum(moments[2] - tf.square(moments[1]), 0.0))


def auxiliary_rewards(acted, final_canvas, targets=None, *, new_stroke_weight: float = 0.0,
                      empty_canvas_weight: float = 0.0, color_emd_weight: float = 0.0,
                      background=1.0):
  """The auxiliary terms as [T, B] rewards (penalties negative).

  Args:
    acted: [T, B] 1 where the step drew (for new strokes; pass zeros where
      the domain has no strokes).
    final_canvas: [B, H, W, C] the render after the last step.
    targets: optional [B, H, W, C] targets (for the colour EMD).
    new_stroke_weight: charged at the step that starts each disjoint stroke.
    empty_canvas_weight, color_emd_weight: charged at the last step.
    background: the blank canvas (scalar, [C] or [H, W, C]).
  """
  acted = tf.cast(acted, tf.float32)
  aux = -new_stroke_weight * new_strokes(acted)  # [T, B]
  t = tf.shape(acted)[0]
  last = tf.one_hot(t - 1, t)[:, None]  # [T, 1]
  final = tf.zeros_like(acted[0])  # [B]
  if empty_canvas_weight:
    final += empty_canvas_penalty(final_canvas, empty_canvas_weight, background)
  if color_emd_weight and targets is not None:
    final -= color_emd_weight * color_histogram_emd(final_canvas, targets)
  return aux + last * final[None]


def critic_score(critic) -> Callable:
  """The scoring function of the critic reward: D(canvas[, target]), [N]."""
  def score(canvases, targets: Optional[tf.Tensor] = None):
    scores = critic(canvases) if targets is None else critic(canvases, targets)
    return tf.reshape(scores, [-1])
  return score
