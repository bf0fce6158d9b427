"""The actor: a process that plays episodes with a copy of the policy.

``run_actor_process`` is the body of a spawned actor process. It builds its
environments and policy from an ``ActorSpec`` (plain picklable values and
factories, no config), fetches fresh weights from the learner every
``sync_interval`` episodes and sends each batch of finished episodes, an
``agents.acting.ActorOutput``, down its own pipe. One pipe per actor: an
actor killed mid-send can only break its own channel, and a full pipe holds
the actor back, which bounds the policy lag.

Actors never touch a GPU: the learner (and the in-graph actor mode) own it.
"""
import os
import time
import traceback
from typing import Callable, Iterator, NamedTuple, Optional

import PIL
from PIL import Image

from spiral_tf.data.images import DataError

# What an actor reports before it exits: a crash is restarted, a data error is
# fatal at once (it would recur on every restart).
CRASH, DATA_ERROR = "crash", "data"
# The errors that are the data's, by type: the loaders' own (MujocoScenesDataError
# is one), and PIL's for an image it cannot identify or will not decode. Never
# by words in the text: the heads' layers are named '*_decoder'.
DATA_ERROR_TYPES = (DataError, PIL.UnidentifiedImageError, Image.DecompressionBombError)


class ActorError(NamedTuple):
  """Sent down an actor's pipe instead of an ActorOutput when the actor fails."""
  kind: str        # CRASH or DATA_ERROR
  traceback: str


class ActorSpec(NamedTuple):
  """Everything an actor process needs, picklable (built by training.builder)."""
  make_env: Callable            # (targets) -> a ProgramEnvironment
  make_policy: Callable         # (env) -> a PolicyNetwork built from its specs
  make_targets: Optional[Callable[[int], Iterator]]  # seed -> endless targets (conditional)
  envs_per_actor: int
  seed: int                     # base seed; each actor and restart gets its own
  threads: int                  # TensorFlow thread budget of one actor process
  sync_interval: int            # episodes between weight fetches


def actor_seed(spec: ActorSpec, actor_id: int, restarts: int) -> int:
  """A distinct seed for every actor and every restart of it."""
  return spec.seed * 10007 + actor_id * 101 + restarts


def build(spec: ActorSpec, seed: int):
  """(batched env, policy) of one actor, built inside its process."""
  from spiral_tf.envs import program_env  # pylint: disable=g-import-not-at-top
  targets = (pipeline_failures_as_data_errors(spec.make_targets(seed))
             if spec.make_targets is not None else None)
  envs = [spec.make_env(targets) for _ in range(spec.envs_per_actor)]
  env = program_env.batched(envs)
  return env, spec.make_policy(envs[0])


def run_actor_process(actor_id: int, restarts: int, spec: ActorSpec, weight_store, connection):
  """Body of an actor process (started with the 'spawn' method).

  Everything goes down ``connection``: ActorOutput batches, or one ActorError
  before the process exits. The learner stops an actor by closing its end of
  the pipe (the next send fails). No queues or events: nothing that a
  ``kill -9`` of the whole tree could leave behind in /dev/shm.
  """
  try:
    os.environ["CUDA_VISIBLE_DEVICES"] = "-1"  # before TensorFlow initialises its devices
    from spiral_tf.agents import acting  # pylint: disable=g-import-not-at-top
    from spiral_tf.training import devices  # pylint: disable=g-import-not-at-top
    devices.hide_gpus()
    devices.set_threads(spec.threads)
    env, policy = build(spec, actor_seed(spec, actor_id, restarts))
    collector = acting.EpisodeCollector(env, policy, env.envs[0].action_rules,
                                        seed=actor_seed(spec, actor_id, restarts))
    version, episodes = -1, 0
    while True:
      if version < 0 or episodes % spec.sync_interval == 0:
        version, weights = weight_store.fetch(version)
        if weights is not None:
          policy.set_weights(weights)
      if version < 0:  # the learner has not published weights yet
        time.sleep(0.05)
        continue
      output = collector.collect(version)
      episodes += 1
      try:
        connection.send(output)
      except (BrokenPipeError, EOFError, OSError):  # the learner closed our pipe: stop
        os._exit(0)  # pylint: disable=protected-access
  except BaseException as e:  # pylint: disable=broad-except
    kind = error_kind(e)
    try:
      connection.send(ActorError(kind, f"actor {actor_id}: {traceback.format_exc()}"))
    except (BrokenPipeError, EOFError, OSError):
      pass
    # Exit now: a tf.data iterator's destructor can block forever after an
    # error inside its pipeline, and the learner is waiting for this report.
    os._exit(1)  # pylint: disable=protected-access


def pipeline_failures_as_data_errors(targets: Iterator) -> Iterator:
  """``targets``, a tf.data stream, whose failures raise DataError.

  An error inside a tf.data pipeline (a DataError in a numpy_function, a
  failed decode op) reaches the iterating process as TensorFlow's OpError,
  whatever its cause; coming from the target stream is what makes it the data's.
  """
  import tensorflow as tf  # pylint: disable=g-import-not-at-top  (in the actor process)
  targets = iter(targets)
  while True:
    try:
      target = next(targets)
    except StopIteration:
      return
    except tf.errors.OpError as e:
      raise DataError(f"the training images' pipeline failed: {e.message}") from e
    yield target


def error_kind(error: BaseException) -> str:
  """DATA_ERROR if one of DATA_ERROR_TYPES is in ``error``'s chain of causes, else CRASH."""
  seen = set()
  while error is not None and id(error) not in seen:
    seen.add(id(error))
    if isinstance(error, DATA_ERROR_TYPES):
      return DATA_ERROR
    error = error.__cause__ or error.__context__
  return CRASH
