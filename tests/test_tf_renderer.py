"""The TensorFlow renderer paints the painting environment's actions as libmypaint does.

Exact semantics are checked with a jitter-free copy of the brush (its random
position and radius settings zeroed), where libmypaint is deterministic and
the two renders must agree to a fraction of a percent; the real brush is
checked statistically against libmypaint's own render-to-render spread.
"""
import json
import os
import sys

import numpy as np
import pytest
import tensorflow as tf

from spiral_tf.envs import brushes
from spiral_tf.envs import specs
from spiral_tf.envs.libmypaint_env import LibMyPaintEnv
from spiral_tf.envs.tf_renderer import BrushModel, TFRenderer

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "tools"))
import bench_renderer  # noqa: E402  pylint: disable=g-import-not-at-top

# Small canvases keep the XLA compilations (one per option set) to seconds.
SMALL = dict(canvas_size=32, grid_size=16, brush_sizes=(1.0, 4.0), use_pressure=True,
             use_color=True)


@pytest.fixture(scope="module")
def steady_brush(tmp_path_factory):
  """dry_brush without its random settings: libmypaint becomes deterministic."""
  with open(brushes.find_brush(brushes.DEFAULT_BRUSH)) as f:
    brush = json.load(f)
  brush["settings"]["offset_by_random"]["inputs"] = {}
  brush["settings"]["radius_by_random"]["base_value"] = 0.0
  path = tmp_path_factory.mktemp("brush") / "steady.myb"
  path.write_text(json.dumps(brush))
  return str(path)


def cell(y, x, grid=16):
  return y * grid + x


def paint(end, control, size=1, pressure=9, rgb=(0, 0, 0)):
  return dict(flag=1, end=end, control=control, size=size, pressure=pressure,
              red=rgb[0], green=rgb[1], blue=rgb[2])


def move(end):
  return dict(flag=0, end=end, control=0, size=0, pressure=0, red=0, green=0, blue=0)


def batch_of(action, env):
  return {c: np.array([action[c]], np.int32) for c in env.action_counts}


def relative_l2(a, b, blank):
  return np.sqrt(((a - b) ** 2).sum()) / max(np.sqrt(((b - blank) ** 2).sum()), 1e-6)


# One program exercising every rule: a first stroke from the top-left, a
# continued stroke (pressure and dab phase carried), a move, a disjoint
# stroke with another size, pressure and colour, and a curve to its control.
PROGRAM = [paint(cell(2, 12), cell(0, 6), size=1, pressure=9, rgb=(19, 0, 0)),
           paint(cell(12, 12), cell(8, 15), size=1, pressure=4, rgb=(19, 0, 0)),
           move(cell(14, 2)),
           paint(cell(6, 4), cell(14, 10), size=0, pressure=2, rgb=(0, 10, 19)),
           paint(cell(4, 14), cell(0, 8), size=1, pressure=6, rgb=(5, 19, 5))]


def test_steady_brush_matches_libmypaint_stroke_by_stroke(steady_brush):
  env = LibMyPaintEnv(episode_length=len(PROGRAM), brush=steady_brush, **SMALL)
  renderer = TFRenderer.from_env(env)
  state = renderer.initial_state(1)
  np.testing.assert_array_equal(state.canvas[0], env.reset().observation["canvas"])
  blank = env.canvas()
  for i, action in enumerate(PROGRAM):
    before, before_expected = state.canvas[0].numpy(), env.canvas()
    state = renderer.step(state, batch_of(action, env), seed=0, jit_compile=False)
    expected = env.step(action).observation["canvas"]
    ours = state.canvas[0].numpy()
    if action["flag"] == 0:
      np.testing.assert_array_equal(ours, before, err_msg="a move paints nothing")
      continue
    # What this stroke changed, in each renderer, so each stroke counts alone.
    change, expected_change = ours - before, expected - before_expected
    error = np.sqrt(((change - expected_change) ** 2).sum() / (expected_change ** 2).sum())
    assert error < 0.01, f"step {i}: TF differs from libmypaint by {error:.4f} of the stroke"
  assert relative_l2(state.canvas[0].numpy(), env.canvas(), blank) < 0.01
  env.close()


