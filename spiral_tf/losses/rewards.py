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
from typing import Mapping, Tuple

import tensorflow as tf

PAINT = 1  # the flag value of a paint action (0 moves the brush), as in envs/.


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
  """-l2_distance(canvas, target): the paper's fixed reward (section 3.3)."""
  return -l2_distance(canvas, target)  # [B]


def new_strokes(flags):
  """1 at each paint action whose previous action was not a paint, else 0."""
  # flags: [T, B] -> [T, B]. Before the first action the brush has just been
  # placed, so the first action's predecessor counts as a move.
  is_paint = tf.cast(tf.equal(tf.cast(flags, tf.int32), PAINT), tf.float32)  # [T, B]
  previous = tf.concat([tf.zeros_like(is_paint[:1]), is_paint[:-1]], axis=0)  # [T, B]
  return is_paint * (1.0 - previous)


def new_stroke_penalty(flags, weight: float = 1.0):
  """-weight * number of new disjoint strokes of each episode (section 4.3)."""
  # flags: [T, B] -> [B]. Rewards drawing in one continuous motion.
  return -weight * tf.reduce_sum(new_strokes(flags), axis=0)


def empty_canvas_penalty(canvas, weight: float = 1.0, background=1.0,
                         threshold: float = 0.01):
  """-weight where no pixel differs from the background by more than threshold."""
  # canvas: [B, H, W, C]; background: a scalar or [C] (white = 1.0, as in
  # envs/). The largest difference, not the mean, so that one thin stroke
  # already counts as painting; the threshold absorbs libmypaint's
  # fixed-point rounding of an untouched surface.
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


def combine_rewards(reward, terms: Mapping[str, tf.Tensor],
                    weights: Mapping[str, float]) -> Tuple[tf.Tensor, dict]:
  """reward + sum_k weights[k] * terms[k], and the weighted terms for summaries.

  Args:
    reward: [B] the main reward (critic score or l2_reward).
    terms: {name: [B]} auxiliary rewards, signed as rewards (penalties
      negative; pass -color_histogram_emd for the CelebA penalty).
    weights: {name: weight} naming every term.

  Returns:
    (total [B], {name: weighted term [B]}).
  """
  missing = [k for k in terms if k not in weights]
  if missing:
    raise ValueError(f"weights lack term(s) {missing}; got {sorted(weights)}")
  reward = tf.convert_to_tensor(reward)
  weighted = {k: weights[k] * tf.cast(v, reward.dtype) for k, v in terms.items()}
  total = reward
  for value in weighted.values():
    total = total + value
  return total, weighted
