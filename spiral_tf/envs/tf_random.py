"""Counter-based random numbers for the TF renderer: a hash, not a state.

Every dab's Gaussians come from hashing (seed, batch row, step, dab index),
so a canvas is exactly reproducible from its seed and does not depend on how
the dabs were chunked or in which order they ran (unlike a stateful
generator), on any device.
"""
import math

import numpy as np
import tensorflow as tf

# libmypaint's Gaussian is (sum of 4 uniforms - 2) * sqrt(3): bounded by 2 sqrt(3).
GAUSS_BOUND = 2.0 * math.sqrt(3.0)


def seed_pair(seed) -> tf.Tensor:
  """An int seed or a [2] pair -> int32 [2]."""
  if isinstance(seed, (int, np.integer)):
    return tf.constant([int(seed) & 0x7FFFFFFF, 0], tf.int32)
  return tf.cast(tf.reshape(seed, [2]), tf.int32)


def mix(x):
  """A 32-bit integer hash (xor-shift-multiply, 'lowbias32' constants): uint32 -> uint32."""
  x = tf.bitwise.bitwise_xor(x, tf.bitwise.right_shift(x, tf.constant(16, tf.uint32)))
  x = x * tf.constant(0x7FEB352D, tf.uint32)
  x = tf.bitwise.bitwise_xor(x, tf.bitwise.right_shift(x, tf.constant(15, tf.uint32)))
  x = x * tf.constant(0x846CA68B, tf.uint32)
  return tf.bitwise.bitwise_xor(x, tf.bitwise.right_shift(x, tf.constant(16, tf.uint32)))


def stroke_keys(seed, step):
  """A random key per row [B] from the seed [2], the row and its step count [B]."""
  u = lambda v: tf.bitcast(tf.cast(v, tf.int32), tf.uint32)  # noqa: E731
  rows = u(tf.range(tf.shape(step)[0]))
  key = mix(u(seed[0]) ^ mix(u(seed[1]) + tf.constant(0x9E3779B9, tf.uint32)))
  return mix(mix(key ^ mix(rows)) ^ u(step))


def gaussians(key, k):
  """Three of libmypaint's Gaussians (4 uniforms each, 16-bit) per dab: [K] keys, [K] dab -> [K, 3]."""
  dab = tf.cast(k, tf.uint32) * tf.constant(6, tf.uint32)
  words = tf.stack([mix(key ^ mix(dab + tf.constant(i, tf.uint32))) for i in range(6)], -1)
  low = tf.bitwise.bitwise_and(words, tf.constant(0xFFFF, tf.uint32))
  high = tf.bitwise.right_shift(words, tf.constant(16, tf.uint32))
  uniform = (tf.cast(tf.concat([low, high], -1), tf.float32) + 0.5) / 65536.0  # [K, 12]
  sums = tf.reduce_sum(tf.reshape(uniform, [-1, 3, 4]), -1)
  return sums * math.sqrt(3.0) - GAUSS_BOUND
