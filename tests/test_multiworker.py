"""Learners on several machines (train.strategy 'multiworker'), as two workers on localhost."""
import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

from spiral_tf import config as config_lib
from spiral_tf.config_checks import ConfigError
from spiral_tf.training import devices

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TESTS = os.path.dirname(os.path.abspath(__file__))


def free_ports(n: int):
  """``n`` TCP ports nobody listens on now (held open together, so they differ)."""
  sockets = [socket.socket() for _ in range(n)]
  for s in sockets:
    s.bind(("localhost", 0))
  ports = [s.getsockname()[1] for s in sockets]
  for s in sockets:
    s.close()
  return ports


def tf_config(ports, index: int) -> str:
  return json.dumps({"cluster": {"worker": [f"localhost:{p}" for p in ports]},
                     "task": {"type": "worker", "index": index}})


def start_workers(argv_of, ports):
  """Starts one process per worker (``argv_of(index)``), each with its TF_CONFIG."""
  return [subprocess.Popen(argv_of(i), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           cwd=REPO, env=dict(os.environ, TF_CONFIG=tf_config(ports, i),
                                              CUDA_VISIBLE_DEVICES="-1"))
          for i in range(2)]


def finish(procs, timeout: float = 420):
  """Each worker's (stdout, stderr, exit code); the fixture that started them kills them."""
  return [p.communicate(timeout=timeout) + (p.returncode,) for p in procs]


# Each worker updates on its half of a batch; worker 0 also updates a one-device
# copy of the same start on the whole batch. Plain SGD with a clip far below the
# gradient's norm: the update is the learning rate times the clipped direction,
# so a clip of each worker's half (instead of the sum) would show.
ONE_UPDATE = """
import json, sys
import numpy as np
import spiral_tf
import tensorflow as tf
import tf_keras as keras
strategy = tf.distribute.MultiWorkerMirroredStrategy()
sys.path.insert(0, sys.argv[1])
import test_policy_learner as t
out = sys.argv[2]
MAX_NORM, LR = 1e-6, 1e4
keras.utils.set_random_seed(0)
learner = t.make_learner(strategy, keras.optimizers.SGD(LR), max_grad_norm=MAX_NORM)
start = [w.copy() for w in learner.policy.get_weights()]
batch = t.random_batch(learner, 8, seed=5)
halves = strategy.experimental_distribute_values_from_function(
    lambda ctx: tf.nest.map_structure(
        lambda x: tf.convert_to_tensor(x[4 * ctx.replica_id_in_sync_group:
                                         4 * ctx.replica_id_in_sync_group + 4]), batch))
terms = learner.step(halves, tf.constant(0, tf.int64))
result = dict(replicas=strategy.num_replicas_in_sync, grad_norm=float(terms["grad_norm"]))
arrays = {f"start{i}": w for i, w in enumerate(start)}
arrays.update({f"after{i}": w for i, w in enumerate(learner.policy.get_weights())})
if strategy.cluster_resolver.task_id == 0:
  one = t.make_learner(tf.distribute.get_strategy(), keras.optimizers.SGD(LR),
                       max_grad_norm=MAX_NORM)
  one.policy.set_weights(start)
  one_terms = one.step(tf.nest.map_structure(tf.convert_to_tensor, batch),
                       tf.constant(0, tf.int64))
  result["one_grad_norm"] = float(one_terms["grad_norm"])
  arrays.update({f"one{i}": w for i, w in enumerate(one.policy.get_weights())})
np.savez(out, **arrays)
print(json.dumps(result))
"""


@pytest.fixture(scope="module")
def two_worker_jobs(tmp_path_factory):
  """Both two-worker jobs of this file, started at once: a worker spends much of its
  time importing TensorFlow and waiting for its peer, so the pairs overlap well."""
  sys.path.insert(0, TESTS)
  from test_training import TINY  # pylint: disable=g-import-not-at-top
  folder = tmp_path_factory.mktemp("multiworker")
  config_path = folder / "tiny.json"
  config_path.write_text(json.dumps(TINY))
  ports = free_ports(4)  # drawn together: a port drawn again before its worker binds it clashes
  update = start_workers(lambda i: [sys.executable, "-c", ONE_UPDATE, TESTS,
                                    str(folder / f"worker{i}.npz")], ports[:2])
  train = start_workers(lambda i: [
      sys.executable, os.path.join(REPO, "tools", "train.py"), "--config", str(config_path),
      "--profile", "", "--run-dir", str(folder / "run"), "--set", "train.strategy=multiworker",
      "--set", "train.max_minutes=0", "--set", "train.max_agent_steps=128",
      "--set", "reward.kind=critic", "--set", "critic.channels=[8,16]",
      "--set", "data.eval_images=8"], ports[2:])
  try:
    yield folder, {"update": update, "train": train}
  finally:
    for p in update + train:
      p.kill()


