"""Evaluates a trained run on held-out images.

  python tools/evaluate.py --run-dir runs/synthetic_conditional-cpu [--images 64] [--out DIR]
  python tools/evaluate.py --run-dir RUN --renderer tf   # paint with the TF renderer (RUN/eval_tf)

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
  files.write_png(path, plots.image_grid([strokes[i:i + 8] for i in range(0, len(strokes), 8)]))


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  cli.add_debug_flag(parser)
  parser.add_argument("--run-dir", required=True)
  parser.add_argument("--images", type=cli.positive_int, default=64)
  parser.add_argument("--split", default="test")
  parser.add_argument("--sample", action="store_true", help="sample instead of greedy actions")
  parser.add_argument("--renderer", choices=("libmypaint", "tf"), default="libmypaint",
                      help="paint with libmypaint (the environment) or the TF renderer; "
                           "libmypaint-domain runs only for tf")
  parser.add_argument("--out", default=None)
  args = parser.parse_args(argv)
  from spiral_tf.eval import plots  # pylint: disable=g-import-not-at-top
  from spiral_tf.eval import reconstruction  # pylint: disable=g-import-not-at-top
  from spiral_tf.training import builder  # pylint: disable=g-import-not-at-top
  from spiral_tf.training import checkpointing  # pylint: disable=g-import-not-at-top
  from spiral_tf.training import trained_agent  # pylint: disable=g-import-not-at-top
  if args.renderer == "tf" and trained_agent.load_config(args.run_dir).env.domain != "libmypaint":
    raise cli.UserError(f"--renderer tf paints strokes: {args.run_dir} is not a libmypaint "
                        "run; leave --renderer out")
  try:
    agent = trained_agent.load(args.run_dir)
  except checkpointing.CheckpointError as e:  # none yet, or none that restores: the user's to fix
    raise cli.UserError(str(e)) from e
  cfg, policy, make_env, latest = agent.config, agent.policy, agent.make_env, agent.checkpoint
  out_dir = args.out or os.path.join(
      args.run_dir, "eval" if args.renderer == "libmypaint" else "eval_" + args.renderer)
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
    grid = plots.image_grid([out["canvases"][i:i + 8] for i in range(0, len(out["canvases"]), 8)])
  report.update(reconstruction.heldout_metrics(out, evaluator.rules, levels))
  files.write_png(os.path.join(out_dir, "reconstructions.png"), grid)
  if cfg.env.domain == "libmypaint":
    write_stroke_order(cfg, out["programs"], os.path.join(out_dir, "strokes.png"))
  metrics_path = os.path.join(args.run_dir, "metrics.json")
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