@pytest.mark.slow
@pytest.mark.parametrize("options", [
    dict(canvas_size=16, grid_size=8, brush_sizes=(2.0,), use_pressure=False, use_color=False),
    dict(canvas_size=24, grid_size=12, brush_sizes=(1.5, 3.0), use_pressure=False,
         use_color=True, fixed_pressure=0.5, background="black"),
    dict(canvas_size=20, grid_size=4, brush_sizes=(1.0, 2.5, 6.0), use_pressure=True,
         use_color=False, background=(0.2, 0.5, 0.9)),
], ids=["gray-nopressure", "color-black-fixedpressure", "gray-tinted-coarsegrid"])
def test_every_environment_option_agrees_with_the_env(options, steady_brush):
  env = LibMyPaintEnv(episode_length=6, brush=steady_brush, **options)
  renderer = TFRenderer.from_env(env)
  assert renderer.action_counts == env.action_counts
  rng = np.random.default_rng(3)
  programs = bench_renderer.random_programs(env, 4, 6, rng, paint_probability=0.7)
  ours = renderer.render_programs(bench_renderer.as_arrays(env, programs), 0,
                                  jit_compile=False).numpy()
  blank = env.reset().observation["canvas"]
  np.testing.assert_array_equal(renderer.initial_state(1).canvas[0], blank)
  for program, canvas in zip(programs, ours):
    expected = bench_renderer.libmypaint_render(env, program)
    assert canvas.shape == expected.shape
    assert relative_l2(canvas, expected, blank) < 0.01
  env.close()


@pytest.mark.slow
def test_real_brush_differs_from_libmypaint_no_more_than_libmypaint_from_itself():
  env = LibMyPaintEnv(episode_length=8, **SMALL)
  renderer = TFRenderer.from_env(env)
  programs = bench_renderer.random_programs(env, 16, 8, np.random.default_rng(0), 0.8)
  result = bench_renderer.agreement(env, renderer, programs, jit_compile=False)
  assert 0.05 < result["self_mismatch"] < 0.5, "libmypaint's jitter is visible but small"
  assert result["mismatch"] <= 1.2 * result["self_mismatch"], result
  ink = {k: float((1.0 - v).sum()) for k, v in result["renders"].items()}
  assert abs(ink["tf"] / ink["libmypaint"] - 1.0) < 0.03, ink
  env.close()


@pytest.fixture(scope="module")
def small_renderer():
  return TFRenderer(**SMALL)


def random_batch(renderer, batch, steps, seed):
  rng = np.random.default_rng(seed)
  return {c: rng.integers(0, n, size=(batch, steps)).astype(np.int32)
          for c, n in renderer.action_counts.items()}


@pytest.mark.slow
def test_xla_and_plain_graph_render_the_same_canvases():
  # One brush size whose jittered radius straddles libmypaint's anti-aliasing
  # threshold (3 pixels): both rr paths and their switch, one compilation.
  renderer = TFRenderer(canvas_size=32, grid_size=16, brush_sizes=(3.0,), use_color=True)
  assert renderer._classes[0]["aa"] == "mixed"  # pylint: disable=protected-access
  actions = random_batch(renderer, 6, 5, seed=1)
  xla = renderer.render_programs(actions, 7, jit_compile=True).numpy()
  graph = renderer.render_programs(actions, 7, jit_compile=False).numpy()
  assert (xla < 0.99).mean() > 0.05, "the programs paint"
  np.testing.assert_allclose(xla, graph, atol=2e-4)


@pytest.mark.slow
def test_same_seed_gives_identical_canvases_and_seeds_differ_only_near_strokes(
    small_renderer, steady_brush):
  actions = random_batch(small_renderer, 4, 3, seed=2)
  actions["flag"][:] = 1
  actions["size"][:] = 0  # the 1-pixel brush: its jitter reaches 6 pixels, not 26
  first = small_renderer.render_programs(actions, 11, jit_compile=False).numpy()
  again = small_renderer.render_programs(actions, 11, jit_compile=False).numpy()
  other = small_renderer.render_programs(actions, 12, jit_compile=False).numpy()
  np.testing.assert_array_equal(first, again)
  assert np.abs(first - other).max() > 0.1, "another seed jitters the dabs elsewhere"
  # Where the jitter-free brush leaves the canvas blank and no dab of any seed
  # can reach (position jitter at most 2 sqrt(3) * 1.4 * r, radius 1.53 r), both agree.
  steady = TFRenderer(brush=steady_brush, **SMALL).render_programs(
      actions, 0, jit_compile=False).numpy()
  reach = int(np.ceil(2 * np.sqrt(3) * 1.4 + 1.53)) + 1
  ink = (steady < 0.999).any(-1)
  near = tf.nn.max_pool2d(ink[..., None].astype(np.float32), 2 * reach + 1, 1, "SAME")
  far = ~near.numpy()[..., 0].astype(bool)
  assert far.any()
  np.testing.assert_array_equal(first[far], other[far])
  ink_first, ink_other = (1 - first).sum(), (1 - other).sum()
  assert abs(ink_first / ink_other - 1) < 0.05, "the same amount of paint either way"


