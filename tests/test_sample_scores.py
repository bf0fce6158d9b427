"""Sample scores and critic-signal measurements: the numbers against references, and both tools."""
import json
import os
import sys

import numpy as np
import pytest

import spiral_tf  # noqa: F401  (selects Keras 2 before TensorFlow loads)

from spiral_tf.data import mnist
from spiral_tf.eval import critic_signal
from spiral_tf.eval import digit_data
from spiral_tf.eval import mnist_classifier
from spiral_tf.eval import sample_scores
from spiral_tf.eval import scripted_programs
from spiral_tf.envs import libmypaint_env

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "tools"))

import bench_critic_signal  # noqa: E402  pylint: disable=g-import-not-at-top
import score_samples  # noqa: E402  pylint: disable=g-import-not-at-top


# --- references, written the slow way --------------------------------------------
def reference_frechet(a, b):
  """FID's formula with Tr sqrt(S1 S2) from the eigenvalues of the product S1 S2."""
  mu1, mu2 = a.mean(0), b.mean(0)
  s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
  # S1 S2 is similar to S1^1/2 S2 S1^1/2: real, non-negative eigenvalues.
  eig = np.linalg.eigvals(s1 @ s2).real
  return np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * np.sum(np.sqrt(
      np.clip(eig, 0, None)))


def reference_spearman(x, y):
  """Pearson correlation of average ranks, ranks counted pair by pair."""
  def rank(v):
    return np.array([1 + sum(w < u for w in v) + (sum(w == u for w in v) - 1) / 2 for u in v])
  return np.corrcoef(rank(x), rank(y))[0, 1]


def test_frechet_distance_matches_the_eigenvalue_reference_on_correlated_features():
  rng = np.random.default_rng(0)
  a = rng.normal(size=(300, 6)) @ rng.normal(size=(6, 6))
  b = rng.normal(size=(200, 6)) @ rng.normal(size=(6, 6)) + 0.5
  np.testing.assert_allclose(sample_scores.frechet_distance(a, b), reference_frechet(a, b),
                             rtol=1e-8)


def test_frechet_distance_of_diagonal_gaussians_is_the_closed_form():
  mu1, mu2 = np.array([0.0, 1.0]), np.array([3.0, -1.0])
  var1, var2 = np.array([1.0, 4.0]), np.array([9.0, 1.0])
  expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(var1) - np.sqrt(var2)) ** 2)
  got = sample_scores.frechet_distance_from_moments(mu1, np.diag(var1), mu2, np.diag(var2))
  assert got == pytest.approx(expected, rel=1e-12)  # 13 + 4 + 1 = 18


def test_frechet_distance_of_a_set_with_itself_is_zero_even_when_rank_deficient():
  rng = np.random.default_rng(1)
  features = rng.normal(size=(20, 64))  # 20 samples in 64-d: a singular covariance
  assert sample_scores.frechet_distance(features, features) == pytest.approx(0.0, abs=1e-8)


def test_histogram_entropy_in_bits():
  assert sample_scores.histogram_entropy(np.full(10, 7)) == pytest.approx(np.log2(10))
  assert sample_scores.histogram_entropy([0, 5, 0]) == 0.0
  assert sample_scores.histogram_entropy([2, 2, 0, 0]) == pytest.approx(1.0)
  assert sample_scores.histogram_entropy([3, 1]) == pytest.approx(0.811278124, rel=1e-8)


def test_class_histogram_and_score_row_count_predicted_classes():
  probabilities = np.array([[0.9, 0.1, 0.0], [0.2, 0.7, 0.1], [0.6, 0.3, 0.1], [0.5, 0.1, 0.4]])
  features = np.random.default_rng(2).normal(size=(4, 3))
  row = sample_scores.score_row(probabilities, features, features, labels=np.array([0, 2, 0, 2]))
  assert row["histogram"] == [3, 1, 0]
  assert row["classes"] == 2
  assert row["mean_top_probability"] == pytest.approx((0.9 + 0.7 + 0.6 + 0.5) / 4)
  assert row["entropy_bits"] == pytest.approx(0.811278124, rel=1e-8)
  assert row["label_kept"] == 0.5  # targets 0, 2, 0, 2 given 0, 1, 0, 0
  assert row["frechet"] == pytest.approx(0.0, abs=1e-8)


