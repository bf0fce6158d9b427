"""Building blocks of the SPIRAL networks: MLPs, residual conv stacks, coordinates.

The encoder and decoder follow the released agent (`spiral/agents/utils.py`):
ResNet-v2 style residual blocks (ReLU, 3x3 conv, ReLU, 1x1 conv, add) with
strided 4x4 convolutions to change the resolution by powers of two.
"""
from typing import Sequence

import spiral_tf  # noqa: F401  (selects Keras 2 before TensorFlow loads)
import tensorflow as tf
import tf_keras as keras


def mlp(sizes: Sequence[int], name: str) -> keras.Sequential:
  """Dense layers with ReLU between them and a linear last layer (Sonnet's MLP)."""
  layers = [keras.layers.Dense(n, activation="relu" if i < len(sizes) - 1 else None,
                               name=f"linear_{i}")
            for i, n in enumerate(sizes)]
  return keras.Sequential(layers, name=name)


def num_halvings(size: int, target: int, what: str) -> int:
  """How many stride-2 steps turn ``size`` into ``target``; both powers-of-two apart."""
  factor = size // target
  if target < 1 or factor < 1 or factor * target != size or factor & (factor - 1):
    raise ValueError(f"{what}: {size} is not {target} times a power of two")
  return factor.bit_length() - 1


class ResidualStack(keras.layers.Layer):
  """ResNet-v2 blocks (ReLU, 3x3 conv, ReLU, 1x1 conv, add), then a ReLU."""

  def __init__(self, channels: int, hidden_channels: int, num_blocks: int, **kwargs):
    super().__init__(**kwargs)
    self._convs_3x3 = [keras.layers.Conv2D(hidden_channels, 3, padding="same",
                                           name=f"res_3x3_{i}") for i in range(num_blocks)]
    self._convs_1x1 = [keras.layers.Conv2D(channels, 1, name=f"res_1x1_{i}")
                       for i in range(num_blocks)]

  def call(self, h):  # [B, H, W, channels] -> same
    for conv_3x3, conv_1x1 in zip(self._convs_3x3, self._convs_1x1):
      h += conv_1x1(tf.nn.relu(conv_3x3(tf.nn.relu(h))))
    return tf.nn.relu(h)


class ConvEncoder(keras.layers.Layer):
  """Stride-2 4x4 convs (each halves the side), a 3x3 conv and a residual stack."""

  def __init__(self, channels: int, residual_channels: int, num_residual_blocks: int,
               num_downsamples: int, **kwargs):
    super().__init__(**kwargs)
    self._strided = [keras.layers.Conv2D(channels, 4, strides=2, padding="same",
                                         activation="relu", name=f"strided_{i}")
                     for i in range(num_downsamples)]
    self._pre_stack = keras.layers.Conv2D(channels, 3, padding="same", name="pre_stack")
    self._stack = ResidualStack(channels, residual_channels, num_residual_blocks,
                                name="residual_stack")

  def call(self, h):  # [B, H, W, C] -> [B, H / 2^n, W / 2^n, channels]
    for conv in self._strided:
      h = conv(h)
    return self._stack(self._pre_stack(h))


class ConvDecoder(keras.layers.Layer):
  """3x3 conv, residual stack, stride-2 4x4 transposed convs, 3x3 conv to the output."""

  def __init__(self, channels: int, residual_channels: int, num_residual_blocks: int,
               num_upsamples: int, output_channels: int = 1, **kwargs):
    super().__init__(**kwargs)
    self._pre_stack = keras.layers.Conv2D(channels, 3, padding="same", name="pre_stack")
    self._stack = ResidualStack(channels, residual_channels, num_residual_blocks,
                                name="residual_stack")
    self._strided = [keras.layers.Conv2DTranspose(channels, 4, strides=2, padding="same",
                                                  activation="relu",
                                                  name=f"strided_transpose_{i}")
                     for i in range(num_upsamples)]
    self._final = keras.layers.Conv2D(output_channels, 3, padding="same", name="final")

  def call(self, h):  # [B, h, w, C] -> [B, h * 2^n, w * 2^n, output_channels]
    h = self._stack(self._pre_stack(h))
    for conv in self._strided:
      h = conv(h)
    return self._final(h)


def coordinate_channels(batch_size, height: int, width: int) -> tf.Tensor:
  """[B, H, W, 2] channels (x, y), each running over [-1, 1] (CoordConv-style input)."""
  x = tf.tile(tf.reshape(tf.linspace(-1.0, 1.0, width), [1, 1, width, 1]),
              [batch_size, height, 1, 1])
  y = tf.tile(tf.reshape(tf.linspace(-1.0, 1.0, height), [1, height, 1, 1]),
              [batch_size, 1, width, 1])
  return tf.concat([x, y], axis=-1)


def grid_coordinates(index, grid: int) -> tf.Tensor:
  """Flat grid indices [...] -> (y, x) in [-1, 1], [..., 2]; row = index // grid."""
  index = tf.cast(index, tf.int32)
  scale = 2.0 / float(grid - 1)
  y = tf.cast(index // grid, tf.float32) * scale - 1.0
  x = tf.cast(index % grid, tf.float32) * scale - 1.0
  return tf.stack([y, x], axis=-1)


def action_features(value, num_values: int, grid: int = 0) -> tf.Tensor:
  """Input of a component's embedding: (y, x) for spatial ones (grid > 0), else one-hot.

  Spatial components use coordinates rather than a 1024-way one-hot so that
  neighbouring cells get similar embeddings (released agent).
  """
  if grid:
    return grid_coordinates(value, grid)  # [B, 2]
  return tf.one_hot(tf.cast(value, tf.int32), num_values)  # [B, num_values]
