"""Behaviour of the libmypaint painting environment."""
import ctypes
import os
import tempfile

import numpy as np
import pytest

from spiral_tf.envs import brushes
from spiral_tf.envs import canvas as canvas_lib
from spiral_tf.envs import libmypaint_ffi
from spiral_tf.envs import specs
from spiral_tf.envs.libmypaint_env import LibMyPaintEnv, random_action
from spiral_tf.envs.program_env import batched

GRID, CANVAS = 32, 64


def cell(y, x):
  """Flat grid index of canvas point (y, x) on the default 32x32 grid."""
  return (y * GRID // CANVAS) * GRID + (x * GRID // CANVAS)


def paint(end, control, size=1, pressure=9, **extra):
  return dict(flag=1, end=end, control=control, size=size, pressure=pressure, **extra)


def move(end, **extra):
  return dict(flag=0, end=end, control=0, size=0, pressure=0, **extra)


@pytest.fixture
def env():
  e = LibMyPaintEnv(episode_length=4)
  yield e
  e.close()


def test_blank_canvas_is_white_with_declared_specs(env):
  step = env.reset()
  for name, spec in env.observation_spec().items():
    assert step.observation[name].shape == spec.shape, name
    assert step.observation[name].dtype == spec.dtype, name
  assert np.all(step.observation["canvas"] == 1.0)
  assert list(env.action_spec()) == ["flag", "end", "control", "size", "pressure"]
  assert env.action_spec()["end"].maximum == GRID * GRID - 1


def test_straight_stroke_darkens_its_path_and_nothing_far_away(env):
  env.reset()
  env.step(move(cell(32, 10)))
  canvas = env.step(paint(cell(32, 54), cell(32, 32))).observation["canvas"][..., 0]
  path = canvas[32, 14:50]
  assert path.max() < 0.5, "every pixel along the horizontal stroke is dark"
  assert canvas[:16].min() == 1.0 and canvas[48:].min() == 1.0, "far rows stay white"


def test_bezier_stroke_bends_towards_its_control_point(env):
  env.reset()
  env.step(move(cell(40, 8)))
  canvas = env.step(paint(cell(40, 56), cell(0, 32))).observation["canvas"][..., 0]
  # p(0.5) = 0.25*start + 0.5*control + 0.25*end = (y 20, x 32).
  assert canvas[18:23, 30:35].min() < 0.5
  assert canvas[40, 32] == 1.0, "the straight chord between the ends stays white"


def test_move_paints_nothing_and_masks_follow_paint_move_rule(env):
  first = env.reset()
  assert np.all(first.observation["action_mask"] == 0), "no previous action at the start"
  moved = env.step(move(cell(50, 50)))
  assert np.all(moved.observation["canvas"] == 1.0)
  np.testing.assert_array_equal(moved.observation["action_mask"], [1, 1, 0, 0, 0])
  painted = env.step(paint(cell(10, 10), cell(30, 30)))
  np.testing.assert_array_equal(painted.observation["action_mask"], [1, 1, 1, 1, 1])
  np.testing.assert_array_equal(painted.observation["prev_action"],
                                [1, cell(10, 10), cell(30, 30), 1, 9])


def test_first_stroke_starts_at_the_top_left(env):
  env.reset()
  canvas = env.step(paint(cell(0, 40), cell(0, 20))).observation["canvas"][..., 0]
  assert canvas[0:3, 0:6].min() < 0.5


def test_episode_ends_after_n_steps_with_zero_reward_by_default(env):
  step = env.reset()
  rewards = []
  for _ in range(4):
    assert not step.is_last()
    step = env.step(move(0))
    rewards.append(float(step.reward))
  assert step.is_last() and rewards == [0.0] * 4
  assert int(step.observation["step"]) == 4


def test_step_before_reset_or_after_the_last_step_is_an_error_not_a_new_episode(env):
  with pytest.raises(specs.EpisodeOrderError, match=r"before reset\(\)"):
    env.step(move(0))
  env.reset()
  for _ in range(4):
    step = env.step(move(0))
  assert step.is_last()
  with pytest.raises(specs.EpisodeOrderError, match="after the episode's last step"):
    env.step(paint(cell(10, 10), cell(20, 20)))
  with pytest.raises(specs.EpisodeOrderError):  # even an invalid action is not dropped silently
    env.step({"flag": 7})
  assert env.reset().is_first() and not env.step(move(0)).is_last()


@pytest.mark.parametrize("value", [float("inf"), float("-inf"), float("nan"), np.float32("inf")])
def test_non_finite_action_value_names_the_component(env, value):
  env.reset()
  with pytest.raises(specs.InvalidActionError, match=r"'end' = .* integer in \[0, 1023\]"):
    env.step(dict(move(0), end=value))


@pytest.mark.parametrize("kwargs, message", [
    (dict(brush_sizes=[float("nan")]), "brush_sizes"),
    (dict(brush_sizes=[2.0, -1.0]), "brush_sizes"),
    (dict(brush_sizes=5), "brush_sizes"),
    (dict(canvas_size=63.5), "canvas_size must be a whole number"),
    (dict(canvas_size="64"), "canvas_size must be a whole number"),
    (dict(grid_size=16.5), "grid_size must be a whole number"),
    (dict(episode_length=2.5), "episode_length must be a whole number"),
    (dict(brush=5), "brush must be a brush name"),
])
def test_bad_constructor_arguments_are_rejected_not_truncated(kwargs, message):
  with pytest.raises(ValueError, match=message):
    LibMyPaintEnv(**kwargs)


def test_integral_float_sizes_are_accepted_as_ints():
  env = LibMyPaintEnv(canvas_size=32.0, grid_size=16.0, episode_length=2.0)
  assert env.reset().observation["canvas"].shape == (32, 32, 1)
  env.close()


def test_readme_python_example_runs():
  readme = open(os.path.join(os.path.dirname(os.path.dirname(__file__)), "README.md")).read()
  example = readme.split("```python\n", 1)[1].split("```", 1)[0]
  scope = {}
  exec(compile(example, "README.md", "exec"), scope)  # pylint: disable=exec-used
  assert scope["step"].observation["canvas"].min() < 1.0, "the example paints something"


def _c_stdout_of(fn):
  """What the C library printed (to file descriptor 1) while ``fn`` ran, and fn's result."""
  libc = ctypes.CDLL(None)
  libc.fflush(None)
  with tempfile.TemporaryFile() as captured:
    saved = os.dup(1)
    os.dup2(captured.fileno(), 1)
    try:
      result = fn()
    finally:
      libc.fflush(None)
      os.dup2(saved, 1)
      os.close(saved)
    captured.seek(0)
    return captured.read().decode(errors="replace"), result


# Programs (cpu profile: 32x32 canvas, 16x16 grid, one 1.5 px brush) in which a
# dab landed exactly on a stroke_to event; with dtime 0.1 libmypaint printed
# "Time is running backwards!" (found in 380,000 random steps).
CPU_ENV = dict(canvas_size=32, grid_size=16, episode_length=6, brush_sizes=[1.5],
               use_pressure=False)
DAB_ON_EVENT_PROGRAMS = [
    [dict(flag=0, end=98, control=0, size=0), dict(flag=1, end=148, control=190, size=0)],
    [dict(flag=0, end=36, control=208, size=0), dict(flag=1, end=91, control=150, size=0),
     dict(flag=1, end=152, control=247, size=0), dict(flag=1, end=138, control=111, size=0),
     dict(flag=1, end=110, control=191, size=0), dict(flag=1, end=178, control=123, size=0)],
]


def _paint_all(programs):
  env = LibMyPaintEnv(**CPU_ENV)
  canvases = []
  for program in programs:
    env.reset()
    for action in program:
      step = env.step(action)
    canvases.append(step.observation["canvas"].copy())
  env.close()
  return np.stack(canvases)


def test_libmypaint_no_longer_prints_time_is_running_backwards():
  assert canvas_lib.DTIME <= 0.1 and float(np.float32(canvas_lib.DTIME)) == canvas_lib.DTIME
  printed, canvases = _c_stdout_of(lambda: _paint_all(DAB_ON_EVENT_PROGRAMS))
  assert "backwards" not in printed, printed
  assert canvases.min() < 0.5, "the strokes were painted"


def test_exact_dtime_paints_what_dtime_one_tenth_painted(monkeypatch):
  rng = np.random.default_rng(0)
  env = LibMyPaintEnv(**CPU_ENV)
  programs = DAB_ON_EVENT_PROGRAMS + [
      [random_action(env, rng, 0.7) for _ in range(6)] for _ in range(20)]
  env.close()
  ours = _paint_all(programs)
  monkeypatch.setattr(canvas_lib, "DTIME", 0.1)
  _, before = _c_stdout_of(lambda: _paint_all(programs))
  # Within 2/32768: libmypaint's 15-bit channels, one rounding step apart at most.
  np.testing.assert_allclose(ours, before, rtol=0, atol=2.5 / 32768)


def test_colour_stroke_matches_requested_bins():
  env = LibMyPaintEnv(use_color=True, episode_length=2)
  env.reset()
  env.step(move(cell(32, 8), red=0, green=0, blue=0))
  # red bin 19 -> 1.0, green bin 0 -> 0.0, blue bin 10 -> 10/19.
  canvas = env.step(paint(cell(32, 56), cell(32, 32), size=3, red=19, green=0,
                          blue=10)).observation["canvas"]
  assert canvas.shape == (CANVAS, CANVAS, 3)
  core = canvas[30:35, 24:40].reshape(-1, 3)
  darkest = core[core.sum(axis=1).argmin()]
  np.testing.assert_allclose(darkest, [1.0, 0.0, 10 / 19], atol=0.08)
  env.close()


def test_same_seed_and_actions_give_identical_canvas_bit_for_bit():
  rng = np.random.default_rng(3)
  env = LibMyPaintEnv(use_color=True, episode_length=8)
  actions = [random_action(env, rng, 0.7) for _ in range(8)]
  canvases = []
  for _ in range(2):
    env.reset()
    for a in actions:
      step = env.step(a)
    canvases.append(step.observation["canvas"].copy())
  other = LibMyPaintEnv(use_color=True, episode_length=8)
  other.reset()
  for a in actions:
    step = other.step(a)
  assert canvases[0].min() < 0.9, "something was painted"
  assert np.array_equal(canvases[0], canvases[1])
  assert np.array_equal(canvases[0], step.observation["canvas"])


@pytest.mark.parametrize("bad, component, valid", [
    (dict(flag=2, end=0, control=0, size=0, pressure=0), "flag", "[0, 1]"),
    (dict(flag=1, end=1024, control=0, size=0, pressure=0), "end", "[0, 1023]"),
    (dict(flag=1, end=0, control=-1, size=0, pressure=0), "control", "[0, 1023]"),
    (dict(flag=1, end=0, control=0, size=6, pressure=0), "size", "[0, 5]"),
    (dict(flag=1, end=0, control=0, size=0, pressure=0.5), "pressure", "[0, 9]"),
    (dict(flag=1, end=0, control=0, size=0), "pressure", "missing"),
])
def test_bad_action_names_the_component_and_its_range(env, bad, component, valid):
  env.reset()
  with pytest.raises(specs.InvalidActionError) as err:
    env.step(bad)
  assert repr(component) in str(err.value) and valid in str(err.value)


def test_unknown_brush_lists_where_it_looked():
  with pytest.raises(brushes.BrushNotFoundError) as err:
    LibMyPaintEnv(brush="classic/no_such_brush")
  assert "no_such_brush" in str(err.value) and "/usr/share/mypaint-data" in str(err.value)


def test_missing_libmypaint_names_the_package(monkeypatch):
  libmypaint_ffi.load.cache_clear()
  monkeypatch.setattr(libmypaint_ffi, "LIBRARY_NAMES", ("libnot-mypaint.so.9",))
  monkeypatch.setattr(libmypaint_ffi.ctypes.util, "find_library", lambda name: None)
  try:
    with pytest.raises(libmypaint_ffi.LibMyPaintNotFoundError) as err:
      libmypaint_ffi.load()
    assert "apt-get install libmypaint-1.5-1" in str(err.value)
  finally:
    libmypaint_ffi.load.cache_clear()


def test_conditional_observation_carries_the_target():
  target = np.full((CANVAS, CANVAS, 1), 0.25, np.float32)
  env = LibMyPaintEnv(targets=[target], episode_length=2)
  step = env.reset()
  np.testing.assert_array_equal(step.observation["target"], target)
  env.set_next_target(np.zeros((CANVAS, CANVAS, 1), np.float32))
  assert env.reset().observation["target"].max() == 0.0
  with pytest.raises(ValueError, match="shape"):
    env.set_next_target(np.zeros((32, 32, 1), np.float32))
  env.close()


def test_final_reward_fn_scores_the_last_canvas_only():
  target = np.ones((CANVAS, CANVAS, 1), np.float32)
  env = LibMyPaintEnv(targets=[target], episode_length=2,
                      final_reward_fn=lambda c, t: -float(np.mean((c - t) ** 2)))
  env.reset()
  assert float(env.step(paint(cell(60, 60), cell(30, 30), size=4)).reward) == 0.0
  last = env.step(move(0))
  assert last.is_last() and float(last.reward) < 0.0


def test_batched_environments_step_together_like_single_ones():
  make = lambda: LibMyPaintEnv(canvas_size=32, grid_size=16, episode_length=3)
  batch = batched([make() for _ in range(3)])
  batch.reset()
  single = make()
  rng = np.random.default_rng(0)
  acts = [random_action(single, rng, 1.0) for _ in range(3)]
  stacked = {k: np.array([a[k] for a in acts], np.int32) for k in acts[0]}
  out = batch.step(stacked).observation["canvas"]
  assert out.shape == (3, 32, 32, 1)
  for i, a in enumerate(acts):
    single.reset()
    np.testing.assert_array_equal(single.step(a).observation["canvas"], out[i])
