"""Faults of a training run: kills, damaged checkpoints, two runs on one folder, bad data.

Every probe ends in a recovery with nothing lost or in one clear error line;
a run that would hang fails its test by a timeout instead of hanging CI.
"""
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import PIL
import pytest
from PIL import Image

from spiral_tf import data
from spiral_tf.training import actor as actor_lib
from spiral_tf.training import actor_pool
from spiral_tf.training import builder
from spiral_tf.training import checkpointing
from spiral_tf.training import run_folder

import test_training  # the tiny config
from conftest import copy_run  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TRAIN = os.path.join(REPO, "tools", "train.py")


def train_cmd(config_path, run_dir, *sets):
  cmd = [sys.executable, TRAIN, "--config", str(config_path), "--profile", "",
         "--run-dir", str(run_dir)]
  for s in sets:
    cmd += ["--set", s]
  return cmd


@pytest.fixture
def tiny_config(tmp_path):
  path = tmp_path / "tiny.json"
  path.write_text(json.dumps(test_training.TINY))
  return path


def run_tool(cmd, timeout=240):
  return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=REPO)


@pytest.mark.subprocess
def test_kill_9_of_the_whole_run_then_resume_continues_counter_and_history(tiny_config, tmp_path):
  run_dir = tmp_path / "run"
  cmd = train_cmd(tiny_config, run_dir, "train.max_minutes=3", "train.eval_every_minutes=0.05",
                  "train.checkpoint_every_minutes=0.05")
  proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                          start_new_session=True)
  metrics = run_dir / "metrics.json"
  deadline = time.time() + 180
  try:
    while time.time() < deadline:  # metrics.json is written at every evaluation
      if metrics.exists() and len(json.loads(metrics.read_text())["history"]) >= 3 and \
          checkpointing.checkpoint_paths(str(run_dir / "checkpoints")):
        break
      time.sleep(0.5)
    else:
      pytest.fail("no evaluation and checkpoint within 180 s")
  finally:
    os.killpg(proc.pid, signal.SIGKILL)  # the learner, its actors and its resource tracker
    proc.wait(timeout=30)
  before = json.loads(metrics.read_text())["history"]
  shm = "/dev/shm/" + run_folder.RunFolder(str(run_dir)).shared_memory_name
  assert os.path.exists(shm), "the killed run left its weight store behind"
  resumed = run_tool(train_cmd(tiny_config, run_dir, "train.max_minutes=0",
                               f"train.max_agent_steps={(before[-1]['frames'] + 320)}"))
  assert resumed.returncode == 0, resumed.stderr[-2000:]
  assert "resumed from" in resumed.stdout
  after = json.loads(metrics.read_text())["history"]
  assert after[:len(before)] == before, "the history before the kill is kept"
  assert after[-1]["step"] > before[-1]["step"] > 0
  assert not os.path.exists(shm), "the dead run's shared memory was freed"


@pytest.mark.subprocess
@pytest.mark.parametrize("garbage", [b"model_checkpoint_path: \x00\x01 nonsense {{", b"\xff\xfe\x80"])
def test_a_damaged_checkpoint_index_recovers_from_the_newest_checkpoint(
    tiny_run_two_checkpoints, tmp_path, garbage):
  run = copy_run(tiny_run_two_checkpoints["folder"], tmp_path / "run")
  (run / "checkpoints" / "checkpoint").write_bytes(garbage)
  logs = []
  cfg = test_training.tiny(max_agent_steps=4 * 32, max_minutes=0)
  trainer = builder.build_trainer(cfg, str(run), log=logs.append)
  assert trainer.restore()
  assert int(trainer.learner_step.numpy()) == 4
  assert any("damaged" in m for m in logs) and any("recovered from" in m for m in logs)
  assert len(trainer.history) == 3, "the history (updates 0, 2 and 4) is kept"


@pytest.mark.subprocess
def test_a_damaged_newest_checkpoint_falls_back_to_the_one_before(tiny_run_two_checkpoints,
                                                                   tmp_path):
  run = copy_run(tiny_run_two_checkpoints["folder"], tmp_path / "run")
  newest = checkpointing.checkpoint_paths(str(run / "checkpoints"))[0]
  assert newest.endswith("ckpt-4")
  with open(newest + ".index", "wb") as f:
    f.write(b"not a checkpoint")
  logs = []
  cfg = test_training.tiny(max_agent_steps=4 * 32, max_minutes=0)
  again = builder.build_trainer(cfg, str(run), log=logs.append)
  assert again.restore()
  assert int(again.learner_step.numpy()) == 2
  assert any(os.path.basename(newest) in m for m in logs)
  for a, b in zip(tiny_run_two_checkpoints["weights"][2], again.policy.get_weights()):
    np.testing.assert_array_equal(a, b)


