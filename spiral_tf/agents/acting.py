"""Acting: a policy plays whole episodes on a batch of environments.

``ActorOutput`` is what crosses from an actor to the learners, documented
once here, in one layout from the actor to the learner's input: batch-major,
``[B, T, ...]`` (B episodes of T steps), the layout tf.data batches and
tf.distribute splits across replicas. The learner makes it time-major
(``[T, B]``) once, for the losses.

``EpisodeCollector`` is used by actor processes, held-out evaluation and the
tools alike.
"""
from typing import Dict, NamedTuple, Optional

import numpy as np
import tensorflow as tf


class ActorOutput(NamedTuple):
  """A batch of whole episodes, batch-major (NumPy in actors, tensors in learners)."""
  observations: Dict[str, np.ndarray]  # name -> [B, T, ...], seen before each action
  actions: Dict[str, np.ndarray]       # name -> [B, T] int32
  behaviour_log_prob: np.ndarray       # [B, T] float32, log mu(a_t) over the components that mattered
  final_canvas: np.ndarray             # [B, S, S, C] float32, the render R(a_1..a_T)
  noise: np.ndarray                    # [B, D] float32 (D = 0 when conditional)
  policy_version: np.ndarray           # [B] int64, learner step of the weights that acted


def tensor_spec(observation_spec, action_spec, episode_length: int,
                noise_dim: int) -> ActorOutput:
  """The tf.TensorSpec of an ActorOutput with any number of episodes (B = None)."""
  t = episode_length
  obs = {k: tf.TensorSpec((None, t) + tuple(s.shape), s.dtype)
         for k, s in observation_spec.items()}
  act = {k: tf.TensorSpec((None, t), tf.int32) for k in action_spec}
  canvas = tuple(observation_spec["canvas"].shape)
  return ActorOutput(obs, act, tf.TensorSpec((None, t), tf.float32),
                     tf.TensorSpec((None,) + canvas, tf.float32),
                     tf.TensorSpec((None, noise_dim), tf.float32), tf.TensorSpec((None,), tf.int64))


def canvases(output: ActorOutput):
  """Every canvas of each episode, blank to final: [B, T + 1, S, S, C]."""
  return tf.concat([output.observations["canvas"], output.final_canvas[:, None]], axis=1)


class EpisodeCollector:
  """Plays one episode on every environment of a batched env with one policy."""

  def __init__(self, env, policy, rules, greedy: bool = False, seed: int = 0,
               sampling_seed: Optional[int] = None):
    """Args:
      env: a batched environment (``program_env.batched``) of B environments.
      policy: an ``agents.policy.PolicyNetwork`` built from the env's specs.
      rules: the environment's ``action_rules``.
      greedy: take each component's most likely value instead of sampling.
      seed: for the unconditional agent's noise.
      sampling_seed: if given, sampled actions are reproducible: the k-th
        step this collector takes samples with the stateless seed
        (sampling_seed, k). None (actors) samples from TF's global generator.
    """
    self.env = env
    self.policy = policy
    self.rules = rules
    self.batch_size = env.batch_size
    self._rng = np.random.default_rng(seed)
    self._greedy = greedy
    self._sampling_seed = sampling_seed
    self._steps_taken = 0
    self._step_fn = tf.function(self._policy_step)

  def _policy_step(self, observation, state, noise, seed=None):
    out, state = self.policy.step(observation, state, noise, greedy=self._greedy, seed=seed)
    masks = self.rules.masks(out.actions)  # [B, K]
    log_prob = tf.add_n([out.log_probs[k] * masks[:, i]
                         for i, k in enumerate(self.rules.components)])  # [B]
    return out.actions, log_prob, state

  def collect(self, policy_version: int = -1) -> ActorOutput:
    """One episode on every environment, as an ActorOutput of NumPy arrays."""
    step = self.env.reset()
    state = self.policy.initial_state(self.batch_size)
    noise = self._rng.standard_normal((self.batch_size, self.policy.noise_dim)).astype(np.float32)
    noise_in = tf.constant(noise) if self.policy.noise_dim else None
    observations = {k: [] for k in step.observation}
    actions = {k: [] for k in self.rules.components}
    log_probs = []
    for _ in range(self.episode_length):
      for k, v in step.observation.items():
        observations[k].append(v)
      seed = None
      if self._sampling_seed is not None and not self._greedy:
        seed = tf.constant([self._sampling_seed, self._steps_taken], tf.int64)
      self._steps_taken += 1
      act, log_prob, state = self._step_fn(step.observation, state, noise_in, seed)
      act = {k: v.numpy() for k, v in act.items()}
      for k, v in act.items():
        actions[k].append(v)
      log_probs.append(log_prob.numpy())
      step = self.env.step(act)
    if not np.all(step.is_last()):
      raise RuntimeError(f"episode did not end after {self.episode_length} steps")
    stack = lambda d: {k: np.stack(v, axis=1) for k, v in d.items()}  # [B, T, ...]
    return ActorOutput(stack(observations), stack(actions),
                       np.stack(log_probs, axis=1).astype(np.float32),
                       np.asarray(step.observation["canvas"]), noise,
                       np.full([self.batch_size], policy_version, np.int64))

  @property
  def episode_length(self) -> int:
    """Steps per episode, read from the environment's observation spec."""
    return int(self.env.observation_spec()["step"].maximum)
