"""Actors on a Ray cluster: the episodes of actor processes, played on any node.

  RayActorPool.publish: the newest weights --ray.put, once per version sent--> object store
  RayActorPool.outputs: play.remote(weights or None, version) on each actor, CALLS_IN_FLIGHT
      queued
      --ActorOutput through the object store--> trajectory pipeline (as actor processes')

Imported only for ``actors.engine 'ray'`` (``pools.factory``): Ray is an
optional extra and ``import spiral_tf`` never loads it.

Each Ray actor builds the same environments, policy and collector from the
same ``ActorSpec`` as an actor process, and plays one batch of episodes per
call with the weights of the version it is handed, which it stamps on them:
V-trace sees the same policy lag as with processes. Actors never touch a
GPU: ``CUDA_VISIBLE_DEVICES`` is hidden through the actor's runtime
environment, because unpickling the spec imports TensorFlow before the
actor's own code runs. An actor that dies (a crash, ``ray.kill``, its node
leaving the cluster) is replaced by a new Ray actor, which Ray places on any
node with a free CPU, within ``actors.max_restarts`` for the whole run; a
data error is fatal at once, as with processes.
"""
import threading
import time
import traceback
from typing import Callable, Dict, Iterator, List, Optional

import ray

from spiral_tf.training import actor as actor_lib
from spiral_tf.training import pool_interface

# A local Ray instance started for one run: a small object store (an episode
# batch is ~0.2 MB, a policy version ~1.5 MB), no dashboard.
LOCAL_OBJECT_STORE_BYTES = 256 * 1024 ** 2
# Calls queued on each actor: while the learner receives one batch through
# the object store, the actor already plays the next (a Ray actor runs its
# calls one after another). The queued call's weights are those of when it
# was queued, so the policy lag grows by at most one batch, as stamped.
CALLS_IN_FLIGHT = 2
# What each Ray actor's process sees before anything is imported in it.
ACTOR_ENV = {"CUDA_VISIBLE_DEVICES": "-1", "TF_CPP_MIN_LOG_LEVEL": "2",
             "TF_USE_LEGACY_KERAS": "1"}


class Player:
  """The body of one Ray actor: an actor process's environments, policy and collector.

  A failure, while building or playing, is returned as an ``actor.ActorError``
  (its kind told from the exception's own type, in this process) rather than
  raised through Ray's wrappers; the pool then ends this actor.
  """

  def __init__(self, spec: actor_lib.ActorSpec, actor_id: int, restarts: int):
    self.failure: Optional[actor_lib.ActorError] = None
    self.actor_id = actor_id
    try:
      from spiral_tf.agents import acting  # pylint: disable=g-import-not-at-top
      from spiral_tf.training import devices  # pylint: disable=g-import-not-at-top
      devices.hide_gpus()
      devices.set_threads(spec.threads)
      seed = actor_lib.actor_seed(spec, actor_id, restarts)
      self.env, self.policy = actor_lib.build(spec, seed)
      self.collector = acting.EpisodeCollector(self.env, self.policy,
                                               self.env.envs[0].action_rules, seed=seed)
    except Exception as e:  # pylint: disable=broad-except
      self.failure = _failure(actor_id, e)

  def play(self, weights: Optional[List], version: int):
    """(one batch of episodes played with ``version`` or an ActorError, this node's id)."""
    node = ray.get_runtime_context().get_node_id()
    if self.failure is not None:
      return self.failure, node
    try:
      if weights is not None:
        self.policy.set_weights(weights)
      return self.collector.collect(version), node
    except Exception as e:  # pylint: disable=broad-except
      self.failure = _failure(self.actor_id, e)
      return self.failure, node


def _failure(actor_id: int, error: BaseException) -> actor_lib.ActorError:
  return actor_lib.ActorError(actor_lib.error_kind(error),
                              f"actor {actor_id}: {traceback.format_exc()}")


def connect(address: str, num_cpus: int, log: Callable[[str], None]) -> bool:
  """Joins the Ray cluster at ``address`` or starts one on this machine; True if started here.

  A process that is already connected (a test's shared instance, a PBT
  trial) keeps its connection.
  """
  if ray.is_initialized():
    return False
  common = dict(include_dashboard=False, log_to_driver=False, logging_level="ERROR",
                configure_logging=True)
  if address:
    ray.init(address=address, **common)
    log(f"ray: joined the cluster at {address}: {ray.cluster_resources().get('CPU', 0):.0f} CPUs")
    return False
  ray.init(num_cpus=num_cpus, object_store_memory=LOCAL_OBJECT_STORE_BYTES, **common)
  log(f"ray: started a local Ray instance with {num_cpus} CPUs")
  return True