def test_distinct_fraction_and_pixel_spread_see_a_collapse():
  rng = np.random.default_rng(0)
  varied = rng.uniform(size=(16, 4, 4, 1))
  same = np.repeat(varied[:1], 16, axis=0)
  assert sample_scores.distinct_fraction(varied) == 1.0
  assert sample_scores.distinct_fraction(same) == 1 / 16
  levels = np.round(same * 255) / 255  # differences well under one 8-bit level are the same
  assert sample_scores.distinct_fraction(levels + rng.uniform(-1e-3, 1e-3, same.shape)) == 1 / 16
  assert sample_scores.pixel_spread(same) == pytest.approx(0.0, abs=1e-12)
  reference = np.mean([np.sqrt(np.mean((varied[:, i, j, 0] - varied[:, i, j, 0].mean()) ** 2))
                       for i in range(4) for j in range(4)])
  assert sample_scores.pixel_spread(varied) == pytest.approx(reference)
  with pytest.raises(ValueError, match="no canvases"):
    sample_scores.distinct_fraction(np.zeros((0, 4, 4, 1)))


def test_label_kept_rate_is_the_share_of_matching_labels_and_refuses_a_length_mismatch():
  assert sample_scores.label_kept_rate([3, 1, 4, 1, 5], [3, 1, 4, 0, 0]) == 0.6
  with pytest.raises(ValueError, match="one label per prediction"):
    sample_scores.label_kept_rate([1, 2], [1, 2, 3])


def test_spearman_matches_the_pairwise_rank_reference_with_and_without_ties():
  rng = np.random.default_rng(3)
  x, y = rng.normal(size=12), rng.normal(size=12)
  assert sample_scores.spearman(x, y) == pytest.approx(reference_spearman(x, y), rel=1e-10)
  d = sample_scores.ranks(x) - sample_scores.ranks(y)
  assert sample_scores.spearman(x, y) == pytest.approx(1 - 6 * np.sum(d ** 2) / (12 * 143))
  tied_x, tied_y = np.round(x), np.round(y * 2) / 2  # many ties
  assert sample_scores.spearman(tied_x, tied_y) == pytest.approx(
      reference_spearman(tied_x, tied_y), rel=1e-10)
  assert sample_scores.spearman([1, 2, 3], [30, 20, 10]) == pytest.approx(-1.0)
  assert np.isnan(sample_scores.spearman([1, 1, 1], [1, 2, 3]))


def test_sign_agreement_counts_only_steps_that_change_l2():
  l2 = np.array([[1.0, 0.5, 0.5, 0.7]])      # improve, no change (a move), worsen
  scores = np.array([[0.0, 2.0, 5.0, 1.0]])  # up (agrees), ignored, down (agrees)
  assert sample_scores.sign_agreement(scores, l2) == (1.0, 2)
  assert sample_scores.sign_agreement(-scores, l2) == (0.0, 2)
  rate, counted = sample_scores.sign_agreement(scores, np.ones((1, 4)))
  assert np.isnan(rate) and counted == 0


# --- candidates and scripted programs ----------------------------------------------
@pytest.fixture(scope="module")
def digits(shared_data):
  images, labels = mnist.load_arrays(os.path.join(shared_data, "mnist"), "test")
  return images[:16], labels[:16]


def as_canvas(images, size=32):
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from spiral_tf.data import images as images_lib  # pylint: disable=g-import-not-at-top
  return np.stack([images_lib.to_canvas(tf.constant(x[..., None]), size, 1, invert=True).numpy()
                   for x in images])


def test_candidates_move_away_from_the_target_as_more_ink_is_erased_or_blurred(digits):
  targets = as_canvas(digits[0][:8])
  rng = np.random.default_rng(0)
  blank = np.ones_like(targets[0])
  for target in targets:
    c = critic_signal.candidates(target, blank, blank, rng)
    d = critic_signal.l2(c, target)
    named = dict(zip(critic_signal.CANDIDATES, d))
    assert named["target"] == 0.0
    assert named["erased 75%"] > named["erased 50%"] > named["erased 25%"] > 0
    assert named["blurred 1.5px"] > named["blurred 0.75px"] > 0
    assert named["blank"] >= named["erased 75%"]


