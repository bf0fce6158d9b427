"""One run per folder: the lock, the recorded config, and what a dead run left behind.

A training run holds an exclusive ``flock`` on ``RUN/.lock`` for its whole
life; a second run on the folder is refused with the holder's pid, host and
start time. The kernel drops the lock when its process dies, so a lock left
by a ``kill -9`` never blocks. The folder's ``config.json`` must match the
checkpoints in it: a resume with a changed config is refused (naming the
keys) unless the caller allows it, and only then is ``config.json`` rewritten.
"""
import datetime
import fcntl
import hashlib
import json
import os
import socket
from typing import Dict, Iterable, List, Optional

from spiral_tf import files


class RunFolderError(ValueError):
  """The run folder cannot be used as asked (locked, or a changed config)."""


# Keys that may change when a run resumes: they schedule the run, they do not
# change what its checkpoints mean (train.init_policy_from only acts at step 0).
RESUMABLE_KEYS = frozenset({
    "description", "train.max_steps", "train.max_minutes", "train.eval_every_minutes",
    "train.checkpoint_every_minutes", "train.summary_every_steps", "train.max_actor_restarts",
    "train.num_actors", "train.envs_per_actor", "train.learner_threads", "train.actor_threads",
    "train.weight_sync_interval", "train.init_policy_from", "env.renderer"})


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

  def recorded_config(self) -> Optional[dict]:
    """The folder's config.json, or None for a new folder."""
    path = os.path.join(self.path, "config.json")
    if not os.path.exists(path):
      return None
    with open(path) as f:
      return json.load(f)

  def record_config(self, config: dict, previous: Optional[dict], allow_change: bool = False):
    """Writes config.json, refusing a changed config on resume unless allowed."""
    if previous is not None and not allow_change:
      changed = config_differences(previous, config)
      if changed:
        raise RunFolderError(
            f"run folder {self.path} was trained with another config ({'; '.join(changed)}). "
            "Resume with the same config, pass --override-config to go on with the new one, "
            "or choose another --run-dir")
    files.write_json(os.path.join(self.path, "config.json"), config)
