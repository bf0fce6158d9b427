"""Trains a SPIRAL agent: python tools/train.py --config configs/default.json [--profile cpu].

Writes into --run-dir (default runs/<config name>-<profile>): config.json,
checkpoints/, tb/ (TensorBoard), metrics.json, reconstructions.png,
curves.png and programs.json. Running again on the same folder resumes.
"""
import argparse
import os

import spiral_tf  # noqa: F401  (selects Keras 2 before TensorFlow loads)
from spiral_tf import cli
from spiral_tf import config as config_lib


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  cli.add_debug_flag(parser)
  parser.add_argument("--config", default="configs/default.json")
  parser.add_argument("--profile", default="cpu", help="a profile of the config: cpu or paper")
  parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                      help="override a config value (JSON), e.g. --set train.max_minutes=5")
  parser.add_argument("--run-dir", default=None)
  args = parser.parse_args(argv)
  cfg = config_lib.load(args.config, args.profile, args.set)  # errors: one line via cli.run
  run_dir = args.run_dir or os.path.join("runs", f"{cfg.name}-{args.profile}")
  from spiral_tf.training import trainer as trainer_lib  # pylint: disable=g-import-not-at-top
  print(f"training {cfg.name!r} ({args.profile}) into {run_dir}", flush=True)
  try:
    result = trainer_lib.Trainer(cfg, run_dir, log=lambda m: print(m, flush=True)).run()
  except (trainer_lib.CheckpointError, trainer_lib.ActorsFailedError, config_lib.ConfigError) as e:
    parser.exit(1, f"error: {e}\n")
  print(f"done: {result}")
  print(f"outputs in {run_dir}: metrics.json, reconstructions.png, curves.png, checkpoints/")
  return 0


if __name__ == "__main__":
  cli.run(main)
