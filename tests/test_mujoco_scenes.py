"""MuJoCo Scenes: the environment, the data set and the MCMC baseline.

Renders on the CPU: the GL backend is auto-detected (OSMesa without a GPU,
Debian package libosmesa6). ``mujoco`` must not be imported here before
spiral_tf.envs.mujoco_scenes chooses the backend, so there is no
``pytest.importorskip("mujoco")``.
"""
import importlib.util
import json
import os
import sys

import numpy as np
import pytest

import spiral_tf  # noqa: F401  (before TensorFlow)

if importlib.util.find_spec("mujoco") is None:
  pytest.skip("mujoco is not installed (pip install spiral_tf[mujoco])", allow_module_level=True)

from tf_agents.specs import array_spec  # noqa: E402

from spiral_tf.data import images as images_lib  # noqa: E402
from spiral_tf.data import mujoco_scenes as data_lib  # noqa: E402
from spiral_tf.envs import mujoco_scenes as ms  # noqa: E402
from spiral_tf.envs import specs  # noqa: E402
from spiral_tf.eval import mcmc  # noqa: E402

TOOLS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tools")


def obj(type=0, location=0, size=2, red=3, green=3, blue=3):  # pylint: disable=redefined-builtin
  return dict(type=type, location=location, size=size, red=red, green=green, blue=blue)


def add(**kw):
  return dict(kind=ms.ADD, **obj(**kw))


def action(kind, **kw):
  return dict(kind=kind, **obj(**kw))


@pytest.fixture(scope="module")
def env():
  e = ms.MujocoScenesEnv()
  yield e
  e.close()


@pytest.fixture(scope="module")
def renderer():
  with ms.SceneRenderer(64, 20) as r:
    yield r


def run(env, actions):
  step = env.reset()
  for a in actions:
    step = env.step(a)
  return step


def project(renderer, point):
  """Pixel (row, col) of a world point seen by the scene camera (pinhole model)."""
  cam = renderer.camera_id
  pos = renderer.data.cam_xpos[cam]
  axes = renderer.data.cam_xmat[cam].reshape(3, 3)  # columns: camera x, y, z in world
  p = axes.T @ (np.asarray(point) - pos)  # the camera looks along its -z
  f = 1.0 / np.tan(np.deg2rad(renderer.model.cam_fovy[cam]) / 2)
  x, y = f * p[0] / -p[2], f * p[1] / -p[2]
  size = renderer.image_size
  return (1 - y) / 2 * size, (x + 1) / 2 * size


# --- environment -------------------------------------------------------------------
def test_specs_describe_the_observations_and_actions(env):
  step = env.reset()
  assert array_spec.check_arrays_nest(step.observation, env.observation_spec())
  assert list(env.action_spec()) == ["kind", "type", "location", "size", "red", "green", "blue"]
  assert [s.maximum + 1 for s in env.action_spec().values()] == [3, 4, 256, 3, 4, 4, 4]
  step = env.step(add(location=40))
  assert array_spec.check_arrays_nest(step.observation, env.observation_spec())


def test_same_seed_and_actions_give_identical_images(env):
  rng = np.random.default_rng(3)
  actions = [ms.random_action(rng) for _ in range(20)]
  first = run(env, actions).observation["canvas"].copy()
  again = run(env, actions).observation["canvas"]
  other = ms.MujocoScenesEnv()
  try:
    fresh = run(other, actions).observation["canvas"]
  finally:
    other.close()
  assert first.std() > 0
  np.testing.assert_array_equal(first, again)
  np.testing.assert_array_equal(first, fresh)


