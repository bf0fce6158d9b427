"""Actors on Ray (actors.engine 'ray'): the same episodes as actor processes, on any node.

Every test here shares the session's Ray cluster of two nodes on this
machine (``ray.cluster_utils.Cluster``: a head and one worker node, one CPU
each; tests/conftest.py), also used by tests/test_pbt.py; the test that
removes a node runs last.
"""
import time

import numpy as np
import pytest

ray = pytest.importorskip("ray", reason="Ray is the cluster extra: pip install -e '.[cluster]'")

from spiral_tf.agents import acting  # noqa: E402
from spiral_tf.training import builder  # noqa: E402
from spiral_tf.training import pool_interface  # noqa: E402
from spiral_tf.training import ray_actors  # noqa: E402

import test_training  # noqa: E402  pylint: disable=g-import-not-at-top

pytestmark = pytest.mark.cluster

ENVS = 4


@pytest.fixture
def cluster(ray_cluster):
  """The session's two-node Ray cluster (tests/conftest.py)."""
  return ray_cluster


def tiny_cfg(**actors):
  """test_training's tiny config with Ray actors (its synthetic targets need no files)."""
  return test_training.tiny({"actors": dict(dict(engine="ray", count=1, envs_per_actor=ENVS),
                                            **actors)})


def spec_of(cfg):
  return builder.actor_spec(cfg)


def weights_of(cfg):
  return builder.make_policy(cfg, builder.make_env(cfg)).get_weights()


def take(pool, n: int, timeout: float = 120.0):
  """The next ``n`` outputs of a started pool (fails after ``timeout`` seconds)."""
  out, start = [], time.time()
  for output in pool.outputs():
    out.append(output)
    if len(out) == n:
      return out
    assert time.time() - start < timeout, "the Ray actors stopped sending episodes"
  raise AssertionError(f"the pool ended: {pool.fatal}")


def test_ray_actors_send_episodes_in_the_pipelines_layout_stamped_with_their_version(cluster):
  cfg = tiny_cfg()
  spec = spec_of(cfg)
  weights = weights_of(cfg)
  pool = ray_actors.RayActorPool(spec, 1, max_restarts=0, log=lambda m: None)
  assert isinstance(pool, pool_interface.ActorPoolInterface)
  pool.publish(lambda: weights, 3)
  pool.start()
  try:
    first, = take(pool, 1)
    shifted = [w + 0.01 for w in weights]
    pool.publish(lambda: shifted, 7)
    # The calls queued before the publish play version 3; the first one queued after it, 7.
    later = take(pool, ray_actors.CALLS_IN_FLIGHT + 1)
  finally:
    pool.close()
  env = builder.make_env(cfg)
  expected = acting.tensor_spec(env.observation_spec(), env.action_spec(),
                                cfg.env.episode_length, 0)
  env.close()
  # The layout the trajectory pipeline demands of every actor (its from_generator signature,
  # which actor processes meet in every training test): fields, dtypes, shapes.
  for name, spec_part, part in zip(acting.ActorOutput._fields, expected, first):
    for s, value in zip(np.atleast_1d(tf_flat(spec_part)), tf_flat(part)):
      assert value.dtype == s.dtype.as_numpy_dtype, name
      assert value.shape[0] == ENVS and list(value.shape[1:]) == list(s.shape[1:]), name
  np.testing.assert_array_equal(first.policy_version, [3] * ENVS)
  # Sync every episode: the batches already queued keep their version, the next takes 7.
  assert [list(o.policy_version) for o in later] == [[3] * ENVS] * ray_actors.CALLS_IN_FLIGHT + [
      [7] * ENVS]
  # Played with exactly the published weights: the learner's policy with version 7's
  # weights gives the actions the log-probabilities the actor recorded.
  assert_played_with(cfg, shifted, later[-1])
  assert set(pool.placements) == {0} and pool.placements[0] in {
      n["NodeID"] for n in ray.nodes() if n["Alive"]}


