"""The SPIRAL policy network (π): conv torso, LSTM core, autoregressive heads, value.

Architecture of the released agent (docs/design.md "Agent network", paper sections
3 and 4.2), built from the environment's specs:

  observation (+ noise) -> torso (agents/torso.py: convs, encoder, dense 256)
  -> LSTM 256 -> z -> heads in spec order (agents/heads.py; each sampled component
                      updates z)
                 -> value (dense 1)

Interface used by the actors and learners (documented here once):
  * ``initial_state(batch_size)`` -> LSTM state ``(h, c)``, each [B, core_size].
  * ``step(observation, state, noise, greedy=False)`` -> ``(PolicyOutput, state)``
    for one time step of a batch ([B, ...] tensors).
  * ``unroll(observations, actions, initial_state, noise)`` -> ``PolicyOutput``
    of [T, B] tensors, teacher-forced on the given actions (the learner's
    forward pass); its log-probs equal those ``step`` gave when sampling them.
The LSTM state is reset to zeros wherever an observation's ``step`` is 0
(episode start), or where an explicit ``reset`` flag says so.

``noise_inputs`` can also feed the noise to the LSTM core and to the heads
(the paper feeds it to the torso only): RESULTS.md (Unconditional MNIST
generation) records the greedy policy of a torso-only agent ignoring its noise.
"""
import collections
import math
from typing import Mapping, Optional, Sequence, Tuple

import spiral_tf  # noqa: F401  (selects Keras 2 before TensorFlow loads)
import tensorflow as tf
import tensorflow_probability as tfp
import tf_keras as keras

from spiral_tf.agents import heads as heads_lib
from spiral_tf.agents import torso as torso_lib

NOISE_INPUTS = ("torso", "core", "heads")


class PolicyOutput(collections.namedtuple(
    "PolicyOutput", ["actions", "log_probs", "entropies", "baseline"])):
  """What the policy emits per step: dicts {component: [B] or [T, B]} and baseline.

  Fields:
    actions: {name: int32} sampled (step) or given (unroll) components.
    log_probs: {name: float32} log π(a_k | s, a_<k) of each component.
    entropies: {name: float32} entropy of each component's distribution.
    baseline: float32 value estimate V(s).
  """


