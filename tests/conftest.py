"""Shared test fixtures: where the real data lives, and quiet TensorFlow."""
import os

import pytest

import spiral_tf  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED_DATA = os.environ.get("SPIRAL_SHARED_DATA",
                             os.path.join(os.path.dirname(REPO_ROOT), "shared", "data"))


# Tiers that are slow by nature (registered in setup.cfg): a test marked with one
# of them is marked slow too, so `pytest -m "not slow"` leaves it out and authors
# mark once.
SLOW_TIERS = ("learning", "subprocess", "notebook", "cluster")


@pytest.hookimpl(tryfirst=True)  # before the -m selection reads the markers
def pytest_collection_modifyitems(items):
  """Adds the ``slow`` marker to every test of a slow tier."""
  for item in items:
    if any(item.get_closest_marker(tier) for tier in SLOW_TIERS):
      item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def shared_data():
  """Path of ../shared/data (override with SPIRAL_SHARED_DATA)."""
  if not os.path.isdir(SHARED_DATA):
    pytest.fail(f"test data not found at {SHARED_DATA}; set SPIRAL_SHARED_DATA")
  return SHARED_DATA


@pytest.fixture(scope="session")
def ray_cluster():
  """One Ray cluster of two nodes on this machine (a head and a worker, one CPU each).

  Started once for the whole test session and shared by every test of the
  cluster tier (Ray actors, PBT), since starting one takes seconds; the test
  that removes the worker node runs last (tests/test_ray_actors.py).
  """
  ray = pytest.importorskip("ray", reason="Ray is the cluster extra: pip install -e '.[cluster]'")
  from ray import cluster_utils  # pylint: disable=g-import-not-at-top
  os.environ.setdefault("RAY_TRAIN_V2_ENABLED", "0")  # Tune without pydantic 2 (tools/pbt.py)
  nodes = dict(num_cpus=1, object_store_memory=100 * 1024 ** 2)
  cluster = cluster_utils.Cluster(initialize_head=True,
                                  head_node_args=dict(nodes, include_dashboard=False))
  cluster.add_node(**nodes)
  ray.init(address=cluster.address, log_to_driver=False, logging_level="ERROR")
  cluster.wait_for_nodes()
  yield cluster
  ray.shutdown()
  cluster.shutdown()


@pytest.fixture(scope="session")
def tiny_trained_run(tmp_path_factory):
  """A run folder of a tiny conditional painting agent after 20 updates (weights not initial).

  Shared by the tests of tools that read trained runs (export, trained agents).
  """
  from test_training import make_trainer, tiny  # pylint: disable=g-import-not-at-top
  folder = tmp_path_factory.mktemp("run")
  cfg = tiny({"env": {"episode_length": 3}}, max_agent_steps=20 * 16 * 3, max_minutes=0)
  make_trainer(cfg, folder).run()
  return str(folder)


@pytest.fixture(scope="session")
def tiny_run_two_checkpoints(tmp_path_factory):
  """test_training.TINY trained to 2 updates, then resumed to 4: ckpt-2 and ckpt-4.

  A dict: folder, weights (policy weights at 2 and at 4), history (of the
  second run). Read by the tests of resumes and damaged checkpoints; a test
  that damages a file copies the folder first (``copy_run``): every test shares it.
  """
  from test_training import make_trainer, tiny  # pylint: disable=g-import-not-at-top
  folder = tmp_path_factory.mktemp("two_checkpoints")
  weights = {}
  for updates in (2, 4):
    trainer = make_trainer(tiny(max_agent_steps=updates * 32, max_minutes=0), folder)
    trainer.run()
    weights[updates] = [w.copy() for w in trainer.policy.get_weights()]
  return {"folder": str(folder), "weights": weights, "history": list(trainer.history)}


def copy_run(folder, into):
  """A copy of a shared run folder (its lock left behind) that a test may damage."""
  import shutil  # pylint: disable=g-import-not-at-top
  shutil.copytree(folder, into, ignore=shutil.ignore_patterns(".lock"))
  return into


def tool_exit(main, argv, capsys):
  """A tool's main as cli.run ends it, in this process: (exit code, stderr)."""
  from spiral_tf import cli  # pylint: disable=g-import-not-at-top
  capsys.readouterr()
  with pytest.raises(SystemExit) as exit_info:
    cli.run(main, argv)
  return exit_info.value.code, capsys.readouterr().err