def assert_played_with(cfg, weights, output):
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from spiral_tf.training import policy_learner  # pylint: disable=g-import-not-at-top
  env = builder.make_env(cfg)
  rules = env.action_rules
  policy = builder.make_policy(cfg, env)
  env.close()
  policy.set_weights(weights)
  observations = {k: policy_learner.time_major(tf.constant(v))
                  for k, v in output.observations.items()}
  actions = {k: policy_learner.time_major(tf.constant(v)) for k, v in output.actions.items()}
  out = policy.unroll(observations, actions, policy.initial_state(ENVS), None)
  masks = rules.masks(actions)
  target = tf.add_n([masks[..., i] * out.log_probs[k] for i, k in enumerate(rules.components)])
  np.testing.assert_allclose(target.numpy(), output.behaviour_log_prob.T, atol=1e-4)


def tf_flat(structure):
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  return tf.nest.flatten(structure)


def test_a_data_error_inside_a_ray_actor_is_fatal_at_once_and_names_the_file(cluster, tmp_path):
  (tmp_path / "broken.png").write_bytes(b"this is not a PNG file")
  cfg = tiny_cfg()
  test_training.config_lib.apply(cfg, {"data": {"name": "folder", "path": str(tmp_path)}})
  spec = spec_of(cfg)
  pool = ray_actors.RayActorPool(spec, 1, max_restarts=5, log=lambda m: None)
  pool.publish(lambda: weights_of(cfg), 0)
  pool.start()
  try:
    for _ in pool.outputs():
      pass
  finally:
    pool.close()
  assert pool.restarts == 0, "a data error would recur on every restart"
  assert "data error" in str(pool.fatal) and "broken.png" in str(pool.fatal)


def test_a_trainer_fed_by_ray_actors_updates_and_records_where_they_ran(cluster, tmp_path):
  cfg = tiny_cfg(count=2)
  config_lib = test_training.config_lib
  config_lib.apply(cfg, {"train": {"max_agent_steps": 6 * 16 * 2, "max_minutes": 5}})
  trainer = test_training.make_trainer(cfg, tmp_path)
  result = trainer.run()
  assert int(trainer.learner_step.numpy()) >= 6
  assert int(trainer.frames.numpy()) >= 6 * 16 * 2
  assert result["actor_restarts"] == 0


def test_killed_actors_and_a_node_that_leaves_restart_elsewhere_until_the_budget_is_spent(cluster):
  """Two actors fill the two nodes. A killed actor is replaced and the episodes go on; a
  third node joins and the worker node leaves: its actor is replaced on the new node; a
  second kill finds the restart budget (2) spent, and the pool ends naming it. (Last: it
  changes the cluster.)"""
  cfg = tiny_cfg()
  logged = []
  pool = ray_actors.RayActorPool(spec_of(cfg), 2, max_restarts=2, log=logged.append)
  pool.publish(lambda: weights_of(cfg), 0)
  pool.start()
  try:
    take(pool, 1)
    ray.kill(pool._handles[0], no_restart=True)  # pylint: disable=protected-access
    after = take(pool, 2)
    assert pool.restarts == 1 and pool.fatal is None
    assert all(len(o.policy_version) == ENVS for o in after)
    assert any("actor 0 died" in line and "(1/2)" in line for line in logged), logged
    start = time.time()
    while len(pool.placements) < 2:  # both actors playing
      take(pool, 1)
      assert time.time() - start < 180, "the second actor never started"
    assert len(set(pool.placements.values())) == 2, "one actor on each node"
    worker = next(n for n in cluster.worker_nodes)
    doomed = worker.node_id
    doomed_actor = next(i for i, node in pool.placements.items() if node == doomed)
    new_node = cluster.add_node(num_cpus=1, object_store_memory=100 * 1024 ** 2)
    cluster.wait_for_nodes()
    cluster.remove_node(worker)
    before = dict(pool.placements)
    start = time.time()
    while pool.placements[doomed_actor] == before[doomed_actor]:
      take(pool, 1)
      assert time.time() - start < 180, "no episode from the replaced actor"
    assert pool.restarts == 2 and pool.fatal is None
    assert pool.placements[doomed_actor] == new_node.node_id
    assert any(f"actor {doomed_actor} died" in line and "(2/2)" in line for line in logged), logged
    ray.kill(pool._handles[1 - doomed_actor], no_restart=True)  # pylint: disable=protected-access
    for _ in pool.outputs():  # the budget is spent: the pool ends
      pass
  finally:
    pool.close()
  assert isinstance(pool.fatal, pool_interface.ActorsFailedError)
  assert "actors.max_restarts=2 is spent" in str(pool.fatal)
