"""A start that fails, a run that dies early, a tool given an untrained folder.

Each ends in one clear error line, and never blocks the corrected (or the
same) command afterwards: a folder that has not trained takes any config,
nothing is written before every check has passed, and a run that stops on
its actors keeps its work. Subprocess probes run tools/train.py on the tiny
config for a few learner updates.
"""
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from multiprocessing import shared_memory

import numpy as np
from PIL import Image
import pytest

import spiral_tf
from spiral_tf import cli
from spiral_tf import config as config_lib
from spiral_tf.data import folder as folder_data
from spiral_tf.data import images as images_lib
from spiral_tf.training import actor_pool
from spiral_tf.training import builder
from spiral_tf.training import checkpointing
from spiral_tf.training import run_folder

import test_training  # the tiny config

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
UPDATE = 16 * 2  # agent steps of one tiny learner update (16 episodes of 2 steps)


def tool_cmd(tool, *args):
  return [sys.executable, os.path.join(REPO, "tools", tool), *map(str, args)]


def train_cmd(config_path, run_dir, *sets):
  cmd = tool_cmd("train.py", "--config", config_path, "--profile", "", "--run-dir", run_dir)
  for s in sets:
    cmd += ["--set", s]
  return cmd


def run(cmd, timeout=240, quiet_env=False):
  env = dict(os.environ)
  if quiet_env:  # what a user's shell has: none of our settings
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)
  return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=REPO, env=env)


def error_lines(proc):
  return [line for line in proc.stderr.splitlines() if line.startswith("error: ")]


def assert_one_error_line(proc, *expected):
  assert proc.returncode == cli.USER_ERROR, (proc.returncode, proc.stderr[-3000:])
  assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
  errors = error_lines(proc)
  assert len(errors) == 1, proc.stderr[-3000:]
  for text in expected:
    assert text in errors[0], errors[0]


@pytest.fixture
def tiny_config(tmp_path):
  path = tmp_path / "tiny.json"
  path.write_text(json.dumps(test_training.TINY))
  return path


def recorded(config_path):
  """config.json as tools/train.py writes it for ``config_path`` (profile '')."""
  return builder.config_dict(config_lib.load(str(config_path), ""))


def image_folder(path):
  """A folder of small grey PNGs with images in both splits of the folder loader."""
  path.mkdir()
  lo, hi = folder_data.TEST_BUCKETS
  counts = {"train": 0, "test": 0}
  for i in range(10_000):
    name = f"image_{i:05d}.png"
    split = "test" if lo <= images_lib.hash_bucket(name) < hi else "train"
    if counts[split] < (8 if split == "train" else 4):
      counts[split] += 1
      Image.fromarray(np.full((16, 16), 30 * (i % 8), np.uint8)).save(path / name)
    if counts == {"train": 8, "test": 4}:
      return path
  raise AssertionError("no names found")


# --- a start that fails (defect: the corrected command was refused) ---------------------
@pytest.mark.subprocess
def test_a_start_that_fails_on_its_data_writes_no_config_and_the_corrected_command_trains(
    tmp_path):
  config = dict(test_training.TINY,
                data={"name": "folder", "path": str(tmp_path / "missing"), "eval_images": 4})
  config_path = tmp_path / "folder.json"
  config_path.write_text(json.dumps(config))
  run_dir = tmp_path / "run"
  failed = run(train_cmd(config_path, run_dir, "train.max_minutes=0",
                         f"train.max_agent_steps={UPDATE}"))
  assert_one_error_line(failed, str(tmp_path / "missing"), "is not a folder")
  assert not (run_dir / "config.json").exists(), "a failed start records no config"
  good = image_folder(tmp_path / "images")
  corrected = run(train_cmd(config_path, run_dir, "train.max_minutes=0",
                            f"train.max_agent_steps={UPDATE}", f"data.path={good}"))
  assert corrected.returncode == 0, corrected.stderr[-3000:]
  recorded_config = json.loads((run_dir / "config.json").read_text())
  assert recorded_config["data"]["path"] == str(good)
  assert json.loads((run_dir / "metrics.json").read_text())["final"]["step"] == 1