def test_ink_oracle_paints_digits_closer_than_the_blank_canvas_and_random_programs_farther(digits):
  targets = as_canvas(digits[0][:8])
  env = libmypaint_env.LibMyPaintEnv(canvas_size=32, grid_size=16, episode_length=8,
                                     brush_sizes=(1.0, 1.5), use_pressure=False)
  rng = np.random.default_rng(0)
  oracle = [scripted_programs.play(env, scripted_programs.InkOracle(), x, rng) for x in targets]
  randoms = [scripted_programs.play(env, scripted_programs.random_choice, x, rng) for x in targets]
  env.close()
  blank = critic_signal.l2(np.ones_like(targets), targets).mean()
  oracle_l2 = critic_signal.l2(np.stack([e.canvases[-1] for e in oracle]), targets).mean()
  random_l2 = critic_signal.l2(np.stack([e.canvases[-1] for e in randoms]), targets).mean()
  assert oracle_l2 < 0.75 * blank < blank < random_l2  # measured: 0.55x and 2.4x blank
  make_env = lambda: libmypaint_env.LibMyPaintEnv(canvas_size=32, grid_size=16, episode_length=8,
                                                  brush_sizes=(1.0, 1.5), use_pressure=False)
  # The tracer is deterministic: score_samples' oracle row paints these canvases.
  np.testing.assert_array_equal(scripted_programs.oracle_canvases(make_env, targets),
                                np.stack([e.canvases[-1] for e in oracle]))


@pytest.mark.slow
def test_classifier_trains_once_then_loads_the_same_weights_from_its_cache(tmp_path, digits):
  images, labels = as_canvas(digits[0], 16), digits[1]
  logs = []
  first = mnist_classifier.load_or_train(str(tmp_path), images, labels, images, labels,
                                         epochs=1, log=logs.append)
  second = mnist_classifier.load_or_train(str(tmp_path), images, labels, images, labels,
                                          epochs=1, log=logs.append)
  assert logs[0].startswith("classifier trained") and logs[-1].startswith("classifier loaded")
  np.testing.assert_array_equal(first.predict(images).features, second.predict(images).features)
  assert second.test_accuracy == first.test_accuracy
  assert first.predict(images).features.shape == (16, mnist_classifier.FEATURE_SIZE)


# --- the tools, on tiny settings -----------------------------------------------------
TINY_ENV = {"canvas_size": 16, "grid_size": 8, "episode_length": 2, "brush_sizes": [1.5],
            "use_pressure": False}
TINY_POLICY = {"conv_channels": 8, "num_residual_blocks": 1, "residual_channels": 8,
               "torso_size": 32, "core_size": 32, "spatial_head": "dense",
               "conditioning_hidden": [16, 8], "head_mlp_hidden": [8, 16]}


@pytest.fixture(scope="module")
def tiny_mnist(tmp_path_factory, shared_data):
  """200 real digits as a lone t10k file pair: 180 train, 20 test."""
  import gzip  # pylint: disable=g-import-not-at-top
  folder = tmp_path_factory.mktemp("mnist")
  images, labels = mnist.load_arrays(os.path.join(shared_data, "mnist"), "all")
  for name, array in (("t10k-images-idx3-ubyte.gz", images[:200]),
                      ("t10k-labels-idx1-ubyte.gz", labels[:200])):
    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(d).to_bytes(4, "big")
                                                       for d in array.shape)
    with gzip.open(folder / name, "wb") as f:
      f.write(header + array.astype(np.uint8).tobytes())
  return str(folder)


def tiny_config(tmp_path, data_path, conditional):
  cfg = {"name": "tiny_mnist", "env": TINY_ENV, "policy": TINY_POLICY,
         "critic": {"channels": [8, 16]},
         "data": {"name": "mnist", "path": data_path, "eval_images": 8},
         "train": {"conditional": conditional, "batch_size": 8}, "reward": {"kind": "critic"}}
  path = tmp_path / "tiny.json"
  path.write_text(json.dumps(cfg))
  return path