def test_added_object_changes_pixels_around_its_projected_location(env, renderer):
  blank = env.reset().observation["canvas"]
  location = 5 * 16 + 11
  canvas = env.step(add(type=0, location=location, size=1, red=3, green=0, blue=0)).observation["canvas"]
  changed = np.any(canvas != blank, axis=-1)
  rows, cols = np.nonzero(changed)
  centre = ms.location_to_world(location) + [0, 0, ms.OBJECT_SIZES[1]]
  row, col = project(renderer, centre)
  assert changed.sum() > 20
  assert abs(rows.mean() - row) < 2.5 and abs(cols.mean() - col) < 2.5
  assert rows.max() - rows.min() < 16 and cols.max() - cols.min() < 16  # only near it
  assert canvas[int(row), int(col), 0] > 2 * canvas[int(row), int(col), 1]  # red


def test_object_on_the_left_far_cell_appears_top_left(env):
  blank = env.reset().observation["canvas"]
  canvas = env.step(add(location=0)).observation["canvas"]
  rows, cols = np.nonzero(np.any(canvas != blank, axis=-1))
  assert rows.mean() < 32 and cols.mean() < 32


def test_skip_changes_nothing(env):
  before = run(env, [add(location=100)])
  after = env.step(action(ms.SKIP, location=7, type=3))
  np.testing.assert_array_equal(before.observation["canvas"], after.observation["canvas"])
  assert env.objects() == [obj(location=100)]


def test_change_modifies_the_last_object_instead_of_adding_one(env, renderer):
  first, second, changed = obj(location=20), obj(location=200, type=1), obj(location=120, type=2, red=0)
  step = run(env, [add(**first), add(**second), action(ms.CHANGE, **changed)])
  assert env.objects() == [first, changed]
  np.testing.assert_array_equal(step.observation["canvas"], renderer.render_scene([first, changed]))


def test_change_before_any_object_adds_one(env):
  run(env, [action(ms.CHANGE, location=33)])
  assert env.objects() == [obj(location=33)]


def test_action_mask_keeps_only_kind_after_skip_and_everything_otherwise(env):
  step = env.reset()
  np.testing.assert_array_equal(step.observation["action_mask"], np.zeros(7))
  step = env.step(action(ms.SKIP, location=9))
  np.testing.assert_array_equal(step.observation["action_mask"], [1, 0, 0, 0, 0, 0, 0])
  np.testing.assert_array_equal(step.observation["prev_action"], [2, 0, 9, 2, 3, 3, 3])
  for kind in (ms.ADD, ms.CHANGE):
    step = env.step(action(kind, location=9))
    np.testing.assert_array_equal(step.observation["action_mask"], np.ones(7))


def test_episode_ends_after_episode_length_steps_with_the_final_reward():
  calls = []

  def final_reward(canvas, target):
    calls.append(target)
    return float(canvas.mean())

  env = ms.MujocoScenesEnv(episode_length=3, final_reward_fn=final_reward)
  try:
    steps = [env.reset()] + [env.step(add(location=i)) for i in range(3)]
  finally:
    env.close()
  assert [s.step_type for s in steps] == [0, 1, 1, 2]
  assert [float(s.reward) for s in steps[:3]] == [0.0, 0.0, 0.0]
  assert float(steps[-1].reward) == pytest.approx(steps[-1].observation["canvas"].mean(), rel=1e-6)
  assert calls == [None] and int(steps[-1].observation["step"]) == 3


@pytest.mark.parametrize("bad, name, valid", [
    (dict(location=256), "location", "[0, 255]"),
    (dict(type=-1), "type", "[0, 3]"),
    (dict(kind=3), "kind", "[0, 2]"),
    (dict(red=1.5), "red", "[0, 3]"),
])
def test_invalid_action_raises_naming_the_component(env, bad, name, valid):
  env.reset()
  act = add()
  act.update(bad)
  with pytest.raises(specs.InvalidActionError, match=rf"'{name}'.*\{valid}"):
    env.step(act)


def test_missing_component_raises_naming_it(env):
  env.reset()
  act = add()
  del act["size"]
  with pytest.raises(specs.InvalidActionError, match="'size' is missing"):
    env.step(act)


