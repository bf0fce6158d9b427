"""Publishing the learner's policy weights to actor processes via shared memory."""
import multiprocessing as mp
import time
from multiprocessing import shared_memory
from typing import List, Optional

import numpy as np


class WeightStore:
  """A flat float32 copy of the policy weights plus a version counter.

  Lock-free (a sequence lock): the learner makes ``seq`` odd while it writes
  and even when done; an actor keeps a copy only if ``seq`` was even and
  unchanged around it. No lock is shared, so an actor killed mid-read cannot
  block the learner. Picklable: spawned actors attach the block by name.
  """

  def __init__(self, shapes: List[tuple], ctx=None, name: Optional[str] = None,
               _name: Optional[str] = None, _counters=None):
    """Args:
      shapes: shapes of the policy's get_weights().
      ctx: the multiprocessing context of the actors.
      name: a fixed name for the shared memory block (e.g. one per run
        folder), so that a block left by a killed run is found and freed
        (remove_stale) instead of leaking in /dev/shm; None for a random one.
    """
    ctx = ctx or mp.get_context("spawn")
    self.shapes = [tuple(s) for s in shapes]
    self.sizes = [int(np.prod(s)) for s in self.shapes]
    nbytes = max(4, 4 * sum(self.sizes))
    if _name is None:
      if name is not None:
        remove_stale(name)
      self._shm = shared_memory.SharedMemory(name=name, create=True, size=nbytes)
      self._owner = True
      # [seq, version]; written by the learner only.
      self._counters = ctx.Array("q", [0, -1], lock=False)
    else:
      self._shm = shared_memory.SharedMemory(name=_name)
      self._owner = False
      self._counters = _counters
    self._flat = np.ndarray((sum(self.sizes),), np.float32, self._shm.buf)

  def __reduce__(self):
    return (_attach, (self.shapes, self._shm.name, self._counters))

  @property
  def version(self) -> int:
    return int(self._counters[1])

  def publish(self, weights: List[np.ndarray], version: int):
    """Writes ``weights`` (the policy's get_weights()) as ``version``."""
    self._counters[0] += 1  # odd: writing
    offset = 0
    for w, n in zip(weights, self.sizes):
      self._flat[offset:offset + n] = np.ravel(w)
      offset += n
    self._counters[1] = version
    self._counters[0] += 1  # even: consistent

  def fetch(self, since: int):
    """Returns (version, weights) if newer than ``since``, else (since, None)."""
    while True:
      seq = self._counters[0]
      if seq % 2:
        time.sleep(0.0005)
        continue
      version = self._counters[1]
      if version <= since:
        return since, None
      flat = self._flat.copy()
      if self._counters[0] == seq:
        break
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


def remove_stale(name: str) -> bool:
  """Frees a shared memory block left by a dead process. Returns whether there was one."""
  try:
    stale = shared_memory.SharedMemory(name=name)
  except FileNotFoundError:
    return False
  stale.close()
  stale.unlink()
  return True


def _attach(shapes, name, counters):
  return WeightStore(shapes, _name=name, _counters=counters)