class RayActorPool:
  """``num_actors`` Ray actors feeding one learner (an ActorPoolInterface)."""

  def __init__(self, spec: actor_lib.ActorSpec, num_actors: int, *, max_restarts: int,
               address: str = "", threads: int = 1, log: Callable[[str], None] = print,
               log_traceback: Callable[[str], None] = lambda text: None,
               stall_seconds: float = 300.0):
    self.spec = spec
    self.num_actors = num_actors
    self.max_restarts = max_restarts
    self.address = address
    self.cpus_per_actor = max(1, threads)
    self.log = log
    self.log_traceback = log_traceback
    self.stall_seconds = stall_seconds
    self.restarts = 0
    self.fatal: Optional[pool_interface.ActorsFailedError] = None
    # Actor i -> the node that played its last batch (hex id): where the actors ran.
    self.placements: Dict[int, str] = {}
    self._lock = threading.Lock()
    self._newest = (-1, None)      # (version, weights) of the last publish
    self._ref = (-1, None)         # (version, object ref) of the weights in the store
    self._stopped = False
    self._started_ray = False
    self._handles: List = [None] * num_actors
    self._held = [-1] * num_actors  # the version each actor plays with
    self._since_sync = [0] * num_actors
    self._in_flight: Dict = {}  # object ref -> actor index

  def start(self):
    """Connects to Ray (or starts it) and creates every actor; their first calls start at once."""
    self._started_ray = connect(self.address, self.num_actors * self.cpus_per_actor, self.log)
    self._remote = ray.remote(Player).options(
        num_cpus=self.cpus_per_actor, num_gpus=0, max_restarts=0,
        runtime_env={"env_vars": dict(ACTOR_ENV, OMP_NUM_THREADS=str(self.cpus_per_actor))})
    self._last_output = time.time()
    for i in range(self.num_actors):
      self._create(i)

  def _create(self, i: int):
    self._handles[i] = self._remote.remote(self.spec, i, self.restarts)
    self._held[i], self._since_sync[i] = -1, 0
    for _ in range(CALLS_IN_FLIGHT):
      self._dispatch(i)

  def _dispatch(self, i: int):
    """Starts actor i's next batch, with the newest weights when its sync is due."""
    with self._lock:
      version, weights = self._newest
    weights_ref = None
    due = self._held[i] < 0 or self._since_sync[i] >= self.spec.sync_interval
    if due and version > self._held[i] and weights is not None:
      if self._ref[0] != version:
        self._ref = (version, ray.put(weights))
      weights_ref = self._ref[1]
      self._held[i], self._since_sync[i] = version, 0
    self._since_sync[i] += 1
    self._in_flight[self._handles[i].play.remote(weights_ref, self._held[i])] = i

  def publish(self, read_weights: pool_interface.ReadWeights, version: int):
    """Keeps the learner's weights as ``version``; they go to the store when an actor needs them."""
    if self._stopped:
      return
    weights = read_weights()
    with self._lock:
      self._newest = (version, weights)

  def _failed(self, i: int, kind: str, reason: str):
    """Ends actor i and replaces it within the restart budget, or sets ``fatal``."""
    try:
      ray.kill(self._handles[i], no_restart=True)
    except Exception:  # pylint: disable=broad-except  (already gone with its node)
      pass
    # Its other queued calls die with it: one failure, one restart.
    self._in_flight = {ref: j for ref, j in self._in_flight.items() if j != i}
    self.fatal = pool_interface.failure_verdict(i, kind, reason, self.restarts,
                                                self.max_restarts)
    if self.fatal is None:
      self.restarts += 1
      self.log(f"actor {i} died ({reason}); starting a new Ray actor "
               f"({self.restarts}/{self.max_restarts})")
      self._create(i)

  def outputs(self) -> Iterator:
    """ActorOutput batches until close() or a fatal error (then see ``fatal``)."""
    while not self._stopped and self.fatal is None:
      try:
        ready, _ = ray.wait(list(self._in_flight), num_returns=1, timeout=1.0)
      except Exception:  # pylint: disable=broad-except  (Ray shut down by close())
        if self._stopped:
          return
        raise
      for ref in ready:
        i = self._in_flight.pop(ref, None)
        if self._stopped or i is None:
          return
        try:
          output, node = ray.get(ref)
        except ray.exceptions.RayError as e:  # the actor died: killed, crashed, node gone
          if self._stopped:
            return
          self.log_traceback(f"ray actor {i}: {e}")
          self._failed(i, actor_lib.CRASH, type(e).__name__)
          continue
        self.placements[i] = node
        if isinstance(output, actor_lib.ActorError):
          self.log_traceback(output.traceback)
          self._failed(i, output.kind, output.traceback.strip().splitlines()[-1])
          continue
        self._last_output = time.time()
        self._dispatch(i)
        yield output
      if self.fatal is None and time.time() - self._last_output > self.stall_seconds:
        self.fatal = pool_interface.ActorsFailedError(
            f"no episode arrived from the Ray actors for {self.stall_seconds:.0f} s; the "
            f"cluster has {ray.available_resources().get('CPU', 0):.0f} free CPUs and each "
            f"actor needs {self.cpus_per_actor} (ray status shows the nodes)")

  def close(self):
    """Ends every actor, and the Ray instance if this pool started it."""
    self._stopped = True
    if not ray.is_initialized():
      return
    for handle in self._handles:
      if handle is not None:
        try:
          ray.kill(handle, no_restart=True)
        except Exception:  # pylint: disable=broad-except
          pass
    self._in_flight.clear()
    if self._started_ray:
      ray.shutdown()