def test_conditional_env_shows_the_target_and_requires_one():
  target = np.full((64, 64, 3), 0.25, np.float32)
  env = ms.MujocoScenesEnv(targets=[target])
  try:
    np.testing.assert_array_equal(env.reset().observation["target"], target)
    other = np.zeros_like(target)
    env.set_next_target(other)
    np.testing.assert_array_equal(env.reset().observation["target"], other)
    with pytest.raises(ValueError, match="shape"):
      env.set_next_target(np.zeros((32, 32, 3)))
  finally:
    env.close()
  env = ms.MujocoScenesEnv(conditional=True)
  try:
    with pytest.raises(ValueError, match="set_next_target"):
      env.reset()
  finally:
    env.close()


def test_missing_gl_library_error_names_the_package(monkeypatch):
  from spiral_tf.envs import mujoco_render
  monkeypatch.setattr(mujoco_render, "_load_library", lambda *a, **k: False)
  with pytest.raises(ms.GLBackendError, match="libosmesa6"):
    ms.load_gl_library("osmesa")
  with pytest.raises(ms.GLBackendError, match="libegl1"):
    ms.load_gl_library("egl")
  with pytest.raises(ms.GLBackendError, match="unknown"):
    ms.choose_gl_backend("vulkan")


# --- data set ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
  root = str(tmp_path_factory.mktemp("mujoco_scenes"))
  data_lib.generate_dataset(root, num_train=250, num_test=50, seed=5, shard_size=100)
  return root


def test_generated_data_set_is_deterministic_by_seed(dataset, tmp_path):
  again, other = str(tmp_path / "again"), str(tmp_path / "other")
  data_lib.generate_dataset(again, num_train=0, num_test=50, seed=5, shard_size=100)
  data_lib.generate_dataset(other, num_train=0, num_test=50, seed=6, shard_size=100)
  assert data_lib.load_descriptions(again, "test") == data_lib.load_descriptions(dataset, "test")
  assert data_lib.load_descriptions(other, "test") != data_lib.load_descriptions(dataset, "test")
  for a, b in zip(data_lib.list_scenes(again, "test"), data_lib.list_scenes(dataset, "test")):
    with open(a.path, "rb") as fa, open(b.path, "rb") as fb:
      assert fa.read() == fb.read()


def test_loader_counts_shapes_and_ranges(dataset):
  assert data_lib.dataset_info(dataset) == {"train": 250, "test": 50}
  train = np.stack(list(data_lib.load_mujoco_scenes(dataset, "train").as_numpy_iterator()))
  assert train.shape == (250, 64, 64, 3) and train.dtype == np.float32
  assert train.min() >= 0.0 and train.max() <= 1.0 and train.std() > 0.1
  small = next(iter(data_lib.load(dataset, "test", size=32, channels=1)))
  assert small.shape == (32, 32, 1)
  counts = [len(s) for s in data_lib.load_descriptions(dataset, "train")]
  assert min(counts) == 1 and max(counts) == 5
  assert not [p for p in os.listdir(os.path.join(dataset, "train")) if ".tmp" in p]


def test_stored_image_is_what_the_environment_renders_for_its_description(dataset, env):
  record = data_lib.list_scenes(dataset, "test")[7]
  step = run(env, ms.scene_to_actions(record.objects))
  np.testing.assert_array_equal(step.observation["canvas"], data_lib.read_image(record.path))


def test_rerun_resumes_and_other_settings_are_refused(dataset):
  data_lib.generate_dataset(dataset, num_train=250, num_test=50, seed=5, shard_size=100)
  with pytest.raises(data_lib.MujocoScenesDataError, match="other settings"):
    data_lib.generate_dataset(dataset, num_train=250, num_test=50, seed=9, shard_size=100)


