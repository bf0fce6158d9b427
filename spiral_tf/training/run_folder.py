"""One run per folder: the lock, the recorded config, and what a dead run left behind.

A training run holds an exclusive ``flock`` on ``RUN/.lock`` for its whole
life; a second run on the folder is refused with the holder's pid, host and
start time. The kernel drops the lock when its process dies, so a lock left
by a ``kill -9`` never blocks. The folder's ``config.json`` must match the
checkpoints in it: a resume with a changed config is refused (naming the
keys) unless the caller allows it, and only then is ``config.json`` rewritten.
A folder that has not trained (no checkpoint, and no evaluation beyond the
untrained step-0 one) holds nothing a config could mismatch: it takes the new
config, so a start that failed never blocks the corrected command.
"""
import datetime
import fcntl
import hashlib
import json
import os
import socket
from typing import Dict, Iterable, List, Optional

from spiral_tf import files
from spiral_tf.training import checkpointing


class RunFolderError(ValueError):
  """The run folder cannot be used as asked (locked, or a changed config)."""


# Keys that may change when a run resumes: they schedule the run or say who
# plays its episodes, they do not change what its checkpoints mean
# (train.init_policy_from only acts at step 0).
RESUMABLE_KEYS = frozenset({
    "description", "train.max_agent_steps", "train.max_minutes", "train.eval_every_minutes",
    "train.checkpoint_every_minutes", "train.keep_checkpoint_every_minutes",
    "train.summary_every_updates", "train.learner_threads",
    "train.init_policy_from", "actors.engine", "actors.ray_address", "actors.count", "actors.envs_per_actor",
    "actors.weight_sync_every_episodes", "actors.max_restarts", "actors.threads",
    "env.renderer"})


# Subfolders a run writes into (checkpoints, TensorBoard summaries): checked
# at start, so a folder that cannot take them fails before any training.
OUTPUT_FOLDERS = ("checkpoints", "tb")


def has_trained_history(metrics_path: str) -> bool:
  """Whether ``metrics.json`` records an evaluation after training began.

  The evaluation at learner update 0 is of the untrained policy; a run killed
  before its first checkpoint leaves only that, and running again redoes it.
  An unreadable file counts as a history: it is kept rather than overwritten.
  """
  if not os.path.exists(metrics_path):
    return False
  try:
    with open(metrics_path) as f:
      history = json.load(f).get("history") or []
  except (OSError, ValueError, AttributeError):
    return True
  return any(not isinstance(point, dict) or point.get("step", 1) != 0 for point in history)


def _flatten(values: dict, prefix: str = "") -> Dict[str, object]:
  out = {}
  for key, value in values.items():
    if isinstance(value, dict) and key not in ("options", "entropy_costs"):
      out.update(_flatten(value, f"{prefix}{key}."))
    else:
      out[f"{prefix}{key}"] = value
  return out


def config_differences(old: dict, new: dict, ignore: Iterable[str] = RESUMABLE_KEYS) -> List[str]:
  """'key: old -> new' for every config value that differs (dotted keys)."""
  old, new = _flatten(old), _flatten(new)
  ignore = set(ignore)
  return [f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in sorted(set(old) | set(new))
          if k not in ignore and old.get(k) != new.get(k)]


class RunFolder:
  """A run folder held by this process (see the module docstring)."""

  def __init__(self, path: str):
    self.path = path
    self._lock_file = None

  @property
  def shared_memory_name(self) -> str:
    """The weight store's name for this folder (a dead run's block is found by it)."""
    digest = hashlib.sha1(os.path.abspath(self.path).encode()).hexdigest()[:16]
    return f"spiral_{digest}"

  def lock(self):
    """Takes the folder's lock or raises RunFolderError naming the holder."""
    os.makedirs(self.path, exist_ok=True)
    path = os.path.join(self.path, ".lock")
    handle = open(path, "a+")  # pylint: disable=consider-using-with
    try:
      fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
      handle.seek(0)
      holder = handle.read().strip() or "another process"
      handle.close()
      raise RunFolderError(
          f"run folder {self.path} is in use by {holder}; wait for it to finish, stop it, "
          "or choose another --run-dir") from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"pid {os.getpid()} on {socket.gethostname()} since "
                 f"{datetime.datetime.now().isoformat(timespec='seconds')}\n")
    handle.flush()
    self._lock_file = handle

  def release(self):
    if self._lock_file is not None:
      self._lock_file.close()
      self._lock_file = None

  @property
  def log_path(self) -> str:
    """The run's log file: what the console does not show (tracebacks, library output)."""
    return os.path.join(self.path, "train.log")

  def append_log(self, text: str):
    """Appends ``text`` to the run's log file, with a time stamp."""
    os.makedirs(self.path, exist_ok=True)
    with open(self.log_path, "a") as f:
      f.write(f"--- {datetime.datetime.now().isoformat(timespec='seconds')}\n{text.rstrip()}\n")

  @property
  def config_path(self) -> str:
    """The folder's config.json: the config its checkpoints were trained with."""
    return os.path.join(self.path, "config.json")

  def has_trained(self) -> bool:
    """Whether the folder holds training: a checkpoint, or evaluations after step 0."""
    return bool(checkpointing.checkpoint_paths(os.path.join(self.path, "checkpoints"))) or \
        has_trained_history(os.path.join(self.path, "metrics.json"))

  def check_config(self, config: dict, previous: Optional[dict], allow_change: bool = False):
    """RunFolderError naming the keys when ``config`` differs from the one the folder trained.

    Writes nothing. A folder that has not trained takes any config.
    """
    if previous is None or allow_change or not self.has_trained():
      return
    changed = config_differences(previous, config)
    if changed:
      raise RunFolderError(
          f"run folder {self.path} was trained with another config ({'; '.join(changed)}). "
          "Resume with the same config, pass --override-config to go on with the new one, "
          "or choose another --run-dir")

  def write_config(self, config: dict):
    """Writes config.json (after check_config, and after the checkpoints restored into it)."""
    files.write_json(self.config_path, config)

  def record_config(self, config: dict, previous: Optional[dict], allow_change: bool = False):
    """check_config, then write_config."""
    self.check_config(config, previous, allow_change)
    self.write_config(config)

  def check_writable(self):
    """RunFolderError unless the run can write its OUTPUT_FOLDERS: now, not at the first save."""
    for name in OUTPUT_FOLDERS:
      path = os.path.join(self.path, name)
      if os.path.exists(path) and not os.path.isdir(path):
        raise RunFolderError(f"{path} is a file, not a folder: the run writes its {name} there; "
                             "move the file away or choose another --run-dir")
      where = path if os.path.isdir(path) else self.path
      if not os.access(where, os.W_OK | os.X_OK):
        raise RunFolderError(f"{where} is not writable, so the run could not save its {name}; "
                             "make it writable (chmod u+w) or choose another --run-dir")
