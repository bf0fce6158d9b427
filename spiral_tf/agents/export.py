"""Exports a trained agent as a SavedModel (TF Serving) and a LiteRT model.

The SavedModel needs only TensorFlow to load (no spiral_tf import). Its
signatures have named inputs and outputs and a batch dimension of None:

* ``paint`` (also ``serving_default``; painting agents only): a whole greedy
  episode in one call, rendered by the TF renderer. Input ``target``
  [B, S, S, C] in [0, 1] (conditional agents) or ``noise`` [B, D]
  (unconditional ones). Outputs ``action_<component>`` [B, T] int32 (the
  program), ``final_canvas`` [B, S, S, C] and ``canvases`` [B, T + 1, S, S, C].
* ``step``: one policy step for clients that render themselves. Inputs: the
  observation (``canvas``, ``action_mask``, ``prev_action``, ``step`` and
  ``target`` or ``noise``), the LSTM state ``state_h``, ``state_c``, and
  ``gumbel_<component>`` [B, n] noise: the action is argmax(logits + noise),
  so zeros give the greedy policy and standard Gumbel noise
  (-log(-log(u)), u uniform) samples it. Outputs ``action_<component>`` [B],
  ``logits_<component>`` [B, n], ``state_h``, ``state_c``.
* ``initial_state``: input ``batch_size`` (int32 scalar) -> ``state_h``, ``state_c``.

Variables ``environment`` (the environment's options as JSON),
``conditional`` and ``noise_dim`` describe the agent to clients.

The LiteRT model is the ``step`` signature converted with built-in ops only;
the host program runs the episode loop and renders.
"""
import json
import os
import shutil
import tempfile
from typing import Dict, Mapping, Optional

import numpy as np

import spiral_tf  # noqa: F401  (selects Keras 2 before TensorFlow loads)
import tensorflow as tf

from spiral_tf.agents import graph_episode

OBSERVATION_KEYS = ("canvas", "action_mask", "prev_action", "step", "target")


def step_input_specs(policy) -> Dict[str, tf.TensorSpec]:
  """The ``step`` signature's inputs, batch dimension None, in a fixed order."""
  specs = {}
  for key in OBSERVATION_KEYS:
    if key in policy.observation_spec:
      spec = policy.observation_spec[key]
      specs[key] = tf.TensorSpec((None,) + tuple(spec.shape), tf.as_dtype(spec.dtype), name=key)
  if policy.noise_dim:
    specs["noise"] = tf.TensorSpec([None, policy.noise_dim], tf.float32, name="noise")
  for name in ("state_h", "state_c"):
    specs[name] = tf.TensorSpec([None, policy.core_size], tf.float32, name=name)
  for component in policy.components:
    specs[f"gumbel_{component}"] = tf.TensorSpec(
        [None, policy.num_values[component]], tf.float32, name=f"gumbel_{component}")
  return specs


class ExportedAgent(tf.Module):
  """The functions a SavedModel serves, closing over the policy's variables."""

  def __init__(self, policy, rules, renderer=None, episode_length: int = 0,
               environment: Optional[Mapping] = None, data_name: str = ""):
    """``environment``: the environment's keyword arguments, stored as JSON in
    the variable ``environment`` so that clients can re-paint or draw programs;
    ``data_name``: the data set it was trained on (``data.name``), so that
    tools/paint.py frames a drawing as that data set frames its images."""
    super().__init__(name="exported_agent")
    # Tracking the variables (not the Keras model) keeps Keras' own
    # serialisation of every layer out of the SavedModel.
    self.policy_variables = list(policy.variables)
    self.environment = tf.Variable(json.dumps(dict(environment or {}), sort_keys=True),
                                   trainable=False, name="environment")
    self.data_name = tf.Variable(str(data_name), trainable=False, name="data_name")
    self.conditional = tf.Variable(bool(policy.conditional), trainable=False, name="conditional")
    self.noise_dim = tf.Variable(int(policy.noise_dim), trainable=False, name="noise_dim")
    specs = step_input_specs(policy)

    def step(inputs):
      observation = {k: inputs[k] for k in OBSERVATION_KEYS if k in inputs}
      gumbel = {c: inputs[f"gumbel_{c}"] for c in policy.components}
      actions, logits, _, (h, c) = policy.act(
          observation, (inputs["state_h"], inputs["state_c"]), inputs.get("noise"),
          gumbel=gumbel)
      out = {f"action_{k}": v for k, v in actions.items()}
      out.update({f"logits_{k}": v for k, v in logits.items()})
      out.update(state_h=h, state_c=c)
      return out

    self.step = tf.function(step, input_signature=[specs], autograph=False)

    def initial_state(batch_size):
      h, c = policy.initial_state(batch_size)
      return {"state_h": h, "state_c": c}

    self.initial_state = tf.function(initial_state, autograph=False, input_signature=[
        tf.TensorSpec([], tf.int32, name="batch_size")])

    self.paint = None
    if renderer is not None:
      episode = graph_episode.GraphEpisode(policy, renderer, rules, episode_length)
      size, channels = renderer.canvas_size, renderer.channels

      def paint(inputs):
        batch = tf.shape(inputs)[0]
        played = episode.play(batch, targets=inputs if policy.conditional else None,
                              noise=None if policy.conditional else inputs, greedy=True)
        out = {f"action_{k}": v for k, v in played.output.actions.items()}
        out.update(final_canvas=played.output.final_canvas, canvases=played.canvases)
        return out

      if policy.conditional:
        spec = tf.TensorSpec([None, size, size, channels], tf.float32, name="target")
      else:
        spec = tf.TensorSpec([None, policy.noise_dim], tf.float32, name="noise")
      self.paint = tf.function(paint, input_signature=[spec], autograph=False)

  def signatures(self) -> dict:
    """Signature name -> concrete function, for tf.saved_model.save."""
    out = {"step": self.step.get_concrete_function(),
           "initial_state": self.initial_state.get_concrete_function()}
    out["serving_default"] = out["step"]
    if self.paint is not None:
      out["paint"] = out["serving_default"] = self.paint.get_concrete_function()
    return out