def test_missing_or_malformed_files_raise_naming_the_file(tmp_path):
  root = str(tmp_path / "ds")
  data_lib.generate_dataset(root, num_train=0, num_test=20, seed=1, shard_size=10)
  records = data_lib.list_scenes(root, "test")
  os.remove(records[3].path)
  with pytest.raises(data_lib.MujocoScenesDataError, match=records[3].path):
    data_lib.list_scenes(root, "test")
  scenes_json = os.path.join(root, "test", "shard-00001", "scenes.json")
  with open(scenes_json, "w") as f:
    f.write("{not json")
  os.rename(os.path.join(root, "test", "shard-00000"), os.path.join(root, "test", "gone"))
  with pytest.raises(data_lib.MujocoScenesDataError, match="missing file .*shard-00000/scenes.json"):
    data_lib.load_mujoco_scenes(root, "test")
  os.rename(os.path.join(root, "test", "gone"), os.path.join(root, "test", "shard-00000"))
  with open(records[3].path, "wb") as f:
    f.write(b"")
  with pytest.raises(data_lib.MujocoScenesDataError, match="malformed JSON in .*shard-00001"):
    data_lib.load_mujoco_scenes(root, "test")
  os.remove(os.path.join(root, "metadata.json"))
  with pytest.raises(data_lib.MujocoScenesDataError, match="metadata.json"):
    data_lib.load_mujoco_scenes(root, "test")


def test_truncated_png_fails_naming_the_file_when_the_split_loads(tmp_path):
  root = str(tmp_path / "ds")
  data_lib.generate_dataset(root, num_train=0, num_test=5, seed=1)
  path = data_lib.list_scenes(root, "test")[2].path
  with open(path, "r+b") as f:
    f.truncate(60)
  with pytest.raises(images_lib.DataError, match=path):
    data_lib.load_mujoco_scenes(root, "test")


def test_make_mujoco_scenes_cli_writes_the_data_set(tmp_path, capsys):
  sys.path.insert(0, TOOLS)
  try:
    import make_mujoco_scenes  # pylint: disable=g-import-not-at-top
  finally:
    sys.path.remove(TOOLS)
  out = str(tmp_path / "cli")
  make_mujoco_scenes.main(["--out", out, "--num-train", "30", "--num-test", "10",
                           "--shard-size", "16"])
  assert data_lib.dataset_info(out) == {"train": 30, "test": 10}
  assert "10/10" not in capsys.readouterr().out  # the bar goes to stderr


# --- MCMC baseline ------------------------------------------------------------------
def test_log_likelihood_and_acceptance_match_a_hand_computed_case():
  target = np.array([0.0, 0.5, 1.0, 1.0])
  old, new = np.array([1.0, 0.5, 1.0, 0.0]), np.array([0.5, 0.5, 1.0, 1.0])
  # sum of squares: old 2.0, new 0.25; log N = -ss / (2 * 0.25) + const.
  assert mcmc.log_likelihood(old, target) == pytest.approx(-4.0)
  assert mcmc.log_likelihood(new, target) == pytest.approx(-0.5)
  # Better proposals are always accepted; worse ones with probability exp(-3.5) = 0.0302.
  assert mcmc.mh_accept(-0.5, -4.0, 0.999)
  assert mcmc.mh_accept(-4.0, -0.5, 0.030)
  assert not mcmc.mh_accept(-4.0, -0.5, 0.031)
  full = lambda x: np.sum(-0.5 * (x - target) ** 2 / 0.25 - 0.5 * np.log(2 * np.pi * 0.25))
  assert mcmc.log_likelihood(new, target) - mcmc.log_likelihood(old, target) == pytest.approx(
      full(new) - full(old))
  assert mcmc.l2_distance(old, target) == pytest.approx(0.5)


