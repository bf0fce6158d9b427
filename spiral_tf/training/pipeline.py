"""The trajectory pipeline: actor outputs -> tf.data -> the learners' distributed batches.

  ActorPool.outputs() --taps (e.g. RenderReplay.add_episodes)--> tf.data
    (unbatch episodes, batch B, prefetch) --> strategy.experimental_distribute_dataset
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


def policy_dataset(make_outputs: Callable[[], Iterator[acting.ActorOutput]],
                   spec: acting.ActorOutput, batch_size: int,
                   strategy: tf.distribute.Strategy):
  """Distributed ActorOutput batches of exactly ``batch_size`` episodes.

  Args:
    make_outputs: () -> iterator of ActorOutput batches of any size (with
      the taps already applied, see ``tapped``).
    spec: ``acting.tensor_spec`` of those batches (B = None).
    batch_size: episodes per learner batch (global, across replicas).
    strategy: splits each batch across its replicas.
  """
  spec = tf.nest.map_structure(
      lambda s: tf.TensorSpec((batch_size,) + tuple(s.shape[1:]), s.dtype), spec)
  ds = tf.data.Dataset.from_generator(lambda: rebatched(make_outputs(), batch_size),
                                      output_signature=spec)
  ds = ds.prefetch(2)
  return strategy.experimental_distribute_dataset(ds)


def critic_dataset(real: tf.data.Dataset, replay, batch_size: int,
                   strategy: tf.distribute.Strategy, seed: int = 0):
  """Distributed (real, fake, fake_targets) batches for the critic learner.

  Args:
    real: data set images [S, S, C] (shuffled and repeated here).
    replay: a RenderReplay with at least one render when iterated.
    batch_size: examples per batch of each kind.
    strategy: splits each batch across its replicas.
    seed: of the real images' shuffle.
  """
  real = real.shuffle(4096, seed=seed).repeat().batch(batch_size, drop_remainder=True)
  shape = tuple(real.element_spec.shape[1:])
  image = tf.TensorSpec((batch_size,) + shape, tf.float32)

  def fakes():
    while True:
      renders, targets = replay.sample(batch_size)
      # Unconditional critics ignore fake_targets; send the renders in their place.
      yield renders, (targets if targets is not None else renders)

  fake = tf.data.Dataset.from_generator(fakes, output_signature=(image, image))
  ds = tf.data.Dataset.zip((real, fake)).map(lambda r, f: (r, f[0], f[1]))
  return strategy.experimental_distribute_dataset(ds)
