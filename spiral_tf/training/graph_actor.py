"""The in-graph actor (``env.renderer = "tf"``): whole episodes in one tf.function.

``GraphActorPool`` is a ``pool_interface.ActorPoolInterface``, like the
process ``ActorPool``, but instead of actor processes driving libmypaint it
runs ``agents.graph_episode.GraphEpisode`` in the learner's process, on the
learner's device (the GPU when there is one), with the learner's own policy
variables. Publishing therefore copies nothing: it only records the version
the next episodes are stamped with, and the policy lag is at most the
batches already prefetched. Targets come from a tf.data stream of the
training split. Its output is the same ``ActorOutput`` the actor processes
send, so taps, the replay and the learners do not know which actor made it.
"""
from typing import Callable, Iterator, Optional

import numpy as np
import tensorflow as tf

from spiral_tf.agents import acting
from spiral_tf.agents import graph_episode
from spiral_tf.training import pool_interface


# What the noise's seed folds into a call's seed: not a step index (0 .. T - 1).
NOISE_INDEX = -1


class GraphActorPool:
  """Episodes of B environments at a time, played in one graph (see the module docstring)."""

  def __init__(self, policy, renderer, rules, episode_length: int, batch_size: int,
               targets: Optional[Callable[[], Iterator[np.ndarray]]], seed: int = 0,
               learner_step: int = 0, jit_compile: bool = False):
    """Args:
      policy, renderer, rules, episode_length: see GraphEpisode.
      batch_size: episodes per call (the actor processes' actors.envs_per_actor x actors.count).
      targets: () -> iterator of [S, S, C] training images (conditional agents), else None.
      seed: of the renderer's, the sampling's and the noise's random numbers.
      learner_step: the step the policy's weights are at when the pool starts.
      jit_compile: compile the episode with XLA (on a GPU; slower to trace).
    """
    self.episode = graph_episode.GraphEpisode(policy, renderer, rules, episode_length)
    self.batch_size = int(batch_size)
    self.version = int(learner_step)  # each episode's policy_version
    self.restarts = 0  # nothing to restart: the episodes run in this process
    self.fatal: Optional[pool_interface.ActorsFailedError] = None
    self._targets = targets
    self._seed = int(seed)
    self._calls = 0
    self._stopped = False
    self._play = tf.function(self._play_fn, jit_compile=bool(jit_compile), autograph=False)
    self._jit = bool(jit_compile)

  def call_seed(self, call: int) -> tf.Tensor:
    """The [2] seed of the ``call``-th batch of episodes; its steps fold in their index."""
    return graph_episode.fold_seed([self._seed, 0], call)

  def _play_fn(self, targets, seed, version):
    policy = self.episode.policy
    noise = None
    if policy.noise_dim:  # steps fold in 0 .. T - 1: -1 is the noise's alone
      noise = tf.random.stateless_normal([self.batch_size, policy.noise_dim],
                                         graph_episode.fold_seed(seed, NOISE_INDEX))
    played = self.episode.play(self.batch_size, targets=targets, noise=noise, seed=seed,
                               greedy=False, xla=self._jit, policy_version=version)
    return played.output

  def publish(self, read_weights: pool_interface.ReadWeights, version: int):
    """Records ``version`` for the next episodes; reads no weight (see the module docstring).

    The episodes are played with the learner's own variables, which hold
    update ``version`` already: ``read_weights`` is never called.
    """
    del read_weights
    if not self._stopped:
      self.version = int(version)

  def start(self):
    """Opens the stream of training targets (conditional agents)."""
    self._stream = self._targets() if self._targets is not None else None

  def _next_targets(self):
    if self._stream is None:
      return None
    return tf.constant(np.stack([next(self._stream) for _ in range(self.batch_size)]),
                       tf.float32)

  def outputs(self) -> Iterator[acting.ActorOutput]:
    """Batches of episodes as NumPy ActorOutputs, until ``close``."""
    while not self._stopped:
      self._calls += 1
      seed = self.call_seed(self._calls)
      output = self._play(self._next_targets(), seed, tf.constant(self.version, tf.int64))
      yield tf.nest.map_structure(lambda x: x.numpy(), output)

  def close(self):
    """Ends ``outputs`` after the batch it is playing."""
    self._stopped = True