def test_proposal_redraws_exactly_one_block():
  rng = np.random.default_rng(0)
  trace = mcmc.random_trace(rng, ms.OBJECT_RANGES)
  for _ in range(50):
    new, slot = mcmc.propose(trace, rng, ms.OBJECT_RANGES)
    others = np.delete(np.arange(len(trace)), slot)
    np.testing.assert_array_equal(new[others], trace[others])
    assert np.all(new[slot] < mcmc.block_ranges(ms.OBJECT_RANGES)) and np.all(new[slot] >= 0)


def test_mcmc_on_a_tiny_budget_reduces_l2(renderer):
  target = renderer.render_scene([obj(type=1, location=136, size=2, red=3, green=0, blue=0),
                                  obj(type=0, location=40, size=2, red=0, green=0, blue=3)])
  result = mcmc.run_mcmc(target, renderer.render_scene, ms.OBJECT_RANGES, 300,
                         np.random.default_rng(0), record_every=50)
  assert list(result.evaluations) == [0, 50, 100, 150, 200, 250, 300]
  assert result.l2[-1] < 0.8 * result.l2[0]
  assert mcmc.l2_distance(result.image, target) == pytest.approx(result.l2[-1])


def test_mcmc_baseline_cli_writes_curves_and_plot(tmp_path):
  sys.path.insert(0, TOOLS)
  try:
    import mcmc_baseline  # pylint: disable=g-import-not-at-top
  finally:
    sys.path.remove(TOOLS)
  mcmc_baseline.main(["--num-images", "2", "--evaluations", "40", "--record-every", "20",
                      "--out-dir", str(tmp_path)])
  with open(tmp_path / "mcmc_curves.json") as f:
    curves = json.load(f)
  assert curves["evaluations"] == [0, 20, 40] and len(curves["l2_per_image"]) == 2
  assert (tmp_path / "mcmc_curves.png").stat().st_size > 0


def test_check_gl_backends_finds_no_difference_against_its_own_backend_and_flags_a_changed_render(tmp_path):
  sys.path.insert(0, TOOLS)
  try:
    import check_gl_backends  # pylint: disable=g-import-not-at-top
  finally:
    sys.path.remove(TOOLS)
  data_lib.generate_dataset(str(tmp_path / "data"), num_train=0, num_test=3, seed=2, image_size=16)
  ref = str(tmp_path / "ref.npz")
  made = check_gl_backends.main(["reference", "--data", str(tmp_path / "data"), "--out", ref,
                                 "--sizes", "16", "--seconds", "0.05"])
  assert made["scenes"] == 3
  assert sorted(os.listdir(tmp_path)) == ["data", "ref.npz"]  # no temporary file left behind
  same = check_gl_backends.main(["compare", "--reference", ref, "--processes", "--seconds", "0.05"])
  assert same["backend"] == same["reference_backend"]
  assert same["size16"]["identical_images"] == 3 and same["size16"]["l2_ratio"] == 0.0
  assert same["size16"]["mean_l2_scene_vs_blank"] > 0  # every scene holds 1-5 objects

  changed = dict(np.load(ref))
  changed["images16"] = changed["images16"].copy()
  changed["images16"][0, :8] = 1.0  # top half of scene 0 made white
  np.savez(ref, **changed)
  other = check_gl_backends.main(["compare", "--reference", ref, "--processes", "--seconds", "0.05"])
  assert other["size16"]["identical_images"] == 2
  assert other["size16"]["max_abs_diff"] > 0.3 and other["size16"]["l2_ratio"] > 0.01


@pytest.mark.subprocess
def test_scene_descriptions_validate_where_tensorflow_is_not_installed():
  # A GPU box checking EGL renders (tools/check_gl_backends.py) may have MuJoCo but no TensorFlow.
  import subprocess  # pylint: disable=g-import-not-at-top
  code = ("import sys; sys.modules['tensorflow'] = None; sys.modules['tf_agents'] = None\n"
          "from spiral_tf.envs import mujoco_render as mr\n"
          "print(mr.validate_object(dict(type=1, location=5, size=0, red=0, green=1, blue=2)))\n"
          "try:\n  mr.validate_object(dict(type=9, location=5, size=0, red=0, green=1, blue=2))\n"
          "except ValueError as e:\n  print('refused:', e)\n")
  root = os.path.dirname(TOOLS)
  out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root,
                       timeout=120, check=False)
  assert out.returncode == 0, out.stderr
  assert "'type': 1" in out.stdout and "refused:" in out.stdout and "type" in out.stdout.split("refused:")[1]


