"""Replay of final renders: the layer between actors and the critic learner (paper 3.4)."""
import threading
from typing import Optional, Tuple

import numpy as np


class RenderReplay:
  """A fixed-capacity ring buffer of final renders (and their targets when conditional)."""

  def __init__(self, capacity: int, image_shape: tuple, conditional: bool, seed: int = 0):
    self.capacity = int(capacity)
    self._renders = np.zeros((capacity,) + tuple(image_shape), np.float32)
    self._targets = np.zeros_like(self._renders) if conditional else None
    self._size = 0
    self._next = 0
    self._lock = threading.Lock()
    self._rng = np.random.default_rng(seed)

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

  def sample(self, batch_size: int) -> Tuple[np.ndarray, Optional[np.ndarray]]:
    """Uniformly samples ``batch_size`` stored renders (with replacement)."""
    with self._lock:
      if self._size == 0:
        raise ValueError("the render replay is empty: sample after actors sent episodes")
      idx = self._rng.integers(0, self._size, batch_size)
      renders = self._renders[idx]
      targets = self._targets[idx] if self._targets is not None else None
    return renders, targets
