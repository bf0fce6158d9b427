"""Rewards and auxiliary penalties against slow NumPy references."""
import numpy as np
import pytest

import spiral_tf  # noqa: F401  (before TensorFlow: selects Keras 2)
import tensorflow as tf  # noqa: F401

from spiral_tf.losses import rewards


def test_l2_distance_is_mean_over_pixels_and_channels():
  canvas = np.ones((2, 2, 2, 3), np.float32)
  target = canvas.copy()
  target[1, 0, 1, 2] = 0.0  # one channel of one pixel off by 1 in 2*2*3 values
  np.testing.assert_allclose(rewards.l2_distance(canvas, target).numpy(), [0.0, 1.0 / 12])
  np.testing.assert_allclose(rewards.l2_reward(canvas, target).numpy(), [0.0, -1.0 / 12])


def test_l2_distance_matches_loop_reference():
  rng = np.random.default_rng(0)
  canvas, target = (rng.uniform(size=(3, 4, 5, 2)).astype(np.float32) for _ in range(2))
  expected = []
  for b in range(3):
    total = 0.0
    for y in range(4):
      for x in range(5):
        for c in range(2):
          total += (canvas[b, y, x, c] - target[b, y, x, c]) ** 2
    expected.append(total / (4 * 5 * 2))
  np.testing.assert_allclose(rewards.l2_distance(canvas, target).numpy(), expected, rtol=1e-5)


def test_new_strokes_counts_paint_after_a_move_or_at_the_start():
  flags = np.array([[1, 0, 0],
                    [1, 1, 0],
                    [0, 1, 0],
                    [1, 0, 0],
                    [1, 1, 0]])  # [T, B]
  # column 0: paint at t=0 (start counts as a move) and again after the move at t=2.
  np.testing.assert_array_equal(rewards.new_strokes(flags).numpy()[:, 0], [1, 0, 0, 1, 0])
  np.testing.assert_allclose(rewards.new_strokes(flags).numpy().sum(0), [2, 2, 0])


def test_new_strokes_match_loop_reference():
  flags = np.random.default_rng(1).integers(0, 2, (20, 6))
  expected = []
  for b in range(6):
    count, previous = 0, 0
    for t in range(20):
      if flags[t, b] == 1 and previous != 1:
        count += 1
      previous = flags[t, b]
    expected.append(count)
  np.testing.assert_allclose(rewards.new_strokes(flags).numpy().sum(0), expected)


def test_empty_canvas_penalty_fires_only_for_a_blank_canvas():
  canvas = np.ones((3, 8, 8, 3), np.float32)
  canvas[1] -= 0.001  # below the threshold: still blank
  canvas[2, 4, 4] = 0.2  # one painted pixel
  np.testing.assert_allclose(rewards.empty_canvas_penalty(canvas, weight=2.0).numpy(),
                             [-2.0, -2.0, 0.0])


def test_empty_canvas_penalty_uses_a_coloured_background():
  background = np.array([0.2, 0.4, 0.6], np.float32)
  canvas = np.broadcast_to(background, (2, 4, 4, 3)).copy()
  canvas[1, 0, 0, 0] = 1.0
  np.testing.assert_allclose(
      rewards.empty_canvas_penalty(canvas, background=background).numpy(), [-1.0, 0.0])


def test_empty_canvas_penalty_compares_with_a_blank_image_pixel_by_pixel():
  # MuJoCo's blank canvas is an image (the grey platform), not one colour.
  rng = np.random.default_rng(5)
  blank = rng.uniform(size=(6, 6, 3)).astype(np.float32)
  canvas = np.stack([blank, blank, 1.0 - blank])
  canvas[1, 2, 3, 1] += 0.005  # within the threshold: still blank
  expected = -3.0 * (np.abs(canvas - blank).max(axis=(1, 2, 3)) <= 0.01)
  np.testing.assert_allclose(
      rewards.empty_canvas_penalty(canvas, weight=3.0, background=blank).numpy(), expected)
  np.testing.assert_allclose(expected, [-3.0, -3.0, 0.0])


def test_color_histograms_match_numpy_histogram():
  rng = np.random.default_rng(2)
  images = rng.uniform(size=(2, 6, 6, 3)).astype(np.float32)
  images[0, 0, 0, 0] = 1.0  # the top edge belongs to the last bin, as in np.histogram
  hist = rewards.color_histograms(images, bins=8).numpy()
  for b in range(2):
    for c in range(3):
      counts, _ = np.histogram(images[b, ..., c], bins=8, range=(0.0, 1.0))
      np.testing.assert_allclose(hist[b, c], counts / counts.sum(), rtol=1e-6)


