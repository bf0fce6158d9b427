"""Exports the policy's step as a SavedModel usable without spiral_tf's Python code.

The SavedModel holds three tf.functions with explicit input signatures
(batch dimension None):
  * ``initial_state(batch_size)`` -> (h, c);
  * ``greedy_step(observation, state[, noise])`` and
    ``sample_step(observation, state[, noise])`` -> dict with 'actions',
    'log_probs', 'entropies' ({component: [B]}), 'baseline' [B] and 'state'.
``noise`` is an argument only for the unconditional policy. ``noise_dim`` and
``components`` are stored as variables for callers that need them.
"""
import os
import shutil
import tempfile

import spiral_tf  # noqa: F401  (selects Keras 2 before TensorFlow loads)
import tensorflow as tf


def policy_step_signature(policy):
  """Input signature of a step: (observation specs, state specs[, noise spec]), batch None."""
  observation = {key: tf.TensorSpec((None,) + tuple(spec.shape), tf.as_dtype(spec.dtype),
                                    name=key)
                 for key, spec in policy.observation_spec.items()}
  state = (tf.TensorSpec([None, policy.core_size], tf.float32, name="state_h"),
           tf.TensorSpec([None, policy.core_size], tf.float32, name="state_c"))
  if policy.noise_dim:
    return (observation, state, tf.TensorSpec([None, policy.noise_dim], tf.float32, name="noise"))
  return (observation, state)


class _ExportedPolicy(tf.Module):
  """The step functions, closing over the policy's variables."""

  def __init__(self, policy):
    super().__init__(name="exported_policy")
    # Tracking the variables (not the Keras model) keeps Keras' own
    # serialisation of every layer out of the SavedModel.
    self.policy_variables = list(policy.variables)
    self.noise_dim = tf.Variable(policy.noise_dim, trainable=False, name="noise_dim")
    self.components = tf.Variable(list(policy.components), trainable=False, name="components")
    signature = policy_step_signature(policy)

    def make_step(greedy):
      def step(observation, state, noise=None):
        output, new_state = policy.step(observation, state, noise, greedy=greedy)
        return dict(actions=output.actions, log_probs=output.log_probs,
                    entropies=output.entropies, baseline=output.baseline, state=new_state)
      return tf.function(step, input_signature=signature)

    self.greedy_step = make_step(True)
    self.sample_step = make_step(False)
    self.initial_state = tf.function(policy.initial_state,
                                     input_signature=[tf.TensorSpec([], tf.int32)])


def export_policy_step(policy, path: str) -> str:
  """Saves the greedy and sampling steps of ``policy`` as a SavedModel at ``path``.

  Writes into a temporary folder beside ``path`` and renames it into place,
  so a reader never sees a half-written model; an existing export at
  ``path`` is replaced. Returns ``path``. Load with ``tf.saved_model.load``.
  """
  path = os.path.abspath(path)
  parent = os.path.dirname(path)
  os.makedirs(parent, exist_ok=True)
  tmp = tempfile.mkdtemp(prefix=f".{os.path.basename(path)}.tmp-", dir=parent)
  try:
    tf.saved_model.save(_ExportedPolicy(policy), tmp)
    if os.path.exists(path):
      old = tempfile.mkdtemp(prefix=f".{os.path.basename(path)}.old-", dir=parent)
      os.rename(path, os.path.join(old, "model"))
      os.rename(tmp, path)
      shutil.rmtree(old, ignore_errors=True)
    else:
      os.rename(tmp, path)
  except BaseException:
    shutil.rmtree(tmp, ignore_errors=True)
    raise
  return path
