"""Checkpoints of a run folder: save, and restore the newest one that restores.

TensorFlow names the latest checkpoint in a small index file
(``checkpoints/checkpoint``). When that file is damaged TensorFlow ignores it
(text garbage) or raises ``UnicodeDecodeError`` (binary garbage), and a run
would silently start again from step 0 over its own history. Here the
checkpoint files themselves are the truth: ``restore_newest`` tries them
newest first, says when it recovered past a damaged index or a damaged
checkpoint, and rewrites the index of the run's own folder. The same rule
reads another run's folder (a trained agent, ``train.init_policy_from``),
which it leaves as it was.
"""
import os
import re
from typing import Callable, List, Optional, Sequence

import tensorflow as tf

_CKPT = re.compile(r"^ckpt-(\d+)\.index$")


class CheckpointError(RuntimeError):
  """Checkpoints exist but none can be restored."""

  def __init__(self, message: str, reasons: Sequence[str] = ()):
    super().__init__(message)
    self.reasons = list(reasons)  # 'ckpt-N: Error: first line' for each checkpoint tried


class CheckpointMismatchError(CheckpointError):
  """The checkpoints are whole but hold other variables or shapes than the networks built."""


# What TensorFlow raises for a readable checkpoint that does not fit: a
# variable of another shape (ValueError), or objects the checkpoint lacks
# (AssertionError from assert_existing_objects_matched). A damaged file is
# an OpError (DataLossError, NotFoundError) instead.
_MISMATCH = (ValueError, AssertionError)


def checkpoint_paths(directory: str) -> List[str]:
  """The checkpoint prefixes on disk, newest (highest number) first."""
  if not os.path.isdir(directory):
    return []
  found = [(int(m.group(1)), os.path.join(directory, name[:-len(".index")]))
           for name in os.listdir(directory) for m in [_CKPT.match(name)] if m]
  return [path for _, path in sorted(found, reverse=True)]


def _indexed_latest(directory: str) -> Optional[str]:
  try:
    return tf.train.latest_checkpoint(directory)
  except (UnicodeDecodeError, ValueError, tf.errors.OpError):
    return None


def restore_newest(checkpoint: tf.train.Checkpoint, directory: str, partial: bool = False,
                   log: Callable[[str], None] = print, own: bool = True) -> Optional[str]:
  """Restores the newest checkpoint that restores; returns its path (None: there is none).

  Args:
    checkpoint: what to restore; every object it tracks must be in the checkpoint.
    directory: the checkpoints folder.
    partial: the checkpoint may hold more than ``checkpoint`` tracks (e.g. a
      tool restoring only the policy).
    log: where recoveries are reported.
    own: the folder is this run's: a recovery rewrites its index. False for
      another run's folder, which is only read (it may be training).

  Raises:
    CheckpointMismatchError: every checkpoint is whole but none fits ``checkpoint``.
    CheckpointError: none restores (damaged, or some damaged and the rest not fitting).
  """
  paths = checkpoint_paths(directory)
  if not paths:
    return None
  indexed = _indexed_latest(directory)
  errors, mismatches = [], 0
  for path in paths:
    try:
      status = checkpoint.restore(path)
      if partial:
        status.expect_partial()
      status.assert_existing_objects_matched()
    except Exception as e:  # pylint: disable=broad-except
      errors.append(f"{os.path.basename(path)}: {type(e).__name__}: {str(e).splitlines()[0][:200]}")
      mismatches += isinstance(e, _MISMATCH)
      continue
    if errors or (own and indexed != path):  # another run's index may lag its newest save
      reason = "; ".join(errors) if errors else "the checkpoint index was missing or damaged"
      log(f"recovered from {path} ({reason})")
      if own:
        tf.compat.v1.train.update_checkpoint_state(
            directory, path, all_model_checkpoint_paths=list(reversed(paths)))
    return path
  if mismatches == len(errors):
    raise CheckpointMismatchError(
        f"the checkpoints in {directory} do not fit the networks of this config "
        f"({errors[0]}): they were trained with another config. Resume with the config they "
        "were trained with (the folder's config.json), or train the new one in another --run-dir",
        errors)
  raise CheckpointError(
      f"no checkpoint in {directory} could be restored ({'; '.join(errors)}). They are corrupt "
      "or were written by a different config: start a new run folder, or remove the damaged "
      "files to start this one again.", errors)


class RunCheckpoints:
  """Saving and restoring everything a run needs to go on (policy, critic, counters, replay)."""

  def __init__(self, directory: str, max_to_keep: int = 3, replay=None,
               restore_from: Optional[str] = None, keep_every_minutes: float = 0.0,
               **tracked):
    """Args:
      directory: the run's checkpoints folder, where it saves.
      max_to_keep: the newest checkpoints kept there.
      replay: the RenderReplay, saved and restored with the rest (or None).
      restore_from: another checkpoints folder to resume from, only read (a
        learner worker that is not the chief resumes from the chief's).
      keep_every_minutes: > 0: older checkpoints are kept too, one every this
        many minutes of wall time (tf.train.CheckpointManager's rule).
      **tracked: the objects saved.
    """
    self.directory = directory
    self.restore_from = restore_from
    self.replay = replay
    if replay is not None:
      tracked["render_replay"] = replay.checkpointable
    self.checkpoint = tf.train.Checkpoint(**tracked)
    self.max_to_keep = max_to_keep
    self.keep_every_hours = keep_every_minutes / 60.0 or None
    self.manager = None  # made after restore() has mended the index

  def restore(self, log: Callable[[str], None] = print) -> Optional[str]:
    """Restores the newest restorable checkpoint; returns its path or None."""
    if self.restore_from is not None:
      path = restore_newest(self.checkpoint, self.restore_from, log=log, own=False)
      if path is not None and self.replay is not None:
        self.replay.after_restore()
      return path
    index = os.path.join(self.directory, "checkpoint")
    if os.path.exists(index) and _indexed_latest(self.directory) is None:
      # CheckpointManager would fail on (or ignore) it; restore_newest rewrites it.
      os.replace(index, index + ".damaged")
      log(f"the checkpoint index {index} is damaged; kept it as {index}.damaged")
    path = restore_newest(self.checkpoint, self.directory, log=log)
    if path is not None and self.replay is not None:
      self.replay.after_restore()
    return path

  def save(self, number: int) -> str:
    """Writes a checkpoint (TensorFlow writes its index last, so a crash leaves the previous)."""
    if self.replay is not None:
      self.replay.before_save()
    if self.manager is None:
      self.manager = tf.train.CheckpointManager(
          self.checkpoint, self.directory, max_to_keep=self.max_to_keep,
          keep_checkpoint_every_n_hours=self.keep_every_hours)
    return self.manager.save(checkpoint_number=number)

  @property
  def latest(self) -> Optional[str]:
    paths = checkpoint_paths(self.directory)
    return paths[0] if paths else None
