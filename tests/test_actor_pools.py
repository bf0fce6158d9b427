"""Every actor pool meets one contract, and publishing costs only what its actors need."""
import numpy as np
import pytest
import tensorflow as tf

from spiral_tf.agents import policy as policy_lib
from spiral_tf.envs.libmypaint_env import LibMyPaintEnv
from spiral_tf.envs.tf_renderer import TFRenderer
from spiral_tf.training import actor_pool
from spiral_tf.training import graph_actor
from spiral_tf.training import pool_interface
from spiral_tf.training import trainer as trainer_lib
from spiral_tf.training import weights as weights_lib

ENV = dict(canvas_size=16, grid_size=8, episode_length=2, brush_sizes=(1.0,),
           use_pressure=False)
POLICY = dict(conv_channels=4, num_residual_blocks=1, residual_channels=4, torso_size=8,
              core_size=8, spatial_head="dense", conditioning_hidden=(8, 4),
              head_mlp_hidden=(4, 8))
WEIGHTS = [np.arange(6, dtype=np.float32).reshape(2, 3), np.full([4], 0.5, np.float32)]


class CountingReader:
  """A ``read_weights`` that counts how often a pool read the weights."""

  def __init__(self, weights):
    self.weights = weights
    self.calls = 0

  def __call__(self):
    self.calls += 1
    return self.weights


def graph_pool(batch_size=2):
  env = LibMyPaintEnv(conditional=False, **ENV)
  policy = policy_lib.PolicyNetwork(env.observation_spec(), env.action_spec(), noise_dim=2,
                                    spatial_components=env.action_rules.spatial_components,
                                    **POLICY)
  return graph_actor.GraphActorPool(policy, TFRenderer.from_env(env), env.action_rules,
                                    ENV["episode_length"], batch_size, targets=None, seed=3)


def process_pool(store):
  """A process pool whose actors are never started (``start`` alone reads the spec)."""
  return actor_pool.ActorPool(None, 1, store, max_restarts=0)


class PoolWithAFakeWeightStore:
  """The in-graph pool's old shape: the trainer published through ``weight_store``."""
  restarts, fatal, weight_store = 0, None, None

  def start(self):
    pass

  def outputs(self):
    return iter(())

  def close(self):
    pass


def test_process_and_in_graph_pools_both_satisfy_the_actor_pool_protocol():
  store = weights_lib.WeightStore([w.shape for w in WEIGHTS])
  processes = process_pool(store)
  try:
    assert isinstance(processes, pool_interface.ActorPoolInterface)
    assert isinstance(graph_pool(), pool_interface.ActorPoolInterface)
    assert not isinstance(PoolWithAFakeWeightStore(), pool_interface.ActorPoolInterface)
  finally:
    processes.close()


def test_process_pool_publish_reads_the_weights_once_into_the_store_its_actors_fetch():
  store = weights_lib.WeightStore([w.shape for w in WEIGHTS])
  pool = process_pool(store)
  read = CountingReader(WEIGHTS)
  try:
    pool.publish(read, 5)
    assert read.calls == 1
    version, fetched = store.fetch(-1)  # what an actor process does
    assert version == 5
    for got, want in zip(fetched, WEIGHTS):
      np.testing.assert_array_equal(got, want)
    assert store.fetch(5) == (5, None)  # an actor at version 5 has nothing new to fetch
  finally:
    pool.close()
  late = CountingReader(WEIGHTS)
  pool.publish(late, 6)  # after close the store is freed: no actor is left to read it
  assert late.calls == 0


@pytest.mark.slow
def test_in_graph_pool_publish_reads_no_weights_and_stamps_the_next_episodes_with_its_version():
  pool = graph_pool()
  read = CountingReader(WEIGHTS)
  pool.start()
  episodes = pool.outputs()
  pool.publish(read, 7)
  first = next(episodes)
  pool.publish(read, 8)
  second = next(episodes)
  pool.close()
  assert read.calls == 0, "the in-graph actor plays with the learner's own variables"
  np.testing.assert_array_equal(first.policy_version, [7, 7])
  np.testing.assert_array_equal(second.policy_version, [8, 8])


class RecordingPool:
  """An ActorPoolInterface whose actors share the learner's variables: it reads nothing."""

  def __init__(self):
    self.restarts, self.fatal = 0, None
    self.published, self.closed = [], False

  def start(self):
    pass

  def outputs(self):
    while not self.closed:
      yield "a batch"  # the fake learner below takes anything

  def publish(self, read_weights, version):
    self.published.append((read_weights, version))

  def close(self):
    self.closed = True


class CountingPolicy:
  def __init__(self):
    self.reads = 0

  def get_weights(self):
    self.reads += 1
    return WEIGHTS


class FakeLearner:
  def step(self, batch, learner_step):  # pylint: disable=unused-argument
    return {}


class FakeReporter:
  """Records evaluation points; writes nothing."""

  def __init__(self):
    self.history, self.extra = [], {}

  def evaluate(self, step, frames, minutes):
    point = dict(step=step, frames=frames, minutes=minutes)
    self.history.append(point)
    return point

  def summaries(self, frames, terms):
    pass

  def progress(self, *args):
    pass

  def close(self):
    pass


class FakeCheckpoints:
  def save(self, step):
    pass


def test_trainer_hands_the_pool_a_weight_reader_after_every_update_and_reads_none_itself():
  pool, policy, updates = RecordingPool(), CountingPolicy(), 3
  schedule = trainer_lib.Schedule(
      max_agent_steps=updates * 2, max_minutes=0, eval_every_minutes=100,
      checkpoint_every_minutes=100, summary_every_updates=1, critic_updates_per_learner_update=1,
      batch_size=2, episode_length=1)
  counters = dict(learner_step=tf.Variable(0, dtype=tf.int64),
                  frames=tf.Variable(0, dtype=tf.int64),
                  seconds=tf.Variable(0.0, dtype=tf.float64))
  trainer = trainer_lib.Trainer(
      schedule=schedule, strategy=None, policy=policy, policy_learner=FakeLearner(),
      checkpoints=FakeCheckpoints(), counters=counters, make_actor_pool=lambda: pool,
      policy_batches=lambda p: p.outputs(), critic_batches=None, replay=[],
      reporter=FakeReporter(), log=lambda line: None)
  result = trainer.run()
  assert [version for _, version in pool.published] == [1, 2, 3]
  assert policy.reads == 0, "with a pool that needs no weights, an update copies none"
  assert pool.published[-1][0]() is WEIGHTS and policy.reads == 1  # the reader reads the policy
  assert pool.closed and result["actor_restarts"] == 0