def _replace_atomically(write, path: str) -> str:
  """Calls write(tmp) on a temporary path beside ``path`` and renames it into place."""
  path = os.path.abspath(path)
  parent = os.path.dirname(path)
  os.makedirs(parent, exist_ok=True)
  tmp = tempfile.mkdtemp(prefix=f".{os.path.basename(path)}.tmp-", dir=parent)
  target = os.path.join(tmp, "out")
  try:
    write(target)
    if os.path.exists(path):
      old = tempfile.mkdtemp(prefix=f".{os.path.basename(path)}.old-", dir=parent)
      os.rename(path, os.path.join(old, "out"))
      os.rename(target, path)
      shutil.rmtree(old, ignore_errors=True)
    else:
      os.rename(target, path)
  finally:
    shutil.rmtree(tmp, ignore_errors=True)
  return path


def export_saved_model(agent: ExportedAgent, path: str) -> str:
  """Saves ``agent`` with its signatures at ``path`` (replaced whole, never half-written)."""
  return _replace_atomically(
      lambda tmp: tf.saved_model.save(agent, tmp, signatures=agent.signatures()), path)


def convert_step_to_tflite(saved_model: str, path: str) -> str:
  """Converts the SavedModel's ``step`` signature to LiteRT with built-in ops only."""
  converter = tf.lite.TFLiteConverter.from_saved_model(saved_model, signature_keys=["step"])
  converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
  model = converter.convert()

  def write(tmp):
    with open(tmp, "wb") as f:
      f.write(model)
  return _replace_atomically(write, path)


def random_step_inputs(policy, batch: int, rng: np.random.Generator,
                       gumbel: bool = True) -> Dict[str, np.ndarray]:
  """Valid random inputs for a ``step`` of ``policy`` (for comparing TensorFlow and LiteRT)."""
  out = {}
  for name, spec in step_input_specs(policy).items():
    shape = (batch,) + tuple(spec.shape[1:])
    if name == "prev_action":
      high = min(policy.num_values.values())
      out[name] = rng.integers(0, high, shape).astype(np.int32)
    elif name == "step":
      out[name] = rng.integers(1, 3, shape).astype(np.int32)
    elif name == "action_mask":
      out[name] = rng.integers(0, 2, shape).astype(np.float32)
    elif name.startswith("gumbel_"):
      u = rng.uniform(1e-6, 1.0 - 1e-6, shape)
      out[name] = (-np.log(-np.log(u)) if gumbel else np.zeros(shape)).astype(np.float32)
    elif name in ("noise", "state_h", "state_c"):
      out[name] = rng.standard_normal(shape).astype(np.float32) * (0.5 if name != "noise" else 1.0)
    else:
      out[name] = rng.uniform(0.0, 1.0, shape).astype(np.float32)
  return out


def compare_tflite(policy, agent: ExportedAgent, tflite_path: str, batch: int = 4,
                   seed: int = 0) -> float:
  """Max |LiteRT - TensorFlow| over the logits and states of ``step`` on random inputs.

  Also checks that both choose the same actions; raises AssertionError if not.
  """
  from ai_edge_litert import interpreter as litert  # pylint: disable=g-import-not-at-top
  inputs = random_step_inputs(policy, batch, np.random.default_rng(seed))
  expected = {k: v.numpy() for k, v in agent.step(inputs).items()}
  runner = litert.Interpreter(model_path=tflite_path).get_signature_runner("step")
  got = runner(**inputs)  # the runner resizes its inputs to the batch
  worst = 0.0
  for name, value in expected.items():
    if name.startswith("action_"):
      if not np.array_equal(got[name], value):
        raise AssertionError(f"LiteRT chose other actions for {name!r}")
    else:
      worst = max(worst, float(np.max(np.abs(got[name] - value))))
  return worst
