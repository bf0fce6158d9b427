"""The policy's torso: one step's observation, and the noise, as the LSTM core's input.

  canvas (+ target) + (x, y) channels -> 5x5 conv ----------+-> ReLU -> encoder
  prev_action x action_mask -> embeddings -> MLP [64, 32, 32] |   (stride-2 4x4 convs
  noise (unconditional) -> MLP [64, 32, 32] ----------------+    to 8x8, residual
                                                                   blocks) -> dense 256

The other places the unconditional agent's noise may enter (``noise_inputs``)
are built here too: an embedding appended to the core's input ('core') and
one added to the core output the action heads read ('heads').

``TorsoMixin`` is mixed into ``policy.PolicyNetwork`` rather than being a
layer of its own: its layers stay attributes of the policy, so checkpoint
paths (``policy/_input_conv/...``) and the order of ``get_weights()``, on
which actor processes rely when they set the weights the learner published,
are what they were before the torso had a module of its own.
"""
from typing import Sequence

import tensorflow as tf
import tf_keras as keras

from spiral_tf.agents import layers as layers_lib


class TorsoMixin:
  """The torso's layers and passes, for a policy network.

  The host sets, before ``_build_torso``: ``components``, ``num_values``,
  ``grid_sizes``, ``canvas_shape`` (square [S, S, C]), ``conditional``,
  ``noise_dim`` (0 when conditional), ``noise_inputs`` and ``blind``.
  """

  def _build_torso(self, *, conv_channels: int, embed_dim: int,
                   conditioning_hidden: Sequence[int], residual_channels: int,
                   num_residual_blocks: int, encoder_output_size: int, torso_size: int,
                   core_size: int):
    """Creates the torso's and the noise's layers (arguments: see PolicyNetwork).

    The assignments keep their order: it is the order of ``get_weights()``.
    """
    self._input_conv = keras.layers.Conv2D(conv_channels, 5, padding="same", name="input_conv")
    self._prev_embeds = {comp: keras.layers.Dense(embed_dim, name=f"prev_{comp}_embed")
                         for comp in self.components}
    cond_sizes = tuple(conditioning_hidden) + (conv_channels,)
    self._conditioning_mlp = layers_lib.mlp(cond_sizes, "conditioning_mlp")
    noise_places = set(self.noise_inputs) if self.noise_dim else set()
    self._noise_mlp = layers_lib.mlp(cond_sizes, "noise_mlp") if "torso" in noise_places else None
    # The core and the heads read their own embedding of the noise.
    self._noise_core_mlp = (layers_lib.mlp(cond_sizes, "noise_core_mlp")
                            if "core" in noise_places else None)
    self._noise_heads = (keras.layers.Dense(core_size, name="noise_heads")
                         if "heads" in noise_places else None)
    self._encoder = layers_lib.ConvEncoder(
        conv_channels, residual_channels, num_residual_blocks,
        layers_lib.num_halvings(self.canvas_shape[0], encoder_output_size, "canvas size"),
        name="encoder")
    self._torso_linear = keras.layers.Dense(torso_size, name="torso_linear")

  def _conditioning(self, prev_action, action_mask):  # [B, K], [B, K] -> [B, conv_channels]
    prev_action = tf.cast(prev_action, tf.int32)
    action_mask = tf.cast(action_mask, tf.float32)
    embeds = []
    for i, comp in enumerate(self.components):
      features = layers_lib.action_features(prev_action[:, i], self.num_values[comp],
                                            self.grid_sizes.get(comp, 0))
      # Multiplying the embedding (bias included) by the mask makes components
      # the environment ignored have no effect at all.
      embeds.append(self._prev_embeds[comp](features) * action_mask[:, i:i + 1])
    return self._conditioning_mlp(tf.concat(embeds, axis=-1))

  def _torso(self, observation, noise):  # -> [B, torso_size (+ noise embedding)]
    canvas = tf.cast(observation["canvas"], tf.float32)  # [B, S, S, C]
    if self.blind:
      canvas = tf.zeros_like(canvas)
    inputs = [canvas]
    if self.conditional:
      inputs.append(tf.cast(observation["target"], tf.float32))
    size = self.canvas_shape[0]
    inputs.append(layers_lib.coordinate_channels(tf.shape(canvas)[0], size, size))
    h = self._input_conv(tf.concat(inputs, axis=-1))  # [B, S, S, conv_channels]
    cond = self._conditioning(observation["prev_action"], observation["action_mask"])
    if self._noise_mlp is not None:
      cond += self._noise_mlp(noise)
    h = tf.nn.relu(h + cond[:, None, None, :])
    h = self._encoder(h)  # [B, 8, 8, conv_channels], ends with a ReLU
    flat_size = h.shape[1] * h.shape[2] * h.shape[3]
    features = self._torso_linear(tf.reshape(h, [-1, flat_size]))
    if self._noise_core_mlp is not None:
      features = tf.concat([features, self._noise_core_mlp(noise)], axis=-1)
    return features

  def _checked_noise(self, noise):
    """The noise as float32 [B, noise_dim], or None for a conditional agent."""
    if not self.noise_dim:
      return None
    if noise is None:
      raise ValueError(f"the unconditional policy needs noise [B, {self.noise_dim}] "
                       "(one sample per episode); see sample_noise()")
    return tf.cast(noise, tf.float32)

  def _head_input(self, core_output, noise):
    """What the action heads read: the core output, plus the noise's embedding if asked."""
    if self._noise_heads is None:
      return core_output
    return core_output + self._noise_heads(noise)