def last_json(capsys):
  return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


@pytest.mark.slow
def test_smoke_score_samples_scores_an_untrained_conditional_run(tmp_path, tiny_mnist, capsys):
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from spiral_tf import config as config_lib  # pylint: disable=g-import-not-at-top
  from spiral_tf import files  # pylint: disable=g-import-not-at-top
  from spiral_tf.training import builder  # pylint: disable=g-import-not-at-top
  cfg = config_lib.load(str(tiny_config(tmp_path, tiny_mnist, True)), profile=None)
  run = tmp_path / "run"
  files.write_json(str(run / "config.json"), builder.config_dict(cfg))
  policy = builder.make_policy(cfg, builder.make_env(cfg))
  tf.train.Checkpoint(policy=policy, learner_step=tf.Variable(0, dtype=tf.int64)).save(
      str(run / "checkpoints" / "ckpt"))
  assert score_samples.main(["--run-dir", str(run), "--samples", "8", "--sampling", "both",
                             "--cache-dir", str(tmp_path / "cache"),
                             "--sheet", str(tmp_path / "sheet.png")]) == 0
  report = last_json(capsys)
  assert set(report["rows"]) == {"greedy policy", "sampling policy", "random policy",
                                 "ink oracle", "real digits"}
  assert all(0 <= r["label_kept"] <= 1 and sum(r["histogram"]) == 8
             for r in report["rows"].values())
  assert report["canvas_size"] == 16 and os.path.isfile(tmp_path / "sheet.png")
  # Each set's distance to the painted domain (the oracle's tracings of the reference digits).
  assert all(np.isfinite(r["frechet_painted"]) and r["frechet_painted"] >= 0
             for r in report["rows"].values())
  random_painted = report["rows"]["random policy"]["frechet_painted"]
  assert report["frechet_painted_vs_random"] == {
      name: pytest.approx(report["rows"][name]["frechet_painted"] / random_painted)
      for name in ("greedy policy", "sampling policy")}
  assert not any("critic_score" in r for r in report["rows"].values())  # none was saved


@pytest.mark.slow
def test_score_samples_reports_the_runs_own_critic_scores_of_every_set(tmp_path, tiny_mnist,
                                                                       capsys):
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from spiral_tf import config as config_lib  # pylint: disable=g-import-not-at-top
  from spiral_tf import files  # pylint: disable=g-import-not-at-top
  from spiral_tf.training import builder  # pylint: disable=g-import-not-at-top
  cfg = config_lib.load(str(tiny_config(tmp_path, tiny_mnist, False)), profile=None)
  run = tmp_path / "run"
  files.write_json(str(run / "config.json"), builder.config_dict(cfg))
  env = builder.make_env(cfg)
  policy, critic, slow = (builder.make_policy(cfg, env), builder.make_critic(cfg, env),
                          builder.make_critic(cfg, env))
  blank = tf.ones([1, 16, 16, 1])
  critic(blank), slow(blank)  # build both, then make them disagree by a known shift
  slow.set_weights([w + 0.0 for w in critic.get_weights()])
  score_bias, = [v for v in slow.variables if "score" in v.name and "bias" in v.name]
  score_bias.assign_add(tf.fill(score_bias.shape, 2.5))
  tf.train.Checkpoint(policy=policy, critic=critic, reward_critic=slow,
                      learner_step=tf.Variable(0, dtype=tf.int64)).save(
                          str(run / "checkpoints" / "ckpt"))
  assert score_samples.main(["--run-dir", str(run), "--samples", "8", "--sampling", "greedy",
                             "--cache-dir", str(tmp_path / "cache")]) == 0
  out = capsys.readouterr().out
  report = json.loads(out.strip().splitlines()[-1])
  assert "reward critic (mean score; higher = more real)" in out
  real = digit_data.labelled_digits(cfg, tiny_mnist, "test")[0][:8]
  expected = float(np.mean(critic(tf.constant(real)).numpy()))
  for name, row in report["rows"].items():
    assert np.isfinite(row["critic_score"]), name
    assert row["reward_critic_score"] == pytest.approx(row["critic_score"] + 2.5, abs=1e-4)
  assert report["rows"]["real digits"]["critic_score"] == pytest.approx(expected, abs=1e-4)


