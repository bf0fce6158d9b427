"""Replay of final renders: the layer between actors and the critic learner (paper 3.4).

The critic samples its fakes from here rather than from the newest batch
only, so it can update at its own rate and does not chase the policy. The
buffer is part of the checkpoint (``checkpointable``): a resumed critic sees
the renders it saw before, not an empty buffer.
"""
import threading
from typing import Optional, Tuple

import numpy as np
import tensorflow as tf


FAKES = ("final", "final_and_random", "all")


class RenderReplay:
  """A fixed-capacity ring buffer of renders (and their targets when conditional)."""

  def __init__(self, capacity: int, image_shape: tuple, conditional: bool, seed: int = 0,
               fakes: str = "final"):
    """Args:
      capacity: renders kept (the oldest are overwritten).
      image_shape: [S, S, C] of a render.
      conditional: keep each render's target too.
      seed: of the sampling.
      fakes: which canvases of an episode to keep: 'final' (the paper), or
        also 'final_and_random' (one random earlier canvas, blank included)
        or 'all' of them, so the critic learns to score half-painted canvases
        (needed when rewards are per-step score differences).
    """
    if fakes not in FAKES:
      raise ValueError(f"fakes must be one of {FAKES}, got {fakes!r}")
    self.fakes = fakes
    self.capacity = int(capacity)
    self._renders = np.zeros((capacity,) + tuple(image_shape), np.float32)
    self._targets = np.zeros_like(self._renders) if conditional else None
    self._size = 0
    self._next = 0
    self._lock = threading.Lock()
    self._rng = np.random.default_rng(seed)
    # Variables mirroring the buffer, written only when a checkpoint is saved.
    self.checkpointable = tf.Module(name="render_replay")
    with tf.init_scope():
      self.checkpointable.renders = tf.Variable(self._renders, trainable=False, name="renders")
      if conditional:
        self.checkpointable.targets = tf.Variable(self._targets, trainable=False, name="targets")
      self.checkpointable.position = tf.Variable([0, 0], dtype=tf.int64, trainable=False,
                                                 name="size_and_next")

  def __len__(self):
    return self._size

  def add(self, render: np.ndarray, target: Optional[np.ndarray] = None):
    """Stores one final render (overwriting the oldest when full)."""
    with self._lock:
      self._renders[self._next] = render
      if self._targets is not None:
        self._targets[self._next] = target
      self._next = (self._next + 1) % self.capacity
      self._size = min(self._size + 1, self.capacity)

  def add_episodes(self, output):
    """The trajectory pipeline's tap: stores an ActorOutput batch's renders (see ``fakes``)."""
    targets = output.observations.get("target")
    canvases = output.observations["canvas"]  # [B, T, S, S, C], before each action
    for i, render in enumerate(output.final_canvas):
      target = None if targets is None else targets[i, -1]
      self.add(render, target)
      if self.fakes == "final_and_random":
        self.add(canvases[i, self._rng.integers(len(canvases[i]))], target)
      elif self.fakes == "all":
        for canvas in canvases[i]:
          self.add(canvas, target)

  def sample(self, batch_size: int) -> Tuple[np.ndarray, Optional[np.ndarray]]:
    """Uniformly samples ``batch_size`` stored renders (with replacement)."""
    with self._lock:
      if self._size == 0:
        raise ValueError("the render replay is empty: sample after actors sent episodes")
      idx = self._rng.integers(0, self._size, batch_size)
      renders = self._renders[idx]
      targets = self._targets[idx] if self._targets is not None else None
    return renders, targets

  def before_save(self):
    """Copies the buffer into its checkpoint variables."""
    with self._lock:
      self.checkpointable.renders.assign(self._renders)
      if self._targets is not None:
        self.checkpointable.targets.assign(self._targets)
      self.checkpointable.position.assign([self._size, self._next])

  def after_restore(self):
    """Refills the buffer from its restored checkpoint variables."""
    with self._lock:
      self._renders[...] = self.checkpointable.renders.numpy()
      if self._targets is not None:
        self._targets[...] = self.checkpointable.targets.numpy()
      self._size, self._next = (int(v) for v in self.checkpointable.position.numpy())
