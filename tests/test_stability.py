"""Learning that holds: the collapse guard, and the diagnostics that name a collapse."""
import json
import os

import numpy as np
import tensorflow as tf

from spiral_tf.training import collapse_guard
from spiral_tf.training import trainer as trainer_lib


def _guard(tmp_path, **state):
  return collapse_guard.CollapseGuard(str(tmp_path / "last_painting"), seed=7, log=lambda _: None,
                                      **state)


def test_guard_puts_back_the_last_painting_state_and_reseeds_when_the_greedy_policy_stops(
    tmp_path):
  weights = tf.Variable([1.0, 2.0, 3.0])
  moments = tf.Variable([1.0, 0.5, 4.0])
  guard = _guard(tmp_path, policy=tf.train.Checkpoint(w=weights), return_moments=moments)
  assert guard.after_evaluation({"strokes_per_image": 2.5}, 100, 25600, 3.0) is None
  weights.assign([-9.0, -9.0, -9.0])
  moments.assign([1.0, 80.0, 9000.0])
  # Still painting: the kept state moves on to this update.
  assert guard.after_evaluation({"strokes_per_image": 0.4}, 200, 51200, 6.0) is None
  assert guard.good_step == 200
  np.testing.assert_array_equal(weights.numpy(), [-9.0, -9.0, -9.0])
  weights.assign([5.0, 5.0, 5.0])
  moments.assign([1.0, 0.0, 1.0])
  event = guard.after_evaluation({"strokes_per_image": 0.0}, 300, 76800, 9.0)
  assert event == dict(learner_step=300, agent_steps=76800, minutes=9.0,
                       restored_learner_step=200, seed=1007)
  np.testing.assert_array_equal(weights.numpy(), [-9.0, -9.0, -9.0])
  np.testing.assert_array_equal(moments.numpy(), [1.0, 80.0, 9000.0])
  # The new seed is in force: TensorFlow's global generator draws what seed 1007 draws.
  drawn = tf.random.uniform([3]).numpy()
  tf.random.set_seed(1007)
  np.testing.assert_array_equal(drawn, tf.random.uniform([3]).numpy())
  assert guard.events == [event]


def test_guard_does_nothing_before_the_policy_ever_painted_and_stops_after_its_limit(tmp_path):
  weights = tf.Variable([1.0])
  guard = collapse_guard.CollapseGuard(str(tmp_path / "g"), seed=0, max_restores=2,
                                       log=lambda _: None, w=weights)
  assert guard.after_evaluation({"strokes_per_image": 0.0}, 10, 100, 1.0) is None
  assert not os.path.exists(tmp_path / "g")
  guard.after_evaluation({"strokes_per_image": 1.0}, 20, 200, 2.0)
  restored = [guard.after_evaluation({"strokes_per_image": 0.0}, 30 + i, 300, 3.0)
              for i in range(4)]
  assert [e is not None for e in restored] == [True, True, False, False]
  assert [e["restored_learner_step"] for e in guard.events] == [20, 20]


def test_a_resumed_guard_finds_its_kept_state_and_earlier_restores(tmp_path):
  weights = tf.Variable([4.0, 4.0])
  first = _guard(tmp_path, w=weights)
  first.after_evaluation({"strokes_per_image": 3.0}, 500, 1000, 5.0)
  with open(tmp_path / "last_painting" / "state.json") as f:
    assert json.load(f) == {"learner_step": 500}
  # Only the complete state is kept: no half-written '-new' files are left.
  assert sorted(os.listdir(tmp_path / "last_painting")) == [
      "state.data-00000-of-00001", "state.index", "state.json"]
  weights.assign([0.0, 0.0])
  second = _guard(tmp_path, w=weights)
  second.load_events([{"learner_step": 50}])
  assert second.good_step == 500
  event = second.after_evaluation({"strokes_per_image": 0.0}, 600, 1200, 6.0)
  assert event["restored_learner_step"] == 500 and event["seed"] == 7 + 2000
  np.testing.assert_array_equal(weights.numpy(), [4.0, 4.0])


def test_peaks_keep_the_largest_value_of_each_tracked_term_between_summaries():
  peaks = {}
  for terms in ({"grad_norm": 0.5, "pg": 3.0}, {"grad_norm": 9.0, "log_rho_abs_max": 1.0},
                {"grad_norm": 0.7, "log_rho_abs_max": 4.0}):
    trainer_lib.track_peaks(peaks, terms)
  assert peaks == {"grad_norm": 9.0, "log_rho_abs_max": 4.0}  # untracked 'pg' is not kept
