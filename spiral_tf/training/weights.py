"""Publishing the learner's policy weights to actor processes via shared memory."""
import multiprocessing as mp
from multiprocessing import shared_memory
from typing import List, Optional

import numpy as np


class WeightStore:
  """A flat float32 copy of the policy weights plus a version counter.

  The learner writes under a lock and bumps the version; actors copy the
  weights only when the version moved. Picklable, so it passes to spawned
  actor processes (the shared memory block is attached by name).
  """

  def __init__(self, shapes: List[tuple], ctx=None, _name: Optional[str] = None,
               _version=None, _lock=None):
    ctx = ctx or mp.get_context("spawn")
    self.shapes = [tuple(s) for s in shapes]
    self.sizes = [int(np.prod(s)) for s in self.shapes]
    nbytes = max(4, 4 * sum(self.sizes))
    if _name is None:
      self._shm = shared_memory.SharedMemory(create=True, size=nbytes)
      self._owner = True
      self.version = ctx.Value("q", -1, lock=False)
      self.lock = ctx.Lock()
    else:
      self._shm = shared_memory.SharedMemory(name=_name)
      self._owner = False
      self.version, self.lock = _version, _lock
    self._flat = np.ndarray((sum(self.sizes),), np.float32, self._shm.buf)

  def __reduce__(self):
    return (_attach, (self.shapes, self._shm.name, self.version, self.lock))

  def publish(self, weights: List[np.ndarray], version: int):
    """Writes ``weights`` (the policy's get_weights()) as ``version``."""
    with self.lock:
      offset = 0
      for w, n in zip(weights, self.sizes):
        self._flat[offset:offset + n] = np.ravel(w)
        offset += n
      self.version.value = version

  def fetch(self, since: int):
    """Returns (version, weights) if newer than ``since``, else (since, None)."""
    if self.version.value <= since:
      return since, None
    with self.lock:
      version = self.version.value
      flat = self._flat.copy()
    out, offset = [], 0
    for shape, n in zip(self.shapes, self.sizes):
      out.append(flat[offset:offset + n].reshape(shape))
      offset += n
    return version, out

  def close(self):
    """Detaches; the creating process also frees the block."""
    self._flat = None
    self._shm.close()
    if self._owner:
      self._shm.unlink()


def _attach(shapes, name, version, lock):
  return WeightStore(shapes, _name=name, _version=version, _lock=lock)
