"""The dab model's pure functions against slow NumPy loops in libmypaint's own terms."""
import math

import numpy as np
import pytest
import tensorflow as tf

from spiral_tf.envs import canvas as canvas_lib
from spiral_tf.envs import dab_model
from spiral_tf.envs.brush_model import BrushModel
from spiral_tf.envs.tf_renderer import PaintState


def slow_lowpass(targets, x0, gain):
  """libmypaint's per-stroke_to filter, one event at a time: x_i = x_{i-1} + (t_i - x_{i-1}) g."""
  out, x = [], x0
  for t in targets:
    x = x + (t - x) * gain
    out.append(x)
  return np.array(out)


def test_tracking_filters_unroll_libmypaints_lowpass_loops():
  brush = BrushModel.from_myb()
  filters = dab_model.tracking_filters(brush)
  n, dt = canvas_lib.STROKES_PER_STEP, canvas_lib.DTIME
  assert filters["f"] == pytest.approx(1.0 - math.exp(-100.0 * dt / brush.slow_tracking))
  rng = np.random.default_rng(0)
  targets, x0 = rng.uniform(0, 64, size=n), 7.0
  for gain, m, d in ((filters["f"], "track_m", "track_d"),
                     (1.0 - math.exp(-dt / brush.speed2_slowness), "speed_m", "speed_d")):
    fast = filters[m].astype(np.float64) @ targets + filters[d] * x0
    np.testing.assert_allclose(fast, slow_lowpass(targets, x0, gain), rtol=1e-5)


def test_a_new_straight_stroke_lays_dabs_at_libmypaints_density():
  """A slow stroke on a brush without tracking lag: dabs = length * (6 / r_actual + 6 / r_basic)."""
  brush = BrushModel.from_myb()._replace(slow_tracking=0.0)
  filters = dab_model.tracking_filters(brush)
  state = PaintState(canvas=tf.zeros([1, 4, 4, 1]), position=tf.constant([[10.0, 2.0]]),
                     brush_position=tf.constant([[10.0, 2.0]]), pressure=tf.zeros([1]),
                     partial_dabs=tf.zeros([1]), speed=tf.zeros([1]), radius=tf.zeros([1]),
                     stroke_open=tf.zeros([1], tf.bool), step=tf.zeros([1], tf.int32))
  end = tf.constant([[10.0, 12.0]])
  line = dab_model.stroke(brush, filters, state, control=end, end=end,
                          size=tf.constant([2.0]), pressure=tf.constant([0.5]))
  np.testing.assert_allclose(line.verts[0, -1], [10.0, 12.0], atol=1e-4)  # no lag: at the pen
  lengths = np.linalg.norm(np.diff(line.verts[0].numpy(), axis=0), axis=-1)
  assert lengths.sum() == pytest.approx(10.0, rel=1e-4)
  density = (brush.dabs_per_actual_radius / line.r_actual[0].numpy()
             + brush.dabs_per_basic_radius / 2.0)
  dab_u = line.dab_u[0].numpy()
  assert dab_u[0] == 0.0, "a new stroke carries no fraction of a dab"
  assert dab_u[-1] == pytest.approx((lengths * density).sum(), rel=1e-5)
  # Pressure: 0 at the reset stroke_to, then the action's own (a new stroke has no ramp).
  np.testing.assert_allclose(line.pressure[0], [0.0] + [0.5] * 50)