def test_color_histogram_emd_equals_sorted_sample_distance_at_bin_centres():
  # For two equal-size samples in 1-D, W1 = mean |sort(a) - sort(b)|; with
  # values at bin centres the binned EMD must equal it exactly.
  bins = 10
  rng = np.random.default_rng(3)
  centres = (np.arange(bins) + 0.5) / bins
  canvas, target = (centres[rng.integers(0, bins, (2, 4, 4, 3))].astype(np.float32)
                    for _ in range(2))
  expected = []
  for b in range(2):
    per_channel = [np.mean(np.abs(np.sort(canvas[b, ..., c].ravel())
                                  - np.sort(target[b, ..., c].ravel()))) for c in range(3)]
    expected.append(np.mean(per_channel))
  np.testing.assert_allclose(rewards.color_histogram_emd(canvas, target, bins).numpy(),
                             expected, rtol=1e-5)


def test_color_histogram_emd_is_zero_for_same_colours_in_other_places():
  rng = np.random.default_rng(4)
  image = rng.uniform(size=(1, 5, 5, 3)).astype(np.float32)
  shuffled = image[:, ::-1, ::-1]  # same histogram, different picture
  assert rewards.color_histogram_emd(image, shuffled).numpy()[0] == pytest.approx(0.0)


def test_final_step_rewards_puts_reward_at_last_step_only_paper_eq4():
  out = rewards.final_step_rewards(np.array([1.5, -2.0], np.float32), 4).numpy()
  np.testing.assert_array_equal(out, [[0, 0], [0, 0], [0, 0], [1.5, -2.0]])


def test_shaped_rewards_are_score_differences_that_telescope():
  scores = np.random.default_rng(2).normal(size=(6, 4)).astype(np.float32)  # [T+1, B]
  shaped = rewards.shaped_rewards(scores).numpy()
  for t in range(5):
    np.testing.assert_allclose(shaped[t], scores[t + 1] - scores[t], rtol=1e-6)
  np.testing.assert_allclose(shaped.sum(0), scores[-1] - scores[0], rtol=1e-5, atol=1e-6)


def test_return_moments_match_a_numpy_running_mean_and_std():
  rng = np.random.default_rng(3)
  moments = np.zeros(3, np.float32)
  mean = square = None
  for i in range(4):
    returns = rng.normal(-12.0, 1.5, size=32).astype(np.float32)
    moments = rewards.update_return_moments(moments, returns, 0.9).numpy()
    if i == 0:  # the first batch replaces the zeros
      mean, square = returns.mean(), (returns ** 2).mean()
    else:
      mean = 0.9 * mean + 0.1 * returns.mean()
      square = 0.9 * square + 0.1 * (returns ** 2).mean()
  np.testing.assert_allclose(moments, [1.0, mean, square], rtol=1e-5)
  np.testing.assert_allclose(rewards.return_std(moments).numpy(), np.sqrt(square - mean ** 2),
                             rtol=1e-3)


def test_auxiliary_rewards_charge_new_strokes_where_they_start_and_empty_canvas_at_the_end():
  acted = np.array([[1, 0], [1, 0], [0, 0], [1, 0]], np.float32)  # [T, B]; column 1 never paints
  final = np.ones((2, 4, 4, 1), np.float32)
  final[0, 1, 1] = 0.0  # column 0 painted
  out = rewards.auxiliary_rewards(acted, final, new_stroke_weight=0.5,
                                  empty_canvas_weight=2.0).numpy()
  expected = np.zeros((4, 2), np.float32)
  expected[[0, 3], 0] = -0.5  # a stroke starts at t=0 and again at t=3
  expected[3, 1] = -2.0  # the empty canvas, charged at the last step
  np.testing.assert_allclose(out, expected)


def test_critic_score_flattens_the_critics_output_and_passes_the_target():
  seen = []
  critic = lambda images, targets=None: (seen.append(targets is not None), images[:, :1, 0, 0])[1]
  images = np.zeros((3, 2, 2, 1), np.float32)
  assert rewards.critic_score(critic)(images, images).shape == (3,)
  assert rewards.critic_score(critic)(images).shape == (3,)
  assert seen == [True, False]