def test_an_untrained_folder_takes_a_new_config_and_a_trained_one_refuses_it(tmp_path):
  old = builder.config_dict(test_training.tiny())
  new = builder.config_dict(test_training.tiny(policy_learning_rate=0.1))
  folder = run_folder.RunFolder(str(tmp_path))
  folder.write_config(old)
  step0 = {"step": 0, "frames": 0, "minutes": 0.0, "eval_l2": 0.2}
  (tmp_path / "metrics.json").write_text(json.dumps({"history": [step0]}))
  folder.check_config(new, old)  # only the untrained evaluation: nothing to mismatch
  assert not folder.has_trained()
  (tmp_path / "metrics.json").write_text(json.dumps({"history": [step0, dict(step0, step=5)]}))
  with pytest.raises(run_folder.RunFolderError, match=r"train\.policy_learning_rate"):
    folder.check_config(new, old)
  (tmp_path / "metrics.json").write_text(json.dumps({"history": [step0]}))
  (tmp_path / "checkpoints").mkdir()
  (tmp_path / "checkpoints" / "ckpt-3.index").write_bytes(b"")
  with pytest.raises(run_folder.RunFolderError, match=r"train\.policy_learning_rate"):
    folder.check_config(new, old)
  assert json.loads((tmp_path / "config.json").read_text()) == old, "checking writes nothing"


# --- a run killed before its first checkpoint --------------------------------------------
@pytest.mark.subprocess
def test_a_run_killed_before_its_first_checkpoint_reruns_with_the_same_command_and_frees_memory(
    tiny_config, tmp_path):
  run_dir = tmp_path / "run"
  cmd = train_cmd(tiny_config, run_dir, "train.max_minutes=0",
                  f"train.max_agent_steps={20 * UPDATE}")
  proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                          start_new_session=True)
  try:
    deadline = time.time() + 180
    while not (run_dir / "metrics.json").exists():  # the untrained step-0 evaluation
      assert time.time() < deadline and proc.poll() is None, "no step-0 evaluation"
      time.sleep(0.1)
  finally:
    os.killpg(proc.pid, signal.SIGKILL)  # the learner, its actors and its resource tracker
    proc.wait(timeout=30)
  assert not checkpointing.checkpoint_paths(str(run_dir / "checkpoints")), "killed too late"
  shm = "/dev/shm/" + run_folder.RunFolder(str(run_dir)).shared_memory_name
  assert os.path.exists(shm), "the killed run left its weight store behind"
  again = run(cmd)
  assert again.returncode == 0, again.stderr[-3000:]
  assert "resumed from" not in again.stdout
  history = json.loads((run_dir / "metrics.json").read_text())["history"]
  assert [p["step"] for p in history] == [0, 20]
  assert not os.path.exists(shm), "the dead run's shared memory was freed"


@pytest.mark.subprocess
def test_a_refused_run_frees_the_weight_store_a_killed_run_left(tiny_config, tmp_path):
  run_dir = tmp_path / "run"
  run_dir.mkdir()
  (run_dir / "config.json").write_text(json.dumps(recorded(tiny_config)))
  points = [{"step": 0, "frames": 0, "minutes": 0.0}, {"step": 5, "frames": 160, "minutes": 1.0}]
  (run_dir / "metrics.json").write_text(json.dumps({"history": points}))
  name = run_folder.RunFolder(str(run_dir)).shared_memory_name
  shared_memory.SharedMemory(name=name, create=True, size=64).close()  # a killed run's block
  try:
    refused = run(train_cmd(tiny_config, run_dir))
    assert_one_error_line(refused, "--restart")
    assert not os.path.exists("/dev/shm/" + name), "the refused run freed the dead run's block"
  finally:
    if os.path.exists("/dev/shm/" + name):
      os.remove("/dev/shm/" + name)


