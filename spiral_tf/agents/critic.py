"""The SPIRAL critic D: a DCGAN-like CNN Wasserstein discriminator (paper section 3.2).

It scores images with a real number (higher = more like the data); trained
with WGAN-GP, whose gradient penalty is per sample, so there is no batch
normalisation (it would mix samples). Layer normalisation is optional, as in
Gulrajani et al. (2017). The conditional critic (section 3.3) scores an
(image, target) pair by stacking their channels.
"""
from typing import Sequence, Tuple

import spiral_tf  # noqa: F401  (selects Keras 2 before TensorFlow loads)
import tensorflow as tf
import tf_keras as keras


class Critic(keras.Model):
  """``critic(images, targets=None) -> [B]`` scores; see the module docstring."""

  def __init__(self,
               image_shape: Tuple[int, int, int],
               *,
               conditional: bool = False,
               channels: Sequence[int] = (64, 128, 256, 512),
               leaky_slope: float = 0.2,
               layer_norm: bool = False,
               spectral_norm: bool = False,
               name: str = "critic"):
    """Builds the critic (variables included).

    Args:
      image_shape: [H, W, C] of the images scored (64x64 in the paper).
      conditional: score (image, target) pairs; ``targets`` is then required.
      channels: channels of the stride-2 4x4 convs; the default takes 64x64
        down to 4x4 (DCGAN), then a dense layer gives the score.
      leaky_slope: negative slope of the leaky ReLUs (DCGAN's 0.2).
      layer_norm: layer-normalise after every conv but the first.
      spectral_norm: divide every layer's kernel by its largest singular value
        (Miyato et al. 2018; one power iteration per training call), the
        regulariser SPIRAL++ pairs with the non-saturating GAN loss.
      name: Keras name.
    """
    super().__init__(name=name)
    self.image_shape = tuple(int(d) for d in image_shape)
    self.conditional = bool(conditional)
    self._leaky_slope = float(leaky_slope)
    wrap = keras.layers.SpectralNormalization if spectral_norm else (lambda layer: layer)
    self._convs = [wrap(keras.layers.Conv2D(c, 4, strides=2, padding="same", name=f"conv_{i}"))
                   for i, c in enumerate(channels)]
    # DCGAN leaves the first layer unnormalised: it sees raw pixels.
    # GroupNormalization with one group normalises each sample over (H, W, C)
    # with a per-channel scale and offset: layer normalisation for conv maps.
    self._norms = [keras.layers.GroupNormalization(groups=1, epsilon=1e-5, name=f"norm_{i}")
                   if layer_norm and i > 0 else None
                   for i in range(len(channels))]
    self._score = wrap(keras.layers.Dense(1, name="score"))
    images = tf.zeros((1,) + self.image_shape)
    self(images, images if self.conditional else None)  # creates the variables

  def call(self, images, targets=None, training=False):  # pylint: disable=arguments-differ
    """Scores images [B, H, W, C] (and targets [B, H, W, C] if conditional) -> [B].

    ``training``: the critic learner's calls; spectral normalisation runs its
    power iteration only then.
    """
    if self.conditional and targets is None:
      raise ValueError("the conditional critic scores (image, target) pairs: pass targets")
    if not self.conditional and targets is not None:
      raise ValueError("the unconditional critic takes no targets (built with conditional=False)")
    h = tf.cast(images, tf.float32)
    if targets is not None:
      h = tf.concat([h, tf.cast(targets, tf.float32)], axis=-1)  # [B, H, W, 2C]
    for conv, norm in zip(self._convs, self._norms):
      h = conv(h, training=training)
      if norm is not None:
        h = norm(h)
      h = tf.nn.leaky_relu(h, self._leaky_slope)
    flat_size = h.shape[1] * h.shape[2] * h.shape[3]
    return tf.squeeze(self._score(tf.reshape(h, [-1, flat_size]), training=training), -1)
