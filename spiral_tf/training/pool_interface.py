"""The actor pool's contract: what the trainer asks of whatever plays the episodes.

  pool.start(); pool.outputs() --ActorOutput batches--> trajectory pipeline
  after each learner update: pool.publish(read_weights, version) --> the actors' policy

Pools differ most in what publishing costs. ``actor_pool.ActorPool`` (actor
processes on this machine) copies every weight into shared memory;
``graph_actor.GraphActorPool`` plays in the learner's process with the
learner's own variables and has nothing to copy; a pool of Ray actors on
other machines would put the weights into Ray's object store once per version
and let each actor fetch the newest reference. So ``publish`` is given a
function that reads the weights, not the weights: only a pool whose actors
hold their own copy calls it, and with the in-graph actor an update reads and
copies no weight at all.
"""
from typing import Callable, Iterator, List, Optional, Protocol, runtime_checkable

import numpy as np

from spiral_tf.agents import acting
from spiral_tf.training import actor as actor_lib

# () -> the policy's get_weights(): a list of arrays, in the order every copy
# of the policy built from the same specs agrees on.
ReadWeights = Callable[[], List[np.ndarray]]


class ActorsFailedError(RuntimeError):
  """The actors cannot go on: restart budget spent, a data error, or a stall."""


def failure_verdict(actor: int, kind: str, reason: str, restarts: int,
                    max_restarts: int) -> Optional[ActorsFailedError]:
  """What every pool does when an actor fails: the error that ends the pool, or None to restart.

  A data error (``actor.DATA_ERROR``) would recur on every restart, so it is
  fatal at once; a crash is restarted while ``restarts`` < ``max_restarts``.
  """
  if kind == actor_lib.DATA_ERROR:
    return ActorsFailedError(f"actor {actor} stopped on a data error: {reason}")
  if restarts >= max_restarts:
    return ActorsFailedError(f"actor {actor} died ({reason}) and the restart budget "
                             f"actors.max_restarts={max_restarts} is spent")
  return None


@runtime_checkable
class ActorPoolInterface(Protocol):
  """Actors that play whole episodes with the newest policy published to them.

  Attributes:
    restarts: actors restarted after a crash so far (metrics.json's
      ``actor_restarts``); 0 for a pool that cannot lose an actor.
    fatal: None while the actors can go on; otherwise the ActorsFailedError
      that ended ``outputs``, which the trainer raises after saving its work.
  """
  restarts: int
  fatal: Optional[ActorsFailedError]

  def start(self) -> None:
    """Starts the actors; ``outputs`` is iterated afterwards."""

  def outputs(self) -> Iterator[acting.ActorOutput]:
    """Batches of whole episodes (any number per batch) until ``close`` or ``fatal``.

    Each episode's ``policy_version`` is the version published before it
    was played, which is how the learner measures its policy lag.
    """

  def publish(self, read_weights: ReadWeights, version: int) -> None:
    """Makes the learner's policy after update ``version`` the one the actors play next.

    Called after every learner update, so it must not wait for the actors.

    Args:
      read_weights: reads the learner's weights. A pool whose actors keep
        their own copy calls it once per publish (a process pool to fill
        shared memory, a Ray pool to put them in the object store); a pool
        that plays with the learner's own variables never calls it.
      version: the learner update the weights are at; actors stamp it on
        the episodes they play with them and skip versions they already
        hold. After ``close`` a publish reaches no actor and does nothing.
    """

  def close(self) -> None:
    """Stops the actors and frees what they shared with the learner."""
