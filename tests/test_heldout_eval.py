"""Held-out evaluation: one function, one name per number (metrics.json, eval.json, TensorBoard)."""
import glob
import json
import os
import sys

import numpy as np
import pytest
import tensorflow as tf

import spiral_tf  # noqa: F401  (selects Keras 2 before TensorFlow loads)
from spiral_tf.envs import action_rules
from spiral_tf.envs import libmypaint_env
from spiral_tf.eval import reconstruction

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "tests"))
sys.path.insert(0, os.path.join(REPO, "tools"))
import evaluate  # noqa: E402  pylint: disable=g-import-not-at-top
from test_training import make_trainer, tiny  # noqa: E402  pylint: disable=g-import-not-at-top

PAINTING_RULES = action_rules.ActionRules(
    components=("flag", "end", "control", "size"), mask_component="flag", no_op_value=0,
    no_op_components=("flag", "end"), spatial_components=("end", "control"), draws_strokes=True)


def act(flag):
  return dict(flag=flag, end=0, control=0, size=0)


def test_heldout_metrics_divide_by_the_blank_level_and_count_painted_steps():
  programs = [[act(1), act(0), act(0)], [act(1), act(1), act(0)]]  # 1 and 2 strokes
  metrics = reconstruction.heldout_metrics({"l2": 0.03, "programs": programs}, PAINTING_RULES,
                                           {"blank_l2": 0.12, "random_policy_l2": 0.2})
  assert list(metrics) == ["eval_l2", "eval_l2_vs_blank", "strokes_per_image"]
  assert metrics["eval_l2"] == 0.03
  assert metrics["eval_l2_vs_blank"] == pytest.approx(0.25)
  assert metrics["strokes_per_image"] == 1.5


def test_heldout_metrics_without_targets_or_levels_leave_the_ratio_out():
  programs = [[act(0), act(0)], [act(1), act(0)]]
  assert reconstruction.heldout_metrics({"programs": programs}, PAINTING_RULES, {}) == {
      "eval_l2": None, "strokes_per_image": 0.5}
  assert reconstruction.heldout_metrics({"l2": 0.1, "programs": programs}, PAINTING_RULES,
                                        {}) == {"eval_l2": 0.1, "strokes_per_image": 0.5}


def test_reference_levels_are_the_blank_canvas_and_the_random_programs_l2():
  targets = np.random.default_rng(0).uniform(size=(3, 16, 16, 1)).astype(np.float32)

  def make_env():
    return libmypaint_env.LibMyPaintEnv(canvas_size=16, grid_size=8, episode_length=2,
                                        brush_sizes=(1.5,), use_pressure=False, conditional=True)

  levels = reconstruction.reference_levels(make_env, targets, seed=3)
  assert list(levels) == ["blank_l2", "random_policy_l2"]
  # White paper against the targets, in NumPy.
  assert levels["blank_l2"] == pytest.approx(np.mean((1.0 - targets) ** 2), rel=1e-6)
  # The environment's own random programs, drawn in the same order from the same seed.
  rng, env, per_image = np.random.default_rng(3), make_env(), []
  for target in targets:
    env.set_next_target(target)
    env.reset()
    for _ in range(2):
      canvas = env.step(env.random_action(rng)).observation["canvas"]
    per_image.append(np.mean((canvas - target) ** 2))
  env.close()
  assert levels["random_policy_l2"] == pytest.approx(np.mean(per_image), rel=1e-5)
  assert levels["random_policy_l2"] != levels["blank_l2"], "the random programs painted"


@pytest.mark.parametrize("levels", [{"blank_l2": 0.1, "random_policy_l2": 0.2},
                                    {"blank canvas": 0.1, "random policy": 0.2}],
                         ids=["current-keys", "old-run-folder-keys"])
def test_learning_curves_label_the_levels_in_words_under_either_keys(levels):
  from spiral_tf.eval import plots  # pylint: disable=g-import-not-at-top
  history = [dict(frames=0, eval_l2=0.12), dict(frames=100, eval_l2=0.05)]
  fig = plots.learning_curves(history, levels)
  labels = [line.get_label() for line in fig.axes[0].get_lines()]
  assert labels == ["greedy policy (held-out)", "blank canvas", "random policy"]
  assert [line.get_ydata()[0] for line in fig.axes[0].get_lines()[1:]] == [0.1, 0.2]


def test_an_unconditional_runs_curves_show_how_varied_its_samples_are_not_an_empty_l2_plot():
  from spiral_tf.eval import plots  # pylint: disable=g-import-not-at-top
  history = [dict(frames=f, eval_l2=None, distinct_samples=d, strokes_per_image=8.0,
                  sampling_distinct_samples=1.0, sampling_strokes_per_image=s)
             for f, d, s in ((0, 0.9, 4.2), (100, 0.02, 3.1), (200, 0.03, 3.5))]
  fig = plots.learning_curves(history, {}, title="mnist_unconditional")
  assert [ax.get_ylabel() for ax in fig.axes] == ["share of distinct samples",
                                                  "strokes per sample"]
  distinct, strokes = ([list(line.get_ydata()) for line in ax.get_lines()] for ax in fig.axes)
  assert distinct == [[0.9, 0.02, 0.03], [1.0, 1.0, 1.0]]
  assert strokes == [[8.0, 8.0, 8.0], [4.2, 3.1, 3.5]]
  assert [line.get_label() for line in fig.axes[0].get_lines()] == ["greedy policy",
                                                                   "sampling policy"]


def summary_scalars(folder):
  """{tag: last value} of the scalar summaries in a TensorBoard folder."""
  values = {}
  for path in sorted(glob.glob(os.path.join(folder, "events.*"))):
    for event in tf.compat.v1.train.summary_iterator(path):
      for value in event.summary.value:
        if value.metadata.plugin_data.plugin_name == "scalars":
          values[value.tag] = float(tf.make_ndarray(value.tensor))
  return values


@pytest.mark.subprocess
def test_training_and_tools_evaluate_report_one_number_under_one_name(tmp_path, capsys):
  """metrics.json, the summaries and eval.json: the same keys and values for one policy."""
  run_dir = tmp_path / "run"
  cfg = tiny(max_agent_steps=2 * 16 * 2, max_minutes=0)
  make_trainer(cfg, run_dir).run()
  with open(run_dir / "metrics.json") as f:
    metrics = json.load(f)
  last = metrics["history"][-1]
  levels = metrics["levels"]
  assert list(levels) == ["blank_l2", "random_policy_l2"]
  assert last["eval_l2_vs_blank"] == pytest.approx(last["eval_l2"] / levels["blank_l2"])
  scalars = summary_scalars(str(run_dir / "tb"))
  for key in ("eval_l2", "eval_l2_vs_blank", "strokes_per_image"):
    assert scalars[f"eval/{key}"] == pytest.approx(last[key], rel=1e-6), key
  assert "eval/l2_to_target" not in scalars and "eval/l2_vs_blank" not in scalars

  # tools/evaluate.py on the same held-out images (the config's 32) with the same policy.
  assert evaluate.main(["--run-dir", str(run_dir), "--images", "32"]) == 0
  report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
  with open(run_dir / "eval" / "eval.json") as f:
    assert json.load(f) == report
  for key in ("eval_l2", "eval_l2_vs_blank", "strokes_per_image"):
    assert report[key] == pytest.approx(last[key], rel=1e-5), key
  for key in ("blank_l2", "random_policy_l2"):
    assert report[key] == pytest.approx(levels[key], rel=1e-5), key
  assert not {"mean_l2", "l2_vs_blank"} & set(report), "the old names are gone"
