"""A second line of defence against a run that stops painting: go back and try again.

The greedy policy of an adversarially rewarded agent can collapse to never
painting (every evaluation then scores the blank canvas). The paper's
population replaced such members; a single run has only itself. With
``train.collapse_guard`` on, the Trainer keeps the learners' state of the
newest evaluation at which the greedy policy painted, and when a later
evaluation finds it painting nothing it puts that state back (policy,
critic, their optimisers and the reward normaliser; the counters, the clock
and the render replay go on), draws a new seed and goes on. Each time is
logged and listed in ``metrics.json`` under ``collapse_guard``.
"""
import json
import os
from typing import Callable, Dict, List, Optional

import tensorflow as tf
import tf_keras as keras

from spiral_tf import files

STATE_NAME = "last_painting"


class CollapseGuard:
  """Keeps the last painting state of a run and restores it when the greedy policy stops."""

  def __init__(self, directory: str, seed: int, max_restores: int = 5,
               log: Callable[[str], None] = print, **state):
    """Args:
      directory: where the painting state is kept (``checkpoints/last_painting/``).
      seed: the run's seed; restore k reseeds with ``seed + 1000 * k``.
      max_restores: after this many restores the guard only logs.
      log: console lines.
      **state: the objects to keep and put back (networks, optimisers,
        variables), as tf.train.Checkpoint takes them; not the counters.
    """
    self.directory = directory
    self.seed = seed
    self.max_restores = max_restores
    self.log = log
    self.checkpoint = tf.train.Checkpoint(**state)
    self.prefix = os.path.join(directory, "state")
    self.events: List[Dict[str, float]] = []
    self.good_step = self._recorded_step()

  def _recorded_step(self) -> Optional[int]:
    """The learner update of the kept state (a resumed run finds it on disk)."""
    try:
      with open(os.path.join(self.directory, "state.json")) as f:
        return int(json.load(f)["learner_step"])
    except (OSError, ValueError, KeyError):
      return None

  def load_events(self, events: List[Dict[str, float]]):
    """The restores of earlier segments of a resumed run (from metrics.json)."""
    self.events = list(events)

  def after_evaluation(self, point: Dict[str, float], learner_step: int, frames: int,
                       minutes: float) -> Optional[Dict[str, float]]:
    """Keeps the state if the greedy policy painted; restores it if it stopped. Returns the event."""
    if point.get("strokes_per_image", 0.0) > 0.0:
      self._keep(learner_step)
      return None
    if self.good_step is None:
      return None  # it has not painted yet: nothing to go back to
    if len(self.events) >= self.max_restores:
      self.log(f"collapse guard: the greedy policy paints nothing at update {learner_step}, "
               f"but it has restored {self.max_restores} times already; going on")
      return None
    self.checkpoint.read(self.prefix).assert_existing_objects_matched()
    seed = self.seed + 1000 * (len(self.events) + 1)
    keras.utils.set_random_seed(seed)
    event = dict(learner_step=learner_step, agent_steps=frames, minutes=round(minutes, 2),
                 restored_learner_step=self.good_step, seed=seed)
    self.events.append(event)
    self.log(f"collapse guard: the greedy policy paints nothing at update {learner_step}; "
             f"restored the learners' state of update {self.good_step} and reseeded with {seed}")
    return event

  def _keep(self, learner_step: int):
    """Writes the state, replacing the kept one only once it is complete."""
    os.makedirs(self.directory, exist_ok=True)
    written = self.checkpoint.write(self.prefix + "-new")
    for suffix in (".index", ".data-00000-of-00001"):
      if os.path.exists(written + suffix):
        os.replace(written + suffix, self.prefix + suffix)
    files.write_json(os.path.join(self.directory, "state.json"),
                     {"learner_step": int(learner_step)})
    self.good_step = int(learner_step)
