"""Supervision of the actor processes: start, receive, health, restart, close.

  actors (spawned processes) --one pipe each--> ActorPool.outputs() --> trajectory pipeline
  learner weights --ActorPool.publish--> WeightStore (shared memory) --> actors

``ActorPool`` is one implementation of ``pool_interface.ActorPoolInterface``.

An actor that reports an error is ended at once (its process may otherwise
hang in a tf.data destructor). A crash is restarted within the restart
budget; a data error would recur on every restart and is fatal at once. When
no episode has arrived for ``stall_seconds``, the pool says why and stops.
"""
import multiprocessing as mp
from multiprocessing import connection as mp_connection
import time
from typing import Callable, Dict, Iterator, List, Optional

from spiral_tf.training import actor as actor_lib
from spiral_tf.training import pool_interface

# Defined with the contract every pool shares; kept here for its callers.
ActorsFailedError = pool_interface.ActorsFailedError


class ActorPool:
  """``num_actors`` actor processes feeding one learner (an ActorPoolInterface)."""

  def __init__(self, spec: actor_lib.ActorSpec, num_actors: int, weight_store, *,
               max_restarts: int, log: Callable[[str], None] = print,
               stall_seconds: float = 300.0, ctx=None,
               log_traceback: Callable[[str], None] = lambda text: None):
    self.spec = spec
    self.num_actors = num_actors
    self.weight_store = weight_store
    self.max_restarts = max_restarts
    self.log = log
    self.stall_seconds = stall_seconds
    self.log_traceback = log_traceback  # an actor's whole traceback (to the run's log file)
    self._ctx = ctx or mp.get_context("spawn")
    self._stopped = False
    self.processes: List[Optional[mp.Process]] = [None] * num_actors
    self._receivers: List[Optional[mp_connection.Connection]] = [None] * num_actors
    self._reported: Dict[int, tuple] = {}  # actor -> (kind, last traceback line)
    self.restarts = 0
    self.fatal: Optional[ActorsFailedError] = None
    self._last_output = time.time()

  def start(self):
    """Starts every actor."""
    self._last_output = time.time()
    for i in range(self.num_actors):
      self._start(i)

  def _start(self, i: int):
    receiver, sender = self._ctx.Pipe(duplex=False)
    p = self._ctx.Process(
        target=actor_lib.run_actor_process, name=f"spiral-actor-{i}", daemon=True,
        args=(i, self.restarts, self.spec, self.weight_store, sender))
    p.start()
    sender.close()  # the child holds its own copy; EOF reaches us when it dies
    if self._receivers[i] is not None:
      self._receivers[i].close()
    self.processes[i], self._receivers[i] = p, receiver

  def check(self):
    """Ends actors that reported an error, restarts dead ones, or sets ``fatal``."""
    for i, p in enumerate(self.processes):
      if self.fatal is not None or self._stopped:
        return
      if p.is_alive() and i not in self._reported:
        continue
      if p.is_alive():  # it reported an error: do not wait for it to exit
        p.kill()
        p.join(timeout=5.0)
      kind, reason = self._reported.pop(i, (actor_lib.CRASH, f"exit code {p.exitcode}"))
      self.fatal = pool_interface.failure_verdict(i, kind, reason, self.restarts,
                                                  self.max_restarts)
      if self.fatal is None:
        self.restarts += 1
        self.log(f"actor {i} died ({reason}); restarting it "
                 f"({self.restarts}/{self.max_restarts})")
        self._start(i)
    if self.fatal is None and time.time() - self._last_output > self.stall_seconds:
      alive = sum(p.is_alive() for p in self.processes)
      self.fatal = ActorsFailedError(
          f"no episode arrived from the actors for {self.stall_seconds:.0f} s "
          f"({alive} of {self.num_actors} alive); see the run's log for their output")

  def receive(self, timeout: float) -> list:
    """The ActorOutput batches that actors have sent (dropping the channels of dead actors)."""
    open_receivers = [r for r in self._receivers if r is not None]
    outputs = []
    for r in mp_connection.wait(open_receivers, timeout=timeout):
      i = self._receivers.index(r)
      try:
        message = r.recv()
      except (EOFError, OSError, ValueError, TypeError, AttributeError):  # died mid-send
        r.close()
        self._receivers[i] = None
        continue
      if isinstance(message, actor_lib.ActorError):
        self.log_traceback(message.traceback)
        self._reported[i] = (message.kind, message.traceback.strip().splitlines()[-1])
      else:
        outputs.append(message)
    if outputs:
      self._last_output = time.time()
    self.check()  # is_alive() is a non-blocking waitpid: cheap every time
    return outputs

  def outputs(self) -> Iterator:
    """ActorOutput batches until close() or a fatal error (then see ``fatal``)."""
    while not self._stopped and self.fatal is None:
      yield from self.receive(timeout=1.0)

  def publish(self, read_weights: pool_interface.ReadWeights, version: int):
    """Copies the learner's weights into the shared memory the actors fetch ``version`` from."""
    if self._stopped:  # the store is closed and no actor is left to read it
      return
    self.weight_store.publish(read_weights(), version)

  def close(self):
    """Stops every actor (politely, then by force) and frees the channels."""
    self._stopped = True
    for r in self._receivers:  # an actor's next send fails, and it exits
      if r is not None:
        r.close()
    deadline = time.time() + 10.0
    for p in self.processes:
      if p is not None:
        p.join(timeout=max(0.1, deadline - time.time()))
        if p.is_alive():
          p.kill()
          p.join(timeout=2.0)
    self.weight_store.close()