def test_invalid_actions_raise_errors_naming_the_component(small_renderer):
  good = {c: np.zeros([2], np.int32) for c in small_renderer.action_counts}
  state = small_renderer.initial_state(2)
  with pytest.raises(specs.InvalidActionError, match=r"'end' = 256 .*\[0, 255\]"):
    small_renderer.step(state, dict(good, end=np.array([0, 256])), 0)
  with pytest.raises(specs.InvalidActionError, match="'size' is missing"):
    small_renderer.step(state, {c: v for c, v in good.items() if c != "size"}, 0)
  with pytest.raises(specs.InvalidActionError, match=r"unknown .*'brush'"):
    small_renderer.step(state, dict(good, brush=good["size"]), 0)
  with pytest.raises(specs.InvalidActionError, match="'red' = -1"):
    small_renderer.step(state, dict(good, red=np.array([0, -1])), 0)
  with pytest.raises(specs.InvalidActionError, match=r"'flag' has shape \(2,\); expected 2"):
    small_renderer.render_programs(good, 0)  # programs are [B, T]

  @tf.function
  def inside_a_graph(flag):  # values unknown when traced: checked when run
    return small_renderer.paint_step(state, dict(good, flag=flag), tf.constant([0, 0]))

  with pytest.raises(tf.errors.InvalidArgumentError, match=r"flag.{0,4} must be < 2"):
    inside_a_graph(tf.constant([0, 2]))


def test_a_move_paints_nothing_and_only_moves_the_pen(small_renderer):
  state = small_renderer.initial_state(1)
  act = {c: np.zeros([1], np.int32) for c in small_renderer.action_counts}
  act["end"] = np.array([cell(5, 9)], np.int32)
  moved = small_renderer.step(state, act, 0, jit_compile=False)
  np.testing.assert_array_equal(moved.canvas, state.canvas)
  np.testing.assert_allclose(moved.position, [[10.0, 18.0]])  # (row, col) * 32 / 16
  assert not moved.stroke_open.numpy()[0]


def test_brush_model_reads_dry_brush_and_refuses_what_it_cannot_model():
  brush = BrushModel.from_myb()
  assert (brush.dabs_per_actual_radius, brush.dabs_per_basic_radius) == (6.0, 6.0)
  assert brush.hardness == pytest.approx(0.2)
  assert brush.opaque == pytest.approx((0.8, 0.2))
  assert brush.opaque_multiply == pytest.approx((0.0, 1.0))
  assert brush.offset_by_random == pytest.approx((0.0, 1.4))
  assert brush.radius_by_random == pytest.approx(0.1)
  # At rest the speed curve widens the brush by exp(0.077) (docs/design.md: 1.04-1.08).
  rest = brush.radius_by_speed2[0] + brush.radius_by_speed2[1] * brush.speed2_input(0.0)
  assert np.exp(rest) == pytest.approx(1.080, abs=0.002)
  with open(brushes.find_brush(brushes.DEFAULT_BRUSH)) as f:
    smudgy = json.load(f)
  smudgy["settings"]["smudge"]["base_value"] = 0.5
  with pytest.raises(NotImplementedError, match="'smudge'"):
    BrushModel.from_myb(json.dumps(smudgy).encode())


def test_dabs_touch_only_a_window_around_themselves():
  renderer = TFRenderer()  # the paper's canvas and sizes 1-24
  windows = [c["window"] for c in renderer._classes]  # pylint: disable=protected-access
  assert windows[:4] == [5, 8, 14, 26], "small brushes paint small windows"
  assert windows[-1] == 64, "the 24-pixel brush's window is the whole canvas"
