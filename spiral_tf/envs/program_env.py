"""What the rendering environments share: one command per step, N steps an episode.

A subclass declares its command (``action_counts``, in sampling order), which
components matter after each value of its ``mask_component`` and the canvas
shape, and implements ``_clear`` (start a new canvas), ``apply`` (render one
validated command) and ``canvas``. This class keeps the episode: specs,
validation, the previous action and its mask, the step counter, conditional
targets and the optional final reward.
"""
import collections
from typing import Callable, Dict, Mapping, Optional, Sequence

import numpy as np
from tf_agents.environments import py_environment
from tf_agents.specs import array_spec
from tf_agents.trajectories import time_step as ts

from spiral_tf.envs import action_rules
from spiral_tf.envs import specs

_MID = np.asarray(ts.StepType.MID, np.int32)
_LAST = np.asarray(ts.StepType.LAST, np.int32)
_ZERO, _ONE = np.float32(0.0), np.float32(1.0)


class ProgramEnvironment(py_environment.PyEnvironment):
  """Base of the painting and scene environments (tf-agents PyEnvironment contract)."""

  def __init__(self, action_counts: Mapping[str, int], mask_component: str,
               masks: Mapping[int, Sequence[str]], canvas_shape: Sequence[int],
               episode_length: int, targets=None, conditional: Optional[bool] = None,
               final_reward_fn: Optional[Callable] = None,
               spatial_components: Sequence[str] = (), draws_strokes: bool = False):
    """Args:
      action_counts: component -> number of values, in sampling order.
      mask_component: the component whose value decides which others matter.
      masks: {no-op value of ``mask_component``: components that matter after
        it}; other values make every component matter.
      canvas_shape: [S, S, C] of the canvas (and of targets).
      episode_length: steps per episode (N).
      targets, conditional: see specs.TargetSource; ``conditional`` defaults
        to ``targets is not None``.
      final_reward_fn: optional reward at the last step, from (canvas, target).
      spatial_components, draws_strokes: see action_rules.ActionRules.
    """
    # No auto-reset: a step() after the last one is an error, not a silent new
    # episode that drops the action (every caller resets explicitly).
    super().__init__(handle_auto_reset=False)
    self.episode_length = specs.whole_number("episode_length", episode_length, 1)
    self.action_counts = collections.OrderedDict(action_counts)
    self.components = tuple(self.action_counts)
    k = len(self.components)
    self._mask_component = mask_component
    self.action_masks: Dict[int, np.ndarray] = collections.defaultdict(
        lambda: np.ones(k, np.float32))
    for value, used in masks.items():
      self.action_masks[value] = np.array([c in used for c in self.components], np.float32)
    (no_op_value, no_op_components), = masks.items()
    self.action_rules = action_rules.ActionRules(
        self.components, mask_component, int(no_op_value), tuple(no_op_components),
        tuple(c for c in spatial_components if c in self.action_counts), bool(draws_strokes))
    self._action_spec = collections.OrderedDict(
        (name, specs.discrete_spec(name, n)) for name, n in self.action_counts.items())
    image = array_spec.BoundedArraySpec(tuple(canvas_shape), np.float32, 0.0, 1.0)
    self._observation_spec = collections.OrderedDict(
        canvas=image.replace(name="canvas"),
        action_mask=array_spec.BoundedArraySpec((k,), np.float32, 0.0, 1.0, name="action_mask"),
        prev_action=array_spec.BoundedArraySpec(
            (k,), np.int32, 0, max(self.action_counts.values()) - 1, name="prev_action"),
        step=array_spec.BoundedArraySpec((), np.int32, 0, self.episode_length, name="step"))
    self.conditional = (targets is not None) if conditional is None else bool(conditional)
    if self.conditional:
      self._observation_spec["target"] = image.replace(name="target")
    self._target_source = specs.TargetSource(targets, image.shape)
    self._final_reward_fn = final_reward_fn
    self._target = None
    self._step_count = 0
    self._prev = np.zeros(k, np.int32)
    self._mask = np.zeros(k, np.float32)
    self._done = True

  # --- to implement ---------------------------------------------------------------
  def _clear(self):
    """Starts a new, empty canvas."""
    raise NotImplementedError

  def apply(self, act: Mapping[str, int]):
    """Renders one validated command (a dict of ints)."""
    raise NotImplementedError

  def canvas(self) -> np.ndarray:
    """The current canvas, float32 ``canvas_shape`` in [0, 1]."""
    raise NotImplementedError

  def random_action(self, rng: np.random.Generator) -> Dict[str, int]:
    """A random valid action (the floor every agent must beat)."""
    raise NotImplementedError

  # --- the contract ---------------------------------------------------------------
  def action_spec(self):
    return self._action_spec

  def observation_spec(self):
    return self._observation_spec

  def set_next_target(self, image: np.ndarray):
    """Uses ``image`` as the target of the next episode (conditional mode)."""
    self._target_source.set_next(image)

  def _reset(self):
    self._clear()
    self._step_count = 0
    self._prev = np.zeros(len(self.components), np.int32)
    self._mask = np.zeros(len(self.components), np.float32)  # no previous action
    self._target = self._target_source.draw() if self.conditional else None
    self._done = False
    return ts.restart(self._observation())

  def step(self, action):
    """Applies one action; EpisodeOrderError before reset() or after the last step.

    tf-agents' PyEnvironment.step would instead start an episode and drop the
    action when called before reset().
    """
    if self._done:
      when = "after the episode's last step" if self._step_count else "before reset()"
      raise specs.EpisodeOrderError(
          f"step() called {when}; call reset() to start an episode "
          f"(an episode is {self.episode_length} steps)")
    return super().step(action)

  def _step(self, action):
    act = specs.validate_action(action, self.action_counts)
    self.apply(act)
    self._step_count += 1
    self._prev = np.fromiter((act[c] for c in self.components), np.int32,
                             len(self.components))
    self._mask = self.action_masks[act[self._mask_component]]
    obs = self._observation()
    if self._step_count >= self.episode_length:
      reward = 0.0
      if self._final_reward_fn is not None:
        reward = float(self._final_reward_fn(obs["canvas"], self._target))
      self._done = True
      # TimeSteps built directly: ts.termination/transition cost ~10% of a stroke.
      return ts.TimeStep(_LAST, np.float32(reward), _ZERO, obs)
    return ts.TimeStep(_MID, _ZERO, _ONE, obs)

  def _observation(self):
    obs = collections.OrderedDict(
        canvas=self.canvas(), action_mask=self._mask.copy(), prev_action=self._prev.copy(),
        step=np.int32(self._step_count))
    if self.conditional:
      obs["target"] = self._target
    return obs

  def render(self, mode="rgb_array"):
    if mode != "rgb_array":
      raise ValueError(f"render mode {mode!r} is not supported; use 'rgb_array'")
    return self.canvas()


def batched(envs: Sequence[ProgramEnvironment]):
  """Several environments stepped together in this process, as one batched env."""
  from tf_agents.environments import batched_py_environment  # pylint: disable=g-import-not-at-top
  return batched_py_environment.BatchedPyEnvironment(list(envs), multithreading=False)