def two_checkpoint_run(tmp_path, data_path, conditional, name="run"):
  """A run folder of the tiny config with two checkpoints (1,000 and 5,000 agent steps)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from spiral_tf import config as config_lib  # pylint: disable=g-import-not-at-top
  from spiral_tf import files  # pylint: disable=g-import-not-at-top
  from spiral_tf.training import builder  # pylint: disable=g-import-not-at-top
  cfg = config_lib.load(str(tiny_config(tmp_path, data_path, conditional)), profile=None)
  run = tmp_path / name
  files.write_json(str(run / "config.json"), builder.config_dict(cfg))
  policy = builder.make_policy(cfg, builder.make_env(cfg))
  step, frames = tf.Variable(0, dtype=tf.int64), tf.Variable(0, dtype=tf.int64)
  saver = tf.train.Checkpoint(policy=policy, learner_step=step, frames=frames,
                              seconds=tf.Variable(60.0, dtype=tf.float64))
  for updates, agent_steps in ((10, 1000), (50, 5000)):
    step.assign(updates)
    frames.assign(agent_steps)
    for w in policy.trainable_variables:  # a different policy at each checkpoint
      w.assign_add(tf.random.stateless_normal(w.shape, [updates, 0], stddev=0.3))
    saver.save(str(run / "checkpoints" / "ckpt"))
  return run


@pytest.mark.slow
def test_score_samples_scores_every_kept_checkpoint_along_the_run(tmp_path, tiny_mnist, capsys):
  run = two_checkpoint_run(tmp_path, tiny_mnist, conditional=False)
  reference = two_checkpoint_run(tmp_path, tiny_mnist, conditional=True, name="painter")
  out_dir = tmp_path / "curve"
  common = ["--run-dir", str(run), "--samples", "8", "--sampling", "greedy",
            "--cache-dir", str(tmp_path / "cache"), "--reference-agent", str(reference)]
  assert score_samples.main(common + ["--every-checkpoint", str(out_dir)]) == 0
  report = last_json(capsys)
  with open(out_dir / "curve.json") as f:
    curve = json.load(f)
  points = curve["points"]
  assert [(p["learner_step"], p["agent_steps"]) for p in points] == [(10, 1000), (50, 5000)]
  assert [os.path.basename(p["checkpoint"]) for p in points] == ["ckpt-1", "ckpt-2"]
  assert report["checkpoints_scored"] == 2 and report["agent_steps"] == 5000
  assert sorted(os.listdir(out_dir)) == ["curve.json", "curve.png", "samples-1000.png",
                                         "samples-5000.png"]
  # The reference sets are painted once: the same numbers beside every checkpoint.
  fixed = ("random policy", "ink oracle", "real digits", "painter reconstructions")
  for name in fixed:
    assert points[0]["rows"][name] == points[1]["rows"][name], name
  painter = points[0]["rows"]["painter reconstructions"]
  assert 0 <= painter["label_kept"] <= 1 and 0 <= painter["strokes_per_image"] <= 2
  assert painter["images"] == 8 and sum(painter["histogram"]) == 8
  # One checkpoint named on its own scores as it did along the curve.
  assert score_samples.main(common + ["--checkpoint", points[0]["checkpoint"]]) == 0
  alone = last_json(capsys)
  assert alone["agent_steps"] == 1000
  mine, along = alone["rows"]["greedy policy"], points[0]["rows"]["greedy policy"]
  assert mine.pop("histogram") == along.pop("histogram")
  assert mine == pytest.approx(along)
  assert alone["rows"]["greedy policy"] != points[1]["rows"]["greedy policy"]


@pytest.mark.slow
def test_score_samples_refuses_a_missing_checkpoint_and_an_unconditional_reference(
    tmp_path, tiny_mnist, capsys):
  from spiral_tf import cli  # pylint: disable=g-import-not-at-top
  run = two_checkpoint_run(tmp_path, tiny_mnist, conditional=False)
  common = ["--run-dir", str(run), "--samples", "8", "--sampling", "greedy",
            "--cache-dir", str(tmp_path / "cache")]
  missing = str(run / "checkpoints" / "ckpt-7")
  with pytest.raises(SystemExit) as exit_info:
    cli.run(score_samples.main, common + ["--checkpoint", missing])
  err = capsys.readouterr().err.strip().splitlines()
  assert exit_info.value.code == cli.USER_ERROR and len(err) == 1
  assert err[0].startswith("error: no checkpoint ") and "ckpt-7" in err[0]
  with pytest.raises(SystemExit) as exit_info:
    cli.run(score_samples.main, common + ["--reference-agent", str(run)])
  err = capsys.readouterr().err.strip().splitlines()
  assert exit_info.value.code == cli.USER_ERROR and len(err) == 1
  assert "unconditional" in err[0] and "conditional agent" in err[0]
  assert not (tmp_path / "curve").exists()


@pytest.mark.slow
def test_smoke_bench_critic_signal_reports_spearman_and_sign_agreement(tmp_path, tiny_mnist,
                                                                       capsys):
  config = tiny_config(tmp_path, tiny_mnist, True)
  assert bench_critic_signal.main(["--config", str(config), "--profile", "", "--updates", "3",
                                   "--fake-episodes", "8", "--targets", "4",
                                   "--set", "critic_training.fakes=all"]) == 0
  report = last_json(capsys)
  assert -1 <= report["spearman"] <= 1 and 0 <= report["sign_agreement"] <= 1
  assert report["critic_fakes"] == "all" and report["replayed_fakes"] == 8 * 3


@pytest.mark.slow
def test_unconditional_evaluation_records_how_varied_greedy_and_sampled_samples_are(tmp_path,
                                                                                     tiny_mnist):
  from spiral_tf import config as config_lib  # pylint: disable=g-import-not-at-top
  from spiral_tf.training import builder  # pylint: disable=g-import-not-at-top
  from spiral_tf.training import reporting  # pylint: disable=g-import-not-at-top
  cfg = config_lib.load(str(tiny_config(tmp_path, tiny_mnist, False)), profile=None)
  policy = builder.make_policy(cfg, builder.make_env(cfg))
  lines = []
  reporter = reporting.Reporter(str(tmp_path / "run"), "tiny", builder.env_factory(cfg), policy,
                                eval_targets=None, num_samples=16, config={}, log=lines.append)
  point = reporter.evaluate(step=0, frames=0, minutes=0.0)
  for prefix in ("", "sampling_"):
    assert point[f"{prefix}distinct_samples"] in {k / 16 for k in range(1, 17)}
    assert point[f"{prefix}sample_spread"] >= 0.0
    assert 0.0 <= point[f"{prefix}strokes_per_image"] <= 2.0
  # An untrained sampling policy draws different strokes for nearly every sample.
  assert point["sampling_distinct_samples"] >= 0.75 and point["sampling_sample_spread"] > 0.01
  with open(tmp_path / "run" / "metrics.json") as f:
    assert json.load(f)["history"][-1]["sampling_distinct_samples"] == (
        point["sampling_distinct_samples"])
  assert "distinct" in lines[-1] and "| sampling" in lines[-1]


@pytest.mark.slow
def test_evaluator_seed_fixes_noise_and_sampled_actions(tmp_path, tiny_mnist):
  from spiral_tf import config as config_lib  # pylint: disable=g-import-not-at-top
  from spiral_tf.eval import reconstruction  # pylint: disable=g-import-not-at-top
  from spiral_tf.training import builder  # pylint: disable=g-import-not-at-top
  cfg = config_lib.load(str(tiny_config(tmp_path, tiny_mnist, False)), profile=None)
  make_env = builder.env_factory(cfg)
  policy = builder.make_policy(cfg, make_env())

  def programs(seed):
    return reconstruction.Evaluator(make_env, policy, 8, seed=seed).run(
        num_samples=8, greedy=False)["programs"]

  first = programs(3)
  assert programs(3) == first  # a new evaluator with the same seed paints the same
  assert programs(4) != first
