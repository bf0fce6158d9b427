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
