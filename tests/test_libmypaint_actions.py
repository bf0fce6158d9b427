"""The painting action space is declared once: the env and the TF renderer read it alike."""
import types

import numpy as np
import pytest

from spiral_tf.envs import libmypaint_actions
from spiral_tf.envs import specs
from spiral_tf.envs.libmypaint_env import LibMyPaintEnv
from spiral_tf.envs.tf_renderer import TFRenderer

SMALL = dict(canvas_size=32, grid_size=16, brush_sizes=(1.0, 4.0), use_pressure=True,
             use_color=True)


@pytest.fixture(scope="module")
def env():
  env = LibMyPaintEnv(episode_length=2, **SMALL)
  yield env
  env.close()


@pytest.fixture(scope="module")
def renderer():
  return TFRenderer(**SMALL)


def test_the_layout_is_the_papers_in_sampling_order_for_env_and_renderer(env, renderer):
  counts = libmypaint_actions.action_counts(32, 6, use_pressure=True, use_color=True)
  assert list(counts.items()) == [("flag", 2), ("end", 1024), ("control", 1024), ("size", 6),
                                  ("pressure", 10), ("red", 20), ("green", 20), ("blue", 20)]
  assert list(libmypaint_actions.action_counts(8, 1, False, False)) == [
      "flag", "end", "control", "size"]
  # Built without an environment, the renderer has the environment's layout.
  assert list(renderer.action_counts.items()) == list(env.action_counts.items())
  assert list(env.action_counts.items()) == list(
      libmypaint_actions.action_counts(16, 2, True, True).items())


def test_pressure_and_colour_bins_are_shared_and_read_only():
  np.testing.assert_allclose(libmypaint_actions.PRESSURES, [0.1 * i for i in range(1, 11)])
  assert len(libmypaint_actions.COLORS) == 20
  assert libmypaint_actions.COLORS[0] == 0.0 and libmypaint_actions.COLORS[-1] == 1.0
  np.testing.assert_allclose(np.diff(libmypaint_actions.COLORS), 1.0 / 19)
  with pytest.raises(ValueError, match="read-only"):
    libmypaint_actions.PRESSURES[0] = 0.5


def test_a_colour_bin_paints_the_same_ink_in_the_env_and_the_renderer(env, renderer):
  """Red bin 19, green 5, blue 0 on white: 1 - green = (1 - 5/19)(1 - blue) on every pixel."""
  action = dict(flag=1, end=8 * 16 + 12, control=8 * 16 + 4, size=1, pressure=9, red=19,
                green=5, blue=0)
  env.reset()
  ours = env.step(action).observation["canvas"]
  state = renderer.step(renderer.initial_state(1),
                        {c: np.array([v], np.int32) for c, v in action.items()}, 0,
                        jit_compile=False)
  theirs = state.canvas[0].numpy()
  for canvas in (ours, theirs):
    painted = canvas[..., 2] < 0.7  # covered at least 30%, whatever the coverage
    assert painted.sum() > 20
    np.testing.assert_allclose(canvas[painted][:, 0], 1.0, atol=0.01)  # red bin 19: 1
    ratio = (1.0 - canvas[painted][:, 1]) / (1.0 - canvas[painted][:, 2])
    np.testing.assert_allclose(ratio, 14.0 / 19.0, atol=0.02)


@pytest.mark.parametrize("bad, message", [
    (dict(end=256), "action component 'end' = 256 is not valid; it must be an integer in "
                    "[0, 255]"),
    (dict(red=-1), "action component 'red' = -1 is not valid; it must be an integer in [0, 19]"),
    (dict(pressure=None), "action component 'pressure' is missing; it must be an integer in "
                          "[0, 9]"),
    (dict(brush=0), "unknown action component(s) ['brush']; valid: "),
])
def test_env_and_renderer_refuse_a_bad_action_with_the_same_words(env, renderer, bad, message):
  action = dict(flag=1, end=0, control=0, size=0, pressure=0, red=0, green=0, blue=0)
  action.update(bad)
  action = {c: v for c, v in action.items() if v is not None}
  errors = []
  env.reset()
  with pytest.raises(specs.InvalidActionError) as err:
    env.step(action)
  errors.append(str(err.value))
  with pytest.raises(specs.InvalidActionError) as err:
    renderer.step(renderer.initial_state(1), {c: np.array([v]) for c, v in action.items()}, 0)
  errors.append(str(err.value))
  assert errors[0] == errors[1]
  assert errors[0].startswith(message)