class PolicyNetwork(torso_lib.TorsoMixin, keras.Model):
  """Recurrent SPIRAL agent; see the module docstring for the interface."""

  def __init__(self,
               observation_spec: Mapping,
               action_spec: Mapping,
               *,
               conv_channels: int = 32,
               num_residual_blocks: int = 8,
               residual_channels: int = 32,
               encoder_output_size: int = 8,
               embed_dim: int = 16,
               conditioning_hidden: Sequence[int] = (64, 32),
               noise_dim: int = 10,
               torso_size: int = 256,
               core_size: int = 256,
               head_mlp_hidden: Sequence[int] = (16, 32),
               spatial_head: str = "conv",
               decoder_channels: int = 32,
               decoder_residual_blocks: int = 8,
               heads_layer_norm: bool = False,
               spatial_components: Sequence[str] = (),
               blind: bool = False,
               noise_inputs: Sequence[str] = ("torso",),
               name: str = "policy"):
    """Builds the network (variables included) from the environment's specs.

    Args:
      observation_spec: mapping with 'canvas' [S, S, C], 'action_mask' [K],
        'prev_action' [K], optionally 'step' [] and 'target' [S, S, C]
        (present = conditional agent).
      action_spec: ordered mapping of scalar int specs with minimum 0, in
        sampling order.
      conv_channels: channels of the 5x5 input conv and the encoder.
      num_residual_blocks, residual_channels: encoder residual stack.
      encoder_output_size: side of the encoder's output map (8 in the paper).
      embed_dim: size of each previous-action component embedding.
      conditioning_hidden: hidden sizes of the conditioning (and noise) MLPs;
        their output has ``conv_channels`` units (MLP [64, 32, 32]).
      noise_dim: size of the per-episode Gaussian noise (unconditional only;
        the conditional agent takes no noise and ``noise_dim`` becomes 0).
      torso_size: dense layer after the encoder.
      core_size: LSTM size = z_dim read by the heads.
      head_mlp_hidden: hidden sizes of the heads' residual MLP [16, 32, z_dim].
      spatial_head: 'conv' (released agent) or 'dense' (cheap, CPU-sized).
      decoder_channels, decoder_residual_blocks: conv decoder of spatial heads.
      heads_layer_norm: every action head reads its latent layer-normalised
        (see AutoregressiveHeads).
      spatial_components: names of components that are flat grid indices;
        those present in ``action_spec`` must have a square number of values.
      blind: the policy does not see intermediate canvases (the canvas input
        is zeroed; a target is still seen).
      noise_inputs: where the unconditional agent's noise enters, any of
        'torso' (the paper: the noise MLP's output is added to the first
        conv layer's features), 'core' (an embedding of the noise is also
        an input of the LSTM at every step) and 'heads' (an embedding of the
        noise is added to the core output the action heads read). Ignored
        by a conditional agent.
      name: Keras name.
    """
    super().__init__(name=name)
    self.components = tuple(action_spec)
    self.num_values, self.grid_sizes = {}, {}
    for comp, spec in action_spec.items():
      if tuple(spec.shape) != () or int(spec.minimum) != 0:
        raise ValueError(f"action component {comp!r} must be a scalar with minimum 0, "
                         f"got shape {tuple(spec.shape)} and minimum {spec.minimum}")
      self.num_values[comp] = int(spec.maximum) + 1
      if comp in spatial_components:
        grid = math.isqrt(self.num_values[comp])
        if grid * grid != self.num_values[comp] or grid < 2:
          raise ValueError(f"spatial component {comp!r} has {self.num_values[comp]} values, "
                           "not a square grid of side >= 2")
        self.grid_sizes[comp] = grid
    num_components = len(self.components)
    for key in ("prev_action", "action_mask"):
      if tuple(observation_spec[key].shape) != (num_components,):
        raise ValueError(f"observation {key!r} has shape {tuple(observation_spec[key].shape)}; "
                         f"expected ({num_components},) for components {self.components}")
    canvas_shape = tuple(int(d) for d in observation_spec["canvas"].shape)
    if len(canvas_shape) != 3 or canvas_shape[0] != canvas_shape[1]:
      raise ValueError(f"canvas must be square [S, S, C], got {canvas_shape}")
    self.observation_spec = dict(observation_spec)
    self.canvas_shape = canvas_shape
    self.conditional = "target" in observation_spec
    self.noise_dim = 0 if self.conditional else int(noise_dim)
    self.noise_inputs = tuple(noise_inputs)
    unknown = sorted(set(self.noise_inputs) - set(NOISE_INPUTS))
    if unknown or not self.noise_inputs:
      raise ValueError(f"noise_inputs must be a non-empty subset of {NOISE_INPUTS}, "
                       f"got {tuple(noise_inputs)}")
    self.core_size = int(core_size)
    self.blind = bool(blind)

    self._build_torso(conv_channels=conv_channels, embed_dim=embed_dim,
                      conditioning_hidden=conditioning_hidden,
                      residual_channels=residual_channels,
                      num_residual_blocks=num_residual_blocks,
                      encoder_output_size=encoder_output_size, torso_size=torso_size,
                      core_size=core_size)
    self._core = keras.layers.LSTMCell(core_size, name="core")
    self._heads = heads_lib.AutoregressiveHeads(
        self.components, self.num_values, self.grid_sizes, core_size, embed_dim=embed_dim,
        mlp_hidden=head_mlp_hidden, spatial_head=spatial_head,
        decoder_channels=decoder_channels, decoder_residual_channels=residual_channels,
        decoder_residual_blocks=decoder_residual_blocks, layer_norm=heads_layer_norm,
        name="heads")
    self._value = keras.layers.Dense(1, name="value")
    self._create_variables()

  def _create_variables(self):
    """Runs one step on zeros so every variable exists before any tf.function/scan."""
    observation = {key: tf.zeros((1,) + tuple(spec.shape), tf.as_dtype(spec.dtype))
                   for key, spec in self.observation_spec.items()}
    noise = tf.zeros([1, self.noise_dim]) if self.noise_dim else None
    self.step(observation, self.initial_state(1), noise, greedy=True)
    self.built = True

  def call(self, inputs, training=None):  # pylint: disable=unused-argument
    """Keras entry point: ``inputs = (observation, state, noise)`` -> ``step`` (sampling)."""
    observation, state, noise = inputs
    return self.step(observation, state, noise)

  def initial_state(self, batch_size) -> Tuple[tf.Tensor, tf.Tensor]:
    """Zero LSTM state (h, c), each [B, core_size]."""
    zeros = tf.zeros([batch_size, self.core_size], tf.float32)
    return (zeros, zeros)

  def sample_noise(self, batch_size, seed=None) -> Optional[tf.Tensor]:
    """Per-episode noise [B, noise_dim] ~ N(0, I) (None for a conditional agent)."""
    if not self.noise_dim:
      return None
    if seed is not None:
      return tf.random.stateless_normal([batch_size, self.noise_dim], seed)
    return tf.random.normal([batch_size, self.noise_dim])

  def _core_step(self, inputs, state, reset):
    """One LSTM step; rows where ``reset`` [B] is true start from the zero state."""
    h, c = state
    if reset is not None:
      keep = 1.0 - tf.cast(reset, tf.float32)[:, None]  # [B, 1]
      h, c = h * keep, c * keep
    output, (h, c) = self._core(inputs, [h, c])
    return output, (h, c)

  @staticmethod
  def _reset_flags(observation, reset):
    if reset is None and "step" in observation:
      reset = tf.equal(observation["step"], 0)  # episode start
    return reset

  def _outputs(self, actions, logits, core_output) -> PolicyOutput:
    log_probs, entropies = {}, {}
    for comp in self.components:
      dist = tfp.distributions.Categorical(logits=logits[comp])
      log_probs[comp] = dist.log_prob(actions[comp])
      entropies[comp] = dist.entropy()
    baseline = tf.squeeze(self._value(core_output), -1)
    return PolicyOutput(actions, log_probs, entropies, baseline)

  def step(self, observation: Mapping[str, tf.Tensor], state, noise=None, greedy: bool = False,
           seed=None, reset=None, gumbel=None):
    """One time step for a batch.

    Args:
      observation: dict of [B, ...] tensors following ``observation_spec``.
      state: LSTM state (h, c) from ``initial_state`` or the previous step.
      noise: [B, noise_dim] per-episode noise (unconditional), else None.
      greedy: argmax at every head (still autoregressive) instead of sampling.
      seed: optional [2] int seed for stateless (reproducible) sampling.
      reset: optional [B] bool; defaults to ``observation['step'] == 0``.
      gumbel: optional {component: [B, num_values]} Gumbel noise: sample by
        argmax(logits + noise), deterministic given the noise (LiteRT export).

    Returns:
      (PolicyOutput with [B] tensors, new state (h, c)).
    """
    actions, logits, core_output, state = self.act(observation, state, noise, greedy, seed,
                                                   reset, gumbel)
    return self._outputs(actions, logits, core_output), state

  def act(self, observation: Mapping[str, tf.Tensor], state, noise=None, greedy: bool = False,
          seed=None, reset=None, gumbel=None):
    """``step`` before its log-probs: (actions {c: [B]}, logits {c: [B, n]}, core output, state)."""
    noise = self._checked_noise(noise)
    features = self._torso(observation, noise)  # [B, torso_size (+ noise embedding)]
    core_output, state = self._core_step(features, state, self._reset_flags(observation, reset))
    actions, logits = self._heads(self._head_input(core_output, noise), greedy=greedy, seed=seed,
                                  gumbel=gumbel)
    return actions, logits, core_output, state

  def core_input_stats(self, observation: Mapping[str, tf.Tensor], noise=None) -> dict:
    """Diagnostics of one batch of first steps [B, ...]: how hard the torso drives the LSTM.

    'torso_abs' is the mean |torso output|; 'gate_saturation' the fraction
    of the LSTM's gate pre-activations (from the zero state) beyond +-4, where
    sigmoid and tanh pass almost no gradient.
    """
    noise = self._checked_noise(noise)
    features = self._torso(observation, noise)
    gates = tf.matmul(features, self._core.kernel) + self._core.bias
    return {"torso_abs": tf.reduce_mean(tf.abs(features)),
            "gate_saturation": tf.reduce_mean(tf.cast(tf.abs(gates) > 4.0, tf.float32))}

  def unroll(self, observations: Mapping[str, tf.Tensor], actions: Mapping[str, tf.Tensor],
             initial_state, noise=None, reset=None, return_state: bool = False):
    """Teacher-forced pass over a trajectory (the learner's forward pass).

    Args:
      observations: dict of [T, B, ...] tensors.
      actions: {name: [T, B]} actions taken; every head is conditioned on the
        given earlier components, so log-probs match those of ``step``.
      initial_state: LSTM state (h, c) before the first step, each [B, core_size].
      noise: [B, noise_dim] (one per episode) or [T, B, noise_dim], or None.
      reset: optional [T, B] bool; defaults to ``observations['step'] == 0``.
      return_state: also return the state after the last step.

    Returns:
      PolicyOutput of [T, B] tensors (and the final state if ``return_state``).
    """
    time_batch = tf.shape(observations["canvas"])[:2]  # [T, B]

    def merge(x):  # [T, B, ...] -> [T * B, ...]
      x = tf.convert_to_tensor(x)
      if x.shape[2:].is_fully_defined():  # keep static shapes for the convs
        return tf.reshape(x, [-1] + x.shape[2:].as_list())
      return tf.reshape(x, tf.concat([[-1], tf.shape(x)[2:]], 0))

    flat_obs = {key: merge(value) for key, value in observations.items()}
    if noise is not None and self.noise_dim:
      noise = tf.convert_to_tensor(noise, tf.float32)
      if noise.shape.rank == 2:  # the same sample at every step of the episode
        noise = tf.broadcast_to(noise[None], [time_batch[0], time_batch[1], self.noise_dim])
      noise = merge(noise)
    noise = self._checked_noise(noise)
    # The torso has no recurrence: run it once on all T * B frames.
    features = self._torso(flat_obs, noise)  # [T * B, torso_size (+ noise embedding)]
    features = tf.reshape(features, tf.concat([time_batch, [-1]], 0))  # [T, B, torso_size]
    reset = self._reset_flags(observations, reset)
    if reset is None:
      reset = tf.zeros(time_batch, tf.bool)

    def core_fn(state, inputs):
      return self._core_step(inputs[0], state, inputs[1])[1]

    hs, cs = tf.scan(core_fn, (features, reset), initializer=tuple(initial_state))  # [T, B, H]
    core_output = tf.reshape(hs, [-1, self.core_size])  # LSTM output == h
    flat_actions = {comp: tf.reshape(tf.cast(actions[comp], tf.int32), [-1])
                    for comp in self.components}
    _, logits = self._heads(self._head_input(core_output, noise), actions=flat_actions)
    flat = self._outputs(flat_actions, logits, core_output)
    output = tf.nest.map_structure(lambda x: tf.reshape(x, time_batch), flat)
    if return_state:
      return output, (hs[-1], cs[-1])
    return output
