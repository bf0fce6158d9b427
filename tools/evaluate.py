"""Evaluates a trained run on held-out images.

  python tools/evaluate.py --run-dir runs/synthetic_conditional-cpu [--images 64] [--out DIR]
  python tools/evaluate.py --run-dir RUN --renderer tf   # paint with the TF renderer (RUN/eval_tf)
  python tools/evaluate.py --pretrained mnist --data-path data/mnist --out eval_mnist

--pretrained NAME evaluates a trained agent shipped in spiral_tf/pretrained/
instead of a run folder (its config names the data set, --data-path says
where its files are; --out is required: the agent's folder is not written).

Loads the run's config.json and latest checkpoint, paints the held-out
targets with the greedy policy and writes into --out (default RUN/eval):
eval.json (eval_l2, the greedy mean l2 to the targets, against the
blank_l2 and random_policy_l2 levels: the names of a history point in the
run's metrics.json; see spiral_tf/eval/reconstruction.py),
reconstructions.png (targets above reconstructions), strokes.png (each stroke
in its own colour, by order), curves.png (from the run's metrics.json) and
programs.json.
"""
import argparse
import json
import os

import numpy as np

import spiral_tf  # noqa: F401  (selects Keras 2 before TensorFlow loads)
from spiral_tf import cli
from spiral_tf import files


def write_stroke_order(cfg, programs, path):
  """Re-paints up to 32 programs with each stroke in its own colour."""
  from spiral_tf.eval import painting  # pylint: disable=g-import-not-at-top
  from spiral_tf.eval import plots  # pylint: disable=g-import-not-at-top
  from spiral_tf.training import builder  # pylint: disable=g-import-not-at-top
  kwargs = builder.painting_env_kwargs(cfg)
  strokes = np.stack([painting.stroke_order(p, kwargs) for p in programs[:32]])
  files.write_png(path, plots.sheet(strokes))


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  cli.add_debug_flag(parser)
  source = parser.add_mutually_exclusive_group(required=True)
  source.add_argument("--run-dir", help="a run folder of tools/train.py")
  source.add_argument("--pretrained", metavar="NAME",
                      help="a trained agent shipped with the package (spiral_tf.pretrained.list())")
  parser.add_argument("--data-path", default=None,
                      help="where the data set's files are (replaces the config's data.path)")
  parser.add_argument("--images", type=cli.positive_int, default=64)
  parser.add_argument("--split", default="test")
  parser.add_argument("--sample", action="store_true", help="sample instead of greedy actions")
  parser.add_argument("--renderer", choices=("libmypaint", "tf"), default="libmypaint",
                      help="paint with libmypaint (the environment) or the TF renderer; "
                           "libmypaint-domain runs only for tf")
  parser.add_argument("--out", default=None)
  args = parser.parse_args(argv)
  run_dir = args.run_dir
  if args.pretrained:
    from spiral_tf import pretrained  # pylint: disable=g-import-not-at-top
    run_dir = pretrained.folder(args.pretrained)  # an unknown name lists the names
    if not args.out:
      raise cli.UserError(f"--pretrained {args.pretrained} needs --out DIR: the agent's folder "
                          "is part of the installed package and is not written")
  from spiral_tf.eval import plots  # pylint: disable=g-import-not-at-top
  from spiral_tf.eval import reconstruction  # pylint: disable=g-import-not-at-top
  from spiral_tf.training import builder  # pylint: disable=g-import-not-at-top
  from spiral_tf.training import checkpointing  # pylint: disable=g-import-not-at-top
  from spiral_tf.training import trained_agent  # pylint: disable=g-import-not-at-top
  if args.renderer == "tf" and trained_agent.load_config(run_dir).env.domain != "libmypaint":
    raise cli.UserError(f"--renderer tf paints strokes: {run_dir} is not a libmypaint "
                        "run; leave --renderer out")
  try:
    agent = trained_agent.load(run_dir)
  except checkpointing.CheckpointError as e:  # none yet, or none that restores: the user's to fix
    raise cli.UserError(str(e)) from e
  if args.data_path is not None:
    agent.config.data.path = args.data_path
  elif args.pretrained and agent.config.train.conditional and not agent.config.data.path and \
      agent.config.data.name != "synthetic" and not agent.config.data.name.startswith("tfds:"):
    raise cli.UserError(f"--pretrained {args.pretrained} paints held-out {agent.config.data.name} "
                        "images: give --data-path, the folder of its files (docs/data.md)")
  cfg, policy, make_env, latest = agent.config, agent.policy, agent.make_env, agent.checkpoint
  out_dir = args.out or os.path.join(
      run_dir, "eval" if args.renderer == "libmypaint" else "eval_" + args.renderer)
  if args.renderer == "tf":
    env = make_env()
    evaluator = reconstruction.GraphEvaluator(policy, builder.tf_renderer(cfg, env),
                                              env.action_rules, env.episode_length,
                                              min(64, args.images))
    env.close()
  else:
    evaluator = reconstruction.Evaluator(make_env, policy, min(32, args.images))
  # What painted the canvases: the TF renderer, or the run's own environment
  # (libmypaint, or MuJoCo for a mujoco_scenes run).
  painter = "tf" if args.renderer == "tf" else cfg.env.domain
  report = {"checkpoint": latest, "split": args.split, "greedy": not args.sample,
            "renderer": painter}
  levels = {}
  if cfg.train.conditional:
    targets = builder.load_images(cfg, args.split, args.images)
    out = evaluator.run(targets, greedy=not args.sample)
    levels = reconstruction.reference_levels(make_env, targets)
    report.update(images=len(targets), **levels)
    grid = plots.pairs_grid(targets, out["canvases"])
  else:
    out = evaluator.run(num_samples=args.images, greedy=not args.sample)
    grid = plots.sheet(out["canvases"])
  report.update(reconstruction.heldout_metrics(out, evaluator.rules, levels))
  files.write_png(os.path.join(out_dir, "reconstructions.png"), grid)
  if cfg.env.domain == "libmypaint":
    write_stroke_order(cfg, out["programs"], os.path.join(out_dir, "strokes.png"))
  metrics_path = os.path.join(run_dir, "metrics.json")
  if os.path.exists(metrics_path):
    with open(metrics_path) as f:
      metrics = json.load(f)
    fig = plots.learning_curves(metrics.get("history", []), metrics.get("levels", {}), cfg.name)
    files.write_figure(os.path.join(out_dir, "curves.png"), fig)
  files.write_json(os.path.join(out_dir, "programs.json"), out["programs"])
  files.write_json(os.path.join(out_dir, "eval.json"), report)
  print(json.dumps(report))
  return 0


if __name__ == "__main__":
  cli.run(main)
