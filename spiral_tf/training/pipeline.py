"""The trajectory pipeline: actor outputs -> tf.data -> the learners' distributed batches.

  ActorPool.outputs() --taps (e.g. RenderReplay.add_episodes)--> tf.data
    (batches of B, prefetch) --> strategy.experimental_distribute_dataset
    (several machines: each worker's batches of B / replicas, distribute_datasets_from_function)
  real images (tf.data) + replayed renders --> the critic's (real, fake, fake_targets)

Every batch is an ``agents.acting.ActorOutput`` in its one layout,
batch-major ``[B, T, ...]``; actors send any number of episodes at a time and
``rebatched`` regroups them into learner batches of exactly B (in NumPy:
tf.data's ``unbatch`` crashes on the conditional agent's zero-size noise
``[B, 0]`` in TensorFlow 2.21).
"""
from typing import Callable, Iterable, Iterator

import numpy as np
import tensorflow as tf

from spiral_tf.agents import acting
from spiral_tf.config_checks import ConfigError
from spiral_tf.training import devices


def tapped(outputs: Iterator[acting.ActorOutput],
           taps: Iterable[Callable[[acting.ActorOutput], None]]) -> Iterator[acting.ActorOutput]:
  """Passes each actor output to every tap (explicitly, before tf.data sees it)."""
  taps = tuple(taps)
  for output in outputs:
    for tap in taps:
      tap(output)
    yield output


def rebatched(outputs: Iterator[acting.ActorOutput],
              batch_size: int) -> Iterator[acting.ActorOutput]:
  """ActorOutput batches of exactly ``batch_size`` episodes from batches of any size."""
  pending, count = [], 0
  for output in outputs:
    pending.append(output)
    count += len(output.final_canvas)
    while count >= batch_size:
      joined = tf.nest.map_structure(lambda *xs: np.concatenate(xs, axis=0), *pending)
      yield tf.nest.map_structure(lambda x: x[:batch_size], joined)
      rest = tf.nest.map_structure(lambda x: x[batch_size:], joined)
      count -= batch_size
      pending = [rest] if count else []


def replica_batch_size(batch_size: int, strategy: tf.distribute.Strategy) -> int:
  """Episodes each replica takes of a learner batch of ``batch_size`` (over all workers)."""
  replicas = strategy.num_replicas_in_sync
  if batch_size % replicas:
    raise ConfigError(f"train.batch_size {batch_size} does not split evenly over the "
                      f"{replicas} replicas of train.strategy: make it a multiple of {replicas}")
  return batch_size // replicas


def _distributed(make_dataset: Callable[[int, int], tf.data.Dataset], batch_size: int,
                 strategy: tf.distribute.Strategy):
  """``make_dataset(batch size, input pipeline id)``, distributed over the replicas.

  One machine: whole batches, which the strategy splits across its replicas.
  Several (train.strategy 'multiworker'): each worker feeds its replicas
  their batches from its own actors and replay; its pipeline is not a shard
  of a common data set, so TensorFlow's automatic sharding (which would drop
  the other workers' share of every generator's batches) is off.
  """
  if devices.worker_count(strategy) == 1:
    return strategy.experimental_distribute_dataset(make_dataset(batch_size, 0))
  per_replica = replica_batch_size(batch_size, strategy)
  options = tf.data.Options()
  options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF

  def dataset(context: tf.distribute.InputContext):
    return make_dataset(per_replica, context.input_pipeline_id).with_options(options)
  return strategy.distribute_datasets_from_function(dataset)


def policy_dataset(make_outputs: Callable[[], Iterator[acting.ActorOutput]],
                   spec: acting.ActorOutput, batch_size: int,
                   strategy: tf.distribute.Strategy):
  """Distributed ActorOutput batches of exactly ``batch_size`` episodes (over all replicas).

  Args:
    make_outputs: () -> iterator of ActorOutput batches of any size (with
      the taps already applied, see ``tapped``); called once on each worker.
    spec: ``acting.tensor_spec`` of those batches (B = None).
    batch_size: episodes per learner batch (global, across replicas and workers).
    strategy: gives each replica its share of the batch.
  """
  def make(size: int, _):
    shaped = tf.nest.map_structure(
        lambda s: tf.TensorSpec((size,) + tuple(s.shape[1:]), s.dtype), spec)
    ds = tf.data.Dataset.from_generator(lambda: rebatched(make_outputs(), size),
                                        output_signature=shaped)
    return ds.prefetch(2)
  return _distributed(make, batch_size, strategy)


def critic_dataset(real: tf.data.Dataset, replay, batch_size: int,
                   strategy: tf.distribute.Strategy, seed: int = 0):
  """Distributed (real, fake, fake_targets) batches for the critic learner.

  Args:
    real: data set images [S, S, C] (shuffled and repeated here).
    replay: a RenderReplay with at least one render when iterated.
    batch_size: examples per batch of each kind (global, across replicas and workers).
    strategy: gives each replica its share of the batch.
    seed: of the real images' shuffle (each worker's pipeline shuffles its own way).
  """
  def make(size: int, pipeline_id: int):
    images = real.shuffle(4096, seed=seed + pipeline_id).repeat()
    images = images.batch(size, drop_remainder=True)
    image = tf.TensorSpec((size,) + tuple(images.element_spec.shape[1:]), tf.float32)

    def fakes():
      while True:
        renders, targets = replay.sample(size)
        # Unconditional critics ignore fake_targets; send the renders in their place.
        yield renders, (targets if targets is not None else renders)

    fake = tf.data.Dataset.from_generator(fakes, output_signature=(image, image))
    return tf.data.Dataset.zip((images, fake)).map(lambda r, f: (r, f[0], f[1]))
  return _distributed(make, batch_size, strategy)