def test_reading_another_runs_checkpoints_skips_a_damaged_newest_and_writes_nothing(tmp_path):
  """The rule of a resume for a folder that is only read (a trained agent, init_policy_from)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  saved = tf.Variable([1.0])
  manager = tf.train.CheckpointManager(tf.train.Checkpoint(w=saved), str(tmp_path), max_to_keep=3)
  manager.save(checkpoint_number=1)
  saved.assign([2.0])
  newest = manager.save(checkpoint_number=2)
  with open(newest + ".index", "wb") as f:
    f.write(b"not a checkpoint")
  index = (tmp_path / "checkpoint").read_bytes()
  logs, into = [], tf.Variable([0.0])
  path = checkpointing.restore_newest(tf.train.Checkpoint(w=into), str(tmp_path),
                                      log=logs.append, own=False)
  assert path == str(tmp_path / "ckpt-1") and float(into.numpy()[0]) == 1.0
  assert any(line.startswith(f"recovered from {path} (ckpt-2: ") for line in logs), logs
  assert (tmp_path / "checkpoint").read_bytes() == index, "another run's index is not rewritten"


@pytest.mark.subprocess
def test_history_without_checkpoints_is_not_overwritten_unless_asked(tiny_run_two_checkpoints,
                                                                       tmp_path):
  run = copy_run(tiny_run_two_checkpoints["folder"], tmp_path / "run")
  for name in os.listdir(run / "checkpoints"):
    os.remove(run / "checkpoints" / name)
  cfg = test_training.tiny(max_agent_steps=4 * 32, max_minutes=0)
  trainer = builder.build_trainer(cfg, str(run), log=lambda m: None)
  with pytest.raises(run_folder.RunFolderError, match="--restart"):
    trainer.restore()
  assert trainer.restore(restart=True) is False
  assert not (run / "metrics.json").exists()
  assert any(n.startswith("metrics-") for n in os.listdir(run)), "the old history is kept"


def test_a_second_run_on_a_locked_folder_is_refused_naming_the_holder(tmp_path):
  first = run_folder.RunFolder(str(tmp_path))
  first.lock()
  with pytest.raises(run_folder.RunFolderError, match=f"pid {os.getpid()}"):
    run_folder.RunFolder(str(tmp_path)).lock()
  first.release()
  run_folder.RunFolder(str(tmp_path)).lock()  # a released (or dead) holder blocks nothing


@pytest.mark.subprocess
def test_two_runs_on_one_folder_from_the_command_line(tiny_config, tmp_path):
  run_dir = tmp_path / "run"
  proc = subprocess.Popen(train_cmd(tiny_config, run_dir, "train.max_minutes=2"), cwd=REPO,
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
  try:
    deadline = time.time() + 60
    while not (run_dir / "config.json").exists() and time.time() < deadline:
      time.sleep(0.2)
    second = run_tool(train_cmd(tiny_config, run_dir, "train.max_minutes=2"), timeout=60)
  finally:
    proc.kill()
    proc.wait(timeout=30)
  assert second.returncode == 2
  assert "in use by pid" in second.stderr and "Traceback" not in second.stderr


def test_a_changed_config_on_resume_is_refused_naming_the_keys_and_keeps_config_json(tmp_path):
  cfg = test_training.tiny()
  test_training.record_config(cfg, tmp_path)
  # A folder that has trained (an untrained one takes any config: test_failed_starts).
  (tmp_path / "metrics.json").write_text(json.dumps({"history": [{"step": 5, "frames": 160}]}))
  recorded = (tmp_path / "config.json").read_text()
  changed = test_training.tiny(policy_learning_rate=0.1, max_minutes=5)
  with pytest.raises(run_folder.RunFolderError, match=r"train\.policy_learning_rate: 0\.003 -> 0\.1"):
    test_training.record_config(changed, tmp_path)
  assert (tmp_path / "config.json").read_text() == recorded
  test_training.record_config(test_training.tiny(max_minutes=5), tmp_path)  # schedule only
  test_training.record_config(changed, tmp_path, allow_change=True)
  assert json.loads((tmp_path / "config.json").read_text())["train"]["policy_learning_rate"] == 0.1


@pytest.mark.subprocess
def test_a_truncated_training_image_ends_the_run_with_one_line_instead_of_hanging(tmp_path):
  data = tmp_path / "images"
  for split in ("train", "test"):
    (data / split).mkdir(parents=True)
    for i in range(4):
      Image.fromarray(np.full((16, 16), 40 * i, np.uint8)).save(data / split / f"{i}.png")
  good = (data / "train" / "0.png").read_bytes()
  (data / "train" / "bad.png").write_bytes(good[:len(good) // 2])
  config = dict(test_training.TINY, data={"name": "folder", "path": str(data), "eval_images": 4})
  path = tmp_path / "folder.json"
  path.write_text(json.dumps(config))
  result = run_tool(train_cmd(path, tmp_path / "run", "train.max_minutes=1"), timeout=150)
  assert result.returncode != 0
  assert "bad.png" in result.stderr and "Traceback" not in result.stderr
  assert len([l for l in result.stderr.splitlines() if l.startswith("error:")]) == 1


@pytest.mark.subprocess
def test_a_resumed_critic_sees_the_renders_it_saw_before(tmp_path):
  cfg = test_training.tiny({"reward": {"kind": "critic"}, "critic": {"channels": [8, 16]}},
                           max_agent_steps=3 * 32, max_minutes=0)
  trainer = test_training.make_trainer(cfg, tmp_path)
  trainer.run()
  renders, _ = trainer.replay.sample(1)
  size = len(trainer.replay)
  assert size >= 3 * 16
  again = builder.build_trainer(cfg, str(tmp_path), log=lambda m: None)
  assert len(again.replay) == 0
  again.restore()
  assert len(again.replay) == size
  np.testing.assert_array_equal(again.replay._renders, trainer.replay._renders)  # pylint: disable=protected-access


def _report_devices(targets=None):
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  raise RuntimeError(f"CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES')} "
                     f"GPUs={len(tf.config.list_physical_devices('GPU'))}")


@pytest.mark.subprocess
def test_actor_processes_see_no_gpu(tmp_path):
  cfg = test_training.tiny({"actors": {"max_restarts": 0}})
  trainer = builder.build_trainer(cfg, str(tmp_path), log=lambda m: None)
  pool = trainer.make_actor_pool()
  pool.spec = pool.spec._replace(make_env=_report_devices)
  pool.start()
  try:
    deadline = time.time() + 120
    while pool.fatal is None and time.time() < deadline:
      pool.receive(timeout=1.0)
  finally:
    pool.close()
  assert isinstance(pool.fatal, actor_pool.ActorsFailedError)
  assert "CUDA_VISIBLE_DEVICES=-1 GPUs=0" in str(pool.fatal)


def _hanging_env(targets=None):
  time.sleep(3600)


@pytest.mark.subprocess
def test_actors_that_send_nothing_stop_the_run_with_a_reason_instead_of_a_hang(tmp_path):
  trainer = builder.build_trainer(test_training.tiny(), str(tmp_path), log=lambda m: None)
  pool = trainer.make_actor_pool()
  pool.spec = pool.spec._replace(make_env=_hanging_env)
  pool.stall_seconds = 3.0
  pool.start()
  try:
    outputs = list(pool.outputs())  # ends by itself
  finally:
    pool.close()
  assert not outputs
  assert "no episode arrived from the actors for 3 s (1 of 1 alive)" in str(pool.fatal)


def _raised(error, cause=None):
  """``error`` as it arrives after ``raise error from cause``: with its chain."""
  try:
    raise error from cause
  except BaseException as e:  # pylint: disable=broad-except
    return e


def test_a_model_error_saying_decoder_restarts_the_actor_and_a_data_error_stops_the_run():
  """Classified by type, not text: the heads' layers are '*_decoder', data is DataError."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  model_bugs = [ValueError("Input 0 of layer 'end_decoder' is incompatible with the layer"),
                tf.errors.InvalidArgumentError(None, None, "location_decoder/conv2d: cannot "
                                               "decode shapes [4,4] and [8,8]"),
                _raised(RuntimeError("policy step failed"), KeyError("control_decoder"))]
  for error in model_bugs:
    assert actor_lib.error_kind(error) == actor_lib.CRASH, error
  data_errors = [data.DataError("bad.png: truncated or corrupt image"),
                 _raised(RuntimeError("reset failed"), data.DataError("bad.png: truncated")),
                 PIL.UnidentifiedImageError("cannot identify image file 'x.png'")]
  for error in data_errors:
    assert actor_lib.error_kind(error) == actor_lib.DATA_ERROR, error


