"""Autoregressive action heads: one categorical per action component, in spec order.

Paper section 4.2 / docs/design.md: the components of an action are sampled one
after another; after each, the latent ``z`` is updated with that component's
embedding so later heads are conditioned on earlier choices:
``z <- ReLU(z + MLP[16, 32, z_dim](concat(z, embed(a_k))))``.
"""
from typing import Mapping, Optional, Sequence

import spiral_tf  # noqa: F401  (selects Keras 2 before TensorFlow loads)
import tensorflow as tf
import tf_keras as keras

from spiral_tf.agents import layers as layers_lib

SPATIAL_HEADS = ("conv", "dense")
# The conv decoder of a spatial head starts from z reshaped to 4x4 (released agent).
DECODER_START = 4


class AutoregressiveHeads(keras.layers.Layer):
  """Samples (or scores given) action components one after another from ``z``."""

  def __init__(self,
               components: Sequence[str],
               num_values: Mapping[str, int],
               grid_sizes: Mapping[str, int],
               z_dim: int,
               embed_dim: int = 16,
               mlp_hidden: Sequence[int] = (16, 32),
               spatial_head: str = "conv",
               decoder_channels: int = 32,
               decoder_residual_channels: int = 32,
               decoder_residual_blocks: int = 8,
               layer_norm: bool = False,
               **kwargs):
    """Creates the heads.

    Args:
      components: component names in sampling order.
      num_values: number of values of each component.
      grid_sizes: side of the lattice of each spatial component (others absent).
      z_dim: size of the latent the heads read (the core's output).
      embed_dim: size of a sampled component's embedding.
      mlp_hidden: hidden sizes of the MLP producing the residual update of z.
      spatial_head: 'conv' (z -> 4x4 map -> conv decoder, the released agent) or
        'dense' (one dense layer to grid^2 logits; much cheaper on a CPU).
      decoder_channels, decoder_residual_channels, decoder_residual_blocks:
        sizes of the conv decoder.
      layer_norm: each head reads ``z`` layer-normalised. ``z`` is a ReLU
        residual stream with no fixed scale, and its scale is the temperature
        of every head that reads it: left free, a few weights of the earlier
        heads' MLPs swing the spatial heads between one stroke everywhere and
        uniform noise within a hundred updates (docs/design.md, "Stability").
    """
    super().__init__(**kwargs)
    if spatial_head not in SPATIAL_HEADS:
      raise ValueError(f"spatial_head must be one of {SPATIAL_HEADS}, got {spatial_head!r}")
    self.components = tuple(components)
    self.num_values = dict(num_values)
    self.grid_sizes = dict(grid_sizes)
    self._z_dim = int(z_dim)
    self._logit_layers = {}
    for name in self.components:
      grid = self.grid_sizes.get(name, 0)
      if grid and spatial_head == "conv":
        if z_dim % (DECODER_START ** 2):
          raise ValueError(f"z_dim={z_dim} must be a multiple of {DECODER_START ** 2} to "
                           f"reshape to {DECODER_START}x{DECODER_START} for the conv head "
                           f"of {name!r}; use spatial_head='dense'")
        upsamples = layers_lib.num_halvings(
            grid, DECODER_START, f"grid of {name!r} for the conv head (use spatial_head='dense')")
        self._logit_layers[name] = layers_lib.ConvDecoder(
            decoder_channels, decoder_residual_channels, decoder_residual_blocks, upsamples,
            output_channels=1, name=f"{name}_decoder")
      else:
        self._logit_layers[name] = keras.layers.Dense(self.num_values[name],
                                                      name=f"{name}_logits")
    self._norms = ({name: keras.layers.LayerNormalization(name=f"{name}_norm")
                    for name in self.components} if layer_norm else {})
    # No update after the last component: nothing reads it, and unused
    # variables would only get None gradients.
    self._embeds = {name: keras.layers.Dense(embed_dim, name=f"{name}_embed")
                    for name in self.components[:-1]}
    self._residual_mlps = {name: layers_lib.mlp(tuple(mlp_hidden) + (z_dim,), f"{name}_mlp")
                           for name in self.components[:-1]}

  def _logits(self, name: str, z):  # [B, z_dim] -> [B, num_values]
    layer = self._logit_layers[name]
    if name in self._norms:
      z = self._norms[name](z)
    if isinstance(layer, layers_lib.ConvDecoder):
      side = DECODER_START
      maps = layer(tf.reshape(z, [-1, side, side, self._z_dim // side ** 2]))  # [B, g, g, 1]
      # Row-major flattening matches the flat index row * grid + col.
      return tf.reshape(maps, [-1, self.num_values[name]])
    return layer(z)

  def call(self, z, actions: Optional[Mapping[str, tf.Tensor]] = None, greedy: bool = False,
           seed: Optional[tf.Tensor] = None, gumbel: Optional[Mapping[str, tf.Tensor]] = None):
    """Runs the heads on z [B, z_dim].

    Args:
      z: latent from the core, [B, z_dim].
      actions: teacher forcing: if given, {name: [B] int} values used instead
        of sampling (each head is still conditioned on the earlier given ones).
      greedy: take the argmax at every head instead of sampling.
      seed: optional [2] int seed for stateless sampling (reproducible).
      gumbel: optional {name: [B, num_values]} standard Gumbel noise: sample
        argmax(logits + noise) (the Gumbel-max trick), deterministic given it.

    Returns:
      (actions {name: [B] int32}, logits {name: [B, num_values]}), in sampling order.
    """
    seeds = None
    if actions is None and not greedy and seed is not None:
      seeds = tf.random.experimental.stateless_split(seed, num=len(self.components))
    out_actions, out_logits = {}, {}
    for i, name in enumerate(self.components):
      logits = self._logits(name, z)  # [B, n]
      if actions is not None:
        value = tf.cast(actions[name], tf.int32)
      elif greedy:
        value = tf.argmax(logits, axis=-1, output_type=tf.int32)
      elif gumbel is not None:
        value = tf.argmax(logits + tf.cast(gumbel[name], logits.dtype), axis=-1,
                          output_type=tf.int32)
      elif seeds is not None:
        value = tf.random.stateless_categorical(logits, 1, seeds[i], dtype=tf.int32)[:, 0]
      else:
        value = tf.random.categorical(logits, 1, dtype=tf.int32)[:, 0]
      out_actions[name], out_logits[name] = value, logits
      if name in self._embeds:
        features = layers_lib.action_features(value, self.num_values[name],
                                              self.grid_sizes.get(name, 0))
        residual = self._residual_mlps[name](tf.concat([z, self._embeds[name](features)], -1))
        # ReLU written as a maximum: TF 2.21's oneDNN remapper fuses
        # relu(z + matmul) into a node its MLIR pass then rejects, logging an
        # error at every trace. Same values; speed measured unchanged.
        z = tf.maximum(z + residual, 0.0)
    return out_actions, out_logits