# --- a fatal actor failure ------------------------------------------------------------
@pytest.mark.subprocess
def test_a_fatal_actor_failure_saves_a_checkpoint_and_the_same_config_resumes(tmp_path):
  cfg = test_training.tiny({"actors": {"max_restarts": 0}}, max_agent_steps=0, max_minutes=3)
  trainer = test_training.make_trainer(cfg, tmp_path)

  def kill_the_actor_after_two_updates():
    deadline = time.time() + 170
    while int(trainer.learner_step.numpy()) < 2 and time.time() < deadline:
      time.sleep(0.05)
    for p in trainer.pool.processes:
      os.kill(p.pid, signal.SIGKILL)

  killer = threading.Thread(target=kill_the_actor_after_two_updates, daemon=True)
  killer.start()
  with pytest.raises(actor_pool.ActorsFailedError):
    trainer.run()
  killer.join(timeout=10)
  step = int(trainer.learner_step.numpy())
  assert step >= 2
  saved = checkpointing.checkpoint_paths(str(tmp_path / "checkpoints"))
  assert saved and saved[0].endswith(f"ckpt-{step}"), saved
  again = builder.build_trainer(cfg, str(tmp_path), log=lambda m: None)
  assert again.restore()
  assert int(again.learner_step.numpy()) == step


# --- a failed --override-config --------------------------------------------------------
@pytest.mark.subprocess
def test_an_override_config_that_does_not_fit_keeps_config_json_and_names_the_mismatch(
    tiny_config, tmp_path):
  cfg = config_lib.load(str(tiny_config), "")
  config_lib.apply(cfg, {"train": {"max_agent_steps": UPDATE, "max_minutes": 0}})
  test_training.make_trainer(cfg, tmp_path).run()
  before = (tmp_path / "config.json").read_text()
  failed = run(train_cmd(tiny_config, tmp_path, "policy.torso_size=64") + ["--override-config"])
  assert_one_error_line(failed, "do not fit", "shape", "64")
  assert "corrupt" not in failed.stderr
  assert (tmp_path / "config.json").read_text() == before, "config.json is left as it was"
  folder = run_folder.RunFolder(str(tmp_path))  # the original command is not refused
  folder.check_config(recorded(tiny_config), json.loads(before))
  assert builder.build_trainer(cfg, str(tmp_path), log=lambda m: None).restore()


def test_a_checkpoint_of_other_shapes_is_a_mismatch_naming_them_not_corruption(tmp_path):
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  tf.train.Checkpoint(w=tf.Variable(tf.zeros([3]))).save(str(tmp_path / "ckpt"))
  other = tf.train.Checkpoint(w=tf.Variable(tf.zeros([4])))
  with pytest.raises(checkpointing.CheckpointMismatchError,
                     match=r"do not fit.*shape \(3,\).*shape \(4,\)"):
    checkpointing.restore_newest(other, str(tmp_path))


# --- the run folder cannot take checkpoints ---------------------------------------------
@pytest.mark.subprocess
def test_a_file_where_the_checkpoints_go_is_one_error_line_before_training(tiny_config, tmp_path):
  run_dir = tmp_path / "run"
  run_dir.mkdir()
  (run_dir / "checkpoints").write_text("not a folder")  # root ignores permission bits
  proc = run(train_cmd(tiny_config, run_dir, "train.max_minutes=0",
                       f"train.max_agent_steps={UPDATE}"))
  assert_one_error_line(proc, str(run_dir / "checkpoints"), "is a file, not a folder")
  assert not (run_dir / "metrics.json").exists(), "refused before training"
  assert not (run_dir / "config.json").exists()


def test_an_unwritable_checkpoints_folder_is_refused_at_start(tmp_path, monkeypatch):
  (tmp_path / "checkpoints").mkdir()
  real_access = os.access
  # Tests run as root, which writes anywhere: os.access says what a user would see.
  monkeypatch.setattr(os, "access", lambda path, mode: (
      not str(path).endswith("checkpoints") and real_access(path, mode)))
  with pytest.raises(run_folder.RunFolderError,
                     match=rf"{tmp_path / 'checkpoints'} is not writable.*chmod"):
    run_folder.RunFolder(str(tmp_path)).check_writable()