def test_a_failure_inside_the_target_pipeline_is_a_data_error():
  """tf.data hands a loader's DataError to the actor as an OpError; its source says it is data."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top

  def decode(i):
    if i == 2:
      raise data.DataError("2.png: truncated or corrupt image")
    return np.float32(i)

  ds = tf.data.Dataset.range(4).map(lambda i: tf.numpy_function(decode, [i], tf.float32))
  targets = actor_lib.pipeline_failures_as_data_errors(ds.as_numpy_iterator())
  assert [next(targets), next(targets)] == [0.0, 1.0]
  with pytest.raises(data.DataError, match="2.png: truncated") as failed:
    next(targets)
  assert isinstance(failed.value.__cause__, tf.errors.OpError)
  assert actor_lib.error_kind(failed.value) == actor_lib.DATA_ERROR


@pytest.mark.parametrize("keep_every_minutes,kept", [(0.0, [4, 5, 6]), (1e-9, [1, 2, 3, 4, 5, 6])])
def test_keep_checkpoint_every_minutes_keeps_older_checkpoints_beside_the_newest_three(
    tmp_path, keep_every_minutes, kept):
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  counter = tf.Variable(0)
  checkpoints = checkpointing.RunCheckpoints(str(tmp_path), keep_every_minutes=keep_every_minutes,
                                             counter=counter)
  for number in range(1, 7):
    counter.assign(number)
    checkpoints.save(number)
  names = [p for p in os.listdir(tmp_path) if p.endswith(".index")]
  assert sorted(int(p[len("ckpt-"):-len(".index")]) for p in names) == kept
