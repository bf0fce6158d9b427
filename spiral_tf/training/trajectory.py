"""What crosses from actors to learners: one whole episode of one environment."""
from typing import Dict, NamedTuple

import numpy as np
import tensorflow as tf


class Trajectory(NamedTuple):
  """One episode, as sent by an actor (NumPy, leading axis T = episode length)."""
  observations: Dict[str, np.ndarray]  # name -> [T, ...], seen before each action
  actions: Dict[str, np.ndarray]       # name -> [T] int32
  behaviour_log_prob: np.ndarray       # [T] float32, log mu(a_t) over the components that mattered
  final_canvas: np.ndarray             # [S, S, C] float32, the render R(a_1..a_T)
  noise: np.ndarray                    # [D] float32 (D = 0 when conditional)
  policy_version: np.ndarray           # [] int64, learner step of the weights that acted


def tensor_spec(observation_spec, action_spec, episode_length: int, noise_dim: int) -> Trajectory:
  """The tf.TensorSpec of a Trajectory, for tf.data.Dataset.from_generator."""
  t = episode_length
  obs = {k: tf.TensorSpec((t,) + tuple(s.shape), s.dtype) for k, s in observation_spec.items()}
  act = {k: tf.TensorSpec((t,), tf.int32) for k in action_spec}
  canvas = observation_spec["canvas"]
  return Trajectory(obs, act, tf.TensorSpec((t,), tf.float32),
                    tf.TensorSpec(canvas.shape, tf.float32),
                    tf.TensorSpec((noise_dim,), tf.float32), tf.TensorSpec((), tf.int64))


def unstack_batch(observations, actions, log_probs, final_canvas, noise, version):
  """Splits batched episode arrays ([T, B, ...]) into B Trajectory tuples."""
  out = []
  for b in range(final_canvas.shape[0]):
    out.append(Trajectory(
        {k: np.ascontiguousarray(v[:, b]) for k, v in observations.items()},
        {k: np.ascontiguousarray(v[:, b]) for k, v in actions.items()},
        np.ascontiguousarray(log_probs[:, b]), final_canvas[b], noise[b],
        np.int64(version)))
  return out