@pytest.mark.subprocess
def test_osmesa_renders_a_scene_where_tensorflow_is_not_installed():
  import subprocess  # pylint: disable=g-import-not-at-top
  code = ("import sys; sys.modules['tensorflow'] = None; sys.modules['tf_agents'] = None\n"
          "from spiral_tf.envs import mujoco_render as mr\n"
          "mr.import_mujoco('osmesa')\n"
          "with mr.SceneRenderer(image_size=16, num_slots=2) as r:\n"
          "  empty = r.render_scene([]); one = r.render_scene([dict(type=0, location=136, size=2, "
          "red=3, green=0, blue=0)])\n"
          "print(float(abs(one - empty).max()))\n")
  env = dict(os.environ, MUJOCO_GL="osmesa")
  out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       cwd=os.path.dirname(TOOLS), env=env, timeout=120, check=False)
  assert out.returncode == 0, out.stderr
  assert float(out.stdout.split()[-1]) > 0.2  # a red sphere in the middle of the grey platform


def _scene_placements_tool():
  sys.path.insert(0, TOOLS)
  try:
    import scene_placements  # pylint: disable=g-import-not-at-top
  finally:
    sys.path.remove(TOOLS)
  return scene_placements


def test_scene_placements_cli_scores_a_copying_agent_as_reading_and_a_constant_one_as_blind(
    dataset, tmp_path, capsys):
  tool = _scene_placements_tool()
  scenes = [r.objects for r in data_lib.list_scenes(dataset, "test")[:10]]
  copying, constant = tmp_path / "copying.json", tmp_path / "constant.json"
  copying.write_text(json.dumps([ms.scene_to_actions(s) for s in scenes]))
  constant.write_text(json.dumps([ms.scene_to_actions([scenes[0][0]])] * 10))
  reports = []
  for path in (copying, constant):
    tool.main(["--programs", str(path), "--data", dataset])
    reports.append(json.loads(capsys.readouterr().out.strip().splitlines()[-1]))
  reading, blind = reports
  assert reading["scenes"] == 10 and reading["location_hit"] == 1.0
  assert reading["colour_error"] == 0.0 and reading["type_match"] == 1.0
  assert reading["location_hit_blind"] < 0.5  # 1-5 objects cover well under half the grid
  assert blind["distinct_objects"] == 1 and blind["distinct_scenes"] == 1
  assert blind["location_hit"] < reading["location_hit"]


def test_scene_placements_cli_refuses_bad_programs_naming_the_file(dataset, tmp_path):
  from spiral_tf import cli  # pylint: disable=g-import-not-at-top
  tool = _scene_placements_tool()
  broken, too_many, wrong = tmp_path / "broken.json", tmp_path / "many.json", tmp_path / "wrong.json"
  broken.write_text("[[{")
  too_many.write_text(json.dumps([[]] * 51))
  wrong.write_text(json.dumps([[{"kind": 0, "x": 1}]]))
  with pytest.raises(cli.UserError, match="broken.json is not JSON"):
    tool.main(["--programs", str(broken), "--data", dataset])
  with pytest.raises(cli.UserError, match="51 programs but .* 50 scenes"):
    tool.main(["--programs", str(too_many), "--data", dataset])
  with pytest.raises(cli.UserError, match="wrong.json is not a list of MuJoCo Scenes programs"):
    tool.main(["--programs", str(wrong), "--data", dataset])