# --- tools given a folder with no checkpoint; library noise -----------------------------
@pytest.mark.subprocess
@pytest.mark.parametrize("tool", ["evaluate.py", "export.py", "paint.py"])
def test_a_tool_on_a_folder_without_checkpoints_prints_only_one_error_line(tmp_path, tool):
  run_dir = tmp_path / "run"
  run_dir.mkdir()
  (run_dir / "config.json").write_text(json.dumps(builder.config_dict(test_training.tiny())))
  image = tmp_path / "digit.png"
  Image.fromarray(np.full((16, 16), 128, np.uint8)).save(image)
  args = {"evaluate.py": ("--run-dir", run_dir),
          "export.py": ("--run-dir", run_dir, "--out", tmp_path / "out"),
          "paint.py": (image, "--run-dir", run_dir, "--out", tmp_path / "out")}[tool]
  proc = run(tool_cmd(tool, *args), timeout=120, quiet_env=True)
  assert proc.returncode == cli.USER_ERROR
  assert proc.stderr.splitlines() == [
      f"error: no checkpoint in {run_dir}/checkpoints: train first"], proc.stderr[-3000:]


@pytest.mark.subprocess
def test_importing_spiral_tf_then_tensorflow_and_gym_prints_nothing_but_later_warnings():
  code = ("import spiral_tf, tensorflow as tf, gym, os, sys; tf.constant(1.0) + 1.0; "
          "print(os.environ['TF_CPP_MIN_LOG_LEVEL']); sys.stderr.write('imported\\n'); "
          "tf.get_logger().warning('a warning after the import')")
  proc = run([sys.executable, "-c", code], timeout=120, quiet_env=True)
  # TensorFlow's log handler, made while its import was held back, writes to the
  # real stderr afterwards (not to the closed temporary file: "Logging error").
  assert proc.returncode == 0, proc.stderr
  assert proc.stderr.splitlines() == ["imported", "WARNING:tensorflow:a warning after the import"]
  kept = subprocess.run([sys.executable, "-c", "import os, spiral_tf; "
                         "print(os.environ['TF_CPP_MIN_LOG_LEVEL'])"],
                        capture_output=True, text=True, timeout=60,
                        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="1"))
  assert kept.stdout.strip() == "1", "the user's own level is kept"


def test_log_handlers_on_a_stream_about_to_close_are_pointed_at_its_successor(tmp_path):
  old, new = open(tmp_path / "held", "w"), open(tmp_path / "log", "w")
  logger = logging.getLogger("spiral_tf_test_handlers")
  on_old, elsewhere = logging.StreamHandler(old), logging.StreamHandler(sys.stdout)
  logger.addHandler(on_old)
  logger.addHandler(elsewhere)
  try:
    spiral_tf._point_log_handlers(old, new)  # pylint: disable=protected-access
    assert (on_old.stream, elsewhere.stream) == (new, sys.stdout)
  finally:
    logger.removeHandler(on_old)
    logger.removeHandler(elsewhere)
    old.close()
    new.close()


@pytest.mark.subprocess
def test_what_a_failing_library_import_printed_is_shown_with_its_error(tmp_path):
  (tmp_path / "gym").mkdir()
  (tmp_path / "gym" / "__init__.py").write_text(
      "import sys\nprint('why gym broke', file=sys.stderr)\nraise ImportError('broken gym')\n")
  proc = subprocess.run([sys.executable, "-c", "import spiral_tf, gym"], capture_output=True,
                        text=True, timeout=60, env=dict(os.environ, PYTHONPATH=str(tmp_path)))
  assert proc.returncode == 1
  assert "why gym broke" in proc.stderr and "ImportError: broken gym" in proc.stderr