def test_batched_validation_names_whole_floats_mismatched_shapes_and_nan():
  ranges = {"flag": 2, "end": 4}
  good = {"flag": np.array([0, 1]), "end": np.array([3, 0])}
  checked = specs.validate_action(good, ranges, batch_dims=1)
  np.testing.assert_array_equal(checked["end"], [3, 0])
  with pytest.raises(specs.InvalidActionError, match=r"'end' = dtype\('float32'\) is not valid"):
    specs.validate_action(dict(good, end=np.array([1.0, 2.0], np.float32)), ranges, 1)
  with pytest.raises(specs.InvalidActionError, match=r"'end' = nan is not valid"):
    specs.validate_action(dict(good, end=np.array([1.0, np.nan])), ranges, 1)
  with pytest.raises(specs.InvalidActionError, match=r"'end' has shape \(3,\); the others have "
                                                      r"\(2,\)"):
    specs.validate_action(dict(good, end=np.array([0, 1, 2])), ranges, 1)
  with pytest.raises(specs.InvalidActionError, match=r"'flag' has shape \(2,\); expected 2 "
                                                      r"dimension"):
    specs.validate_action(good, ranges, 2)
  # One action (batch_dims 0): whole floats are integers, as the environments always took them.
  assert specs.validate_action({"flag": 1.0, "end": 3}, ranges) == {"flag": 1, "end": 3}


@pytest.mark.parametrize("kwargs, message", [
    (dict(canvas_size=16, grid_size=32), r"grid_size must be in \[2, canvas_size=16\], got 32"),
    (dict(grid_size=1), "grid_size must be a whole number >= 2, got 1"),
    (dict(background="blue"), "background 'blue' is not one of"),
    (dict(background=(0.5, 2.0, 0.0)), r"background must be an RGB triple in \[0, 1\]"),
    (dict(brush_sizes=[2.0, -1.0]), "brush_sizes must be a non-empty list"),
])
def test_env_and_renderer_refuse_the_same_options_alike(kwargs, message):
  for make in (LibMyPaintEnv, TFRenderer):
    with pytest.raises(ValueError, match=message):
      make(**kwargs)


def test_from_env_needs_only_the_envs_public_attributes(env, renderer):
  """A stand-in with the env's public attributes alone makes the same renderer."""
  public = types.SimpleNamespace(**{name: getattr(env, name) for name in (
      "canvas_size", "grid_size", "brush_sizes", "use_color", "use_pressure", "fixed_pressure",
      "background", "brush_json", "action_counts")})
  from_public = TFRenderer.from_env(public)
  assert from_public.brush == TFRenderer.from_env(env).brush == renderer.brush
  assert env.brush_json.startswith(b"{") and env.background == (1.0, 1.0, 1.0)
  np.testing.assert_array_equal(from_public.initial_state(1).canvas[0],
                                env.reset().observation["canvas"])


def test_the_svg_of_a_program_reads_the_same_bins():
  from spiral_tf.eval import painting  # pylint: disable=g-import-not-at-top
  program = [dict(flag=1, end=5, control=3, size=1, pressure=4, red=19, green=5, blue=0)]
  svg = painting.program_svg(program, dict(SMALL, brush_sizes=(1.0, 4.0)))
  # Pressure bin 4 is 0.5; green bin 5 of 20 is 5/19 of 255, rounded: 67.
  assert 'data-pressure="0.50"' in svg and 'stroke="rgb(255,67,0)"' in svg
