"""Trains a SPIRAL agent: python tools/train.py --config configs/default.json [--profile cpu].

Writes into --run-dir (default runs/<config name>-<profile>): config.json,
checkpoints/, tb/ (TensorBoard), metrics.json, reconstructions.png,
curves.png and programs.json. Running again on the same folder resumes.
Every check (config, data, networks, checkpoints) runs before config.json is
written, and a folder that has not trained yet (no checkpoint, no evaluation
after step 0) takes a new config: a failed start never blocks the next one.
"""
import argparse
import os
import sys

import spiral_tf  # noqa: F401  (selects Keras 2 before TensorFlow loads)
from spiral_tf import cli

# Before TensorFlow loads: its start-up lines go to the run's log, not the console.
LIBRARY_OUTPUT = cli.LibraryOutput().capture() if __name__ == "__main__" else None

from spiral_tf import config as config_lib  # noqa: E402  pylint: disable=g-import-not-at-top


def recorded_config(folder):
  """The folder's config.json in today's keys and defaults, or None for a new folder."""
  from spiral_tf.training import builder  # pylint: disable=g-import-not-at-top
  if not os.path.exists(folder.config_path):
    return None
  return builder.config_dict(config_lib.load_saved(folder.config_path))


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  cli.add_debug_flag(parser)
  cli.add_config_flags(parser)
  parser.add_argument("--override-config", action="store_true",
                      help="resume a run folder with a config that differs from its config.json")
  parser.add_argument("--restart", action="store_true",
                      help="train a folder whose checkpoints are gone again from step 0 "
                           "(its old metrics.json is kept beside)")
  parser.add_argument("--ray-address", default=None, metavar="auto|HOST:PORT",
                      help="play the episodes with Ray actors on this Ray cluster (sets "
                           "actors.engine ray; --set actors.engine=ray alone starts Ray here)")
  args = parser.parse_args(argv)
  if args.ray_address is not None:
    args.set += ["actors.engine=ray", f"actors.ray_address={args.ray_address}"]
  cfg = config_lib.load(args.config, args.profile, args.set)  # errors: one line via cli.run
  run_dir = args.run_dir or os.path.join("runs", f"{cfg.name}-{args.profile}")
  from spiral_tf.training import actor_pool  # pylint: disable=g-import-not-at-top
  from spiral_tf.training import builder  # pylint: disable=g-import-not-at-top
  from spiral_tf.training import checkpointing  # pylint: disable=g-import-not-at-top
  from spiral_tf.training import devices  # pylint: disable=g-import-not-at-top
  from spiral_tf.training import run_folder  # pylint: disable=g-import-not-at-top
  from spiral_tf.training import weights  # pylint: disable=g-import-not-at-top
  role = devices.worker_role(cfg.train.strategy)
  if not role.is_chief:
    return train_as_worker(cfg, run_dir, role, args.restart)
  print(f"training {cfg.name!r} ({args.profile}) into {run_dir}", flush=True)
  try:
    folder = run_folder.RunFolder(run_dir)
    folder.lock()
    if LIBRARY_OUTPUT is not None:
      LIBRARY_OUTPUT.to_log(folder.log_path)
    # We hold the lock, so a weight store of this folder's name is a dead run's.
    weights.remove_stale(folder.shared_memory_name)

    def log(message):
      print(message, flush=True)
      if LIBRARY_OUTPUT is not None:  # stderr is the run's log now
        print(message, file=sys.stderr, flush=True)

    # Every check (the config against the folder's, the folder's subfolders,
    # the data and the networks in build_trainer, the checkpoints in restore)
    # comes before config.json is written: a failed start leaves the folder as
    # it was, and a corrected command is never refused because of it.
    config = builder.config_dict(cfg)
    previous = recorded_config(folder)
    folder.check_config(config, previous, allow_change=args.override_config)
    folder.check_writable()
    trainer = builder.build_trainer(cfg, run_dir, log=log)
    trainer.restore(restart=args.restart)
    folder.write_config(config)
    result = trainer.run()
  except (checkpointing.CheckpointError, actor_pool.ActorsFailedError) as e:
    raise cli.UserError(str(e)) from e
  except lost_worker_errors(role) as e:
    raise cli.UserError(lost_worker_message(e)) from e
  print(f"done: {result}")
  print(f"outputs in {run_dir}: metrics.json, reconstructions.png, curves.png, checkpoints/")
  return 0


def lost_worker_errors(role) -> tuple:
  """What a collective update raises when another learner worker is gone (none for one worker)."""
  if role.count == 1:
    return ()
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  return (tf.errors.UnavailableError, tf.errors.CancelledError, tf.errors.DeadlineExceededError,
          tf.errors.AbortedError)


def lost_worker_message(error) -> str:
  lines = [line.strip() for line in str(error).splitlines() if line.strip()]
  # TensorFlow's first line is "Graph execution error:"; the cause is further down.
  first = next((line for line in lines if "abort" in line.lower() or "connect" in line.lower()),
               lines[0] if lines else "")[:200]
  return (f"another learner worker stopped or cannot be reached ({type(error).__name__}: {first}); "
          "the job stops: run the same command on every worker again to resume from the chief's "
          "last checkpoint (train.checkpoint_every_minutes bounds the work lost)")


def train_as_worker(cfg, run_dir: str, role, restart: bool) -> int:
  """A learner worker that is not the chief: it trains in step with the chief and keeps nothing.

  It resumes from the chief's checkpoints in ``run_dir`` and writes its own
  (and its summaries) into a temporary folder that it deletes at the end,
  TensorFlow's multi-worker convention: the run folder is the chief's alone.
  """
  import shutil  # pylint: disable=g-import-not-at-top
  import tempfile  # pylint: disable=g-import-not-at-top
  from spiral_tf.training import actor_pool  # pylint: disable=g-import-not-at-top
  from spiral_tf.training import builder  # pylint: disable=g-import-not-at-top
  from spiral_tf.training import checkpointing  # pylint: disable=g-import-not-at-top
  print(f"learner worker {role.index} of {role.count}: training {cfg.name!r} with the chief, "
        f"which writes {run_dir}", flush=True)
  scratch = tempfile.mkdtemp(prefix=f"spiral_tf-worker{role.index}-")
  try:
    if LIBRARY_OUTPUT is not None:
      LIBRARY_OUTPUT.to_log(os.path.join(scratch, "train.log"))
    trainer = builder.build_trainer(cfg, scratch, chief_run_dir=run_dir)
    trainer.restore(restart=restart)
    result = trainer.run()
  except (checkpointing.CheckpointError, actor_pool.ActorsFailedError) as e:
    raise cli.UserError(str(e)) from e
  except lost_worker_errors(role) as e:
    raise cli.UserError(lost_worker_message(e)) from e
  finally:
    shutil.rmtree(scratch, ignore_errors=True)
  print(f"done: learner update {result['step']}, {result['frames']} agent steps", flush=True)
  return 0


if __name__ == "__main__":
  cli.stop_cleanly_on_signals()
  cli.run(main)