@pytest.mark.cluster
def test_two_workers_end_an_update_with_equal_weights_equal_to_one_device_on_both_halves(
    two_worker_jobs):
  folder, jobs = two_worker_jobs
  results = finish(jobs["update"])
  for out, err, code in results:
    assert code == 0, err[-3000:]
  reports = [json.loads(out.strip().splitlines()[-1]) for out, _, _ in results]
  assert [r["replicas"] for r in reports] == [2, 2]
  w = [np.load(folder / f"worker{i}.npz") for i in range(2)]
  n = len([k for k in w[0].files if k.startswith("after")])
  assert n > 10
  for i in range(n):
    # The strategy gives both workers the chief's initial values, and the same update.
    np.testing.assert_array_equal(w[0][f"start{i}"], w[1][f"start{i}"])
    np.testing.assert_array_equal(w[0][f"after{i}"], w[1][f"after{i}"])
    np.testing.assert_allclose(w[0][f"after{i}"], w[0][f"one{i}"], atol=1e-6)
  assert reports[0]["one_grad_norm"] > 50 * 1e-6, "the clip must be active to mean anything"
  np.testing.assert_allclose(reports[0]["grad_norm"], reports[0]["one_grad_norm"], rtol=1e-4)
  moved = np.sqrt(sum(np.sum((w[0][f"after{i}"] - w[0][f"start{i}"]) ** 2) for i in range(n)))
  np.testing.assert_allclose(moved, 1e4 * 1e-6, rtol=1e-3)


@pytest.mark.cluster
def test_two_workers_train_one_run_that_the_chief_alone_writes(two_worker_jobs):
  folder, jobs = two_worker_jobs
  workers = finish(jobs["train"])
  for out, err, code in workers:
    assert code == 0, err[-3000:]
  run_dir = folder / "run"
  # 16 episodes of 2 steps an update (8 from each worker's actors): 4 updates.
  metrics = json.loads((run_dir / "metrics.json").read_text())
  assert (metrics["final"]["step"], metrics["final"]["frames"]) == (4, 128)
  assert metrics["config"]["train"]["strategy"] == "multiworker"
  assert "learner worker 1 of 2" in workers[1][0]
  assert "done: learner update 4, 128 agent steps" in workers[1][0]
  assert sorted(os.listdir(run_dir / "checkpoints")) == sorted(
      ["checkpoint", "ckpt-4.index", "ckpt-4.data-00000-of-00001"])


def test_tf_config_names_this_workers_place_and_the_chief():
  env = os.environ.get("TF_CONFIG")
  try:
    os.environ["TF_CONFIG"] = json.dumps({"cluster": {"chief": ["a:1"], "worker": ["b:1", "c:1"]},
                                          "task": {"type": "worker", "index": 1}})
    assert devices.worker_role("multiworker") == devices.WorkerRole(2, 3, False)
    os.environ["TF_CONFIG"] = tf_config([1, 2], 0)
    assert devices.worker_role("multiworker") == devices.WorkerRole(0, 2, True)
    assert devices.worker_role("default") == devices.SOLE_WORKER
    for bad in ("", "{not json", json.dumps({"cluster": {"worker": ["a:1"]},
                                             "task": {"type": "worker", "index": 3}})):
      os.environ["TF_CONFIG"] = bad
      with pytest.raises(ConfigError, match="TF_CONFIG") as err:
        devices.worker_role("multiworker")
      assert "\n" not in str(err.value) and '"task"' in str(err.value)
  finally:
    if env is None:
      os.environ.pop("TF_CONFIG", None)
    else:
      os.environ["TF_CONFIG"] = env


def test_multiworker_refuses_the_collapse_guard_in_the_config():
  cfg = config_lib.Config()
  cfg.train.strategy, cfg.train.collapse_guard = "multiworker", True
  with pytest.raises(ConfigError, match="collapse_guard.*multiworker"):
    config_lib.validate(cfg)


@pytest.mark.subprocess
def test_multiworker_without_tf_config_is_one_error_line_before_anything_is_written(tmp_path):
  env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
  proc = subprocess.run([sys.executable, os.path.join(REPO, "tools", "train.py"),
                         "--run-dir", str(tmp_path / "run"), "--set", "train.strategy=multiworker"],
                        capture_output=True, text=True, timeout=300, cwd=REPO, env=env)
  assert proc.returncode == 2
  lines = proc.stderr.strip().splitlines()
  assert len(lines) == 1 and lines[0].startswith("error: train.strategy 'multiworker' needs "
                                                 "the TF_CONFIG environment variable")
  assert not (tmp_path / "run").exists()
