"""Scores a run's MNIST samples with a small digit classifier, beside random strokes and real digits.

  python tools/score_samples.py --run-dir runs/mnist_unconditional-cpu \
      [--samples 256] [--sampling greedy|sample|both] [--sheet samples.png] \
      [--checkpoint RUN/checkpoints/ckpt-N | --every-checkpoint OUT_DIR] \
      [--reference-agent mnist]
  python tools/score_samples.py --pretrained NAME --mnist-path data/mnist

Paints --samples canvases with the run's newest policy (unconditional runs:
from fresh noise; conditional runs: reconstructions of the first held-out
test digits), with the greedy policy, the sampling policy or both, and
scores them with a small CNN classifier trained on the run's MNIST training
split at the run's canvas size and convention (white paper, dark ink). The
classifier trains the first time (about half a minute on 2 cores) and is
cached in --cache-dir (default .cache/ under the repository; never
committed); nothing is downloaded.

For every set of canvases: the mean top-class probability, the predicted-class
histogram, how many classes occur and the histogram's entropy in bits
(log2 10 = 3.32 when every digit is equally common), the Fréchet distance
between the classifier's penultimate-layer features of the canvases and of
held-out real digits (the second half of the test split), and for
conditional runs the label-kept rate (the reconstruction gets its target's
label). Each is printed beside the same numbers for random-policy canvases
(the environment's random programs) and for real digits (the first half of
the test split, as many as the samples: the floor of every number), and for
the ink oracle's tracings of those real digits (``scripted_programs.InkOracle``,
which sees each digit: what this action space and episode length can paint
with a hand-written tracer, a reference for the agent's). The classifier's
features tell dry-brush strokes from pen strokes, so every painted set sits
far from real digits; each set's Fréchet distance is therefore given twice:
to the held-out real digits ('frechet') and to the ink oracle's tracings of
those same held-out digits ('painted', the distributions this brush can
paint), each also as a ratio to the random policy's. For a run with
the critic reward, each set also gets the run's own critic's mean score
(and its slow reward copy's, if it had one): whether the critic still calls
the agent's canvases fake, e.g. below random strokes after a mode collapse.
--reference-agent adds a conditional agent's greedy reconstructions of the
real digits as a row (a shipped agent's name, e.g. mnist, or a run folder):
how close a trained painter of this brush gets when it sees its digit, the
mark an unconditional agent's samples are held to.

--checkpoint scores one checkpoint of the run instead of its newest;
--every-checkpoint OUT_DIR scores every checkpoint the run kept, oldest
first (train with train.keep_checkpoint_every_minutes to keep them along
the run) and writes OUT_DIR/curve.json (each checkpoint's agent steps and
rows), OUT_DIR/curve.png (the Fréchet distances against agent steps, beside
the reference sets') and OUT_DIR/samples-<agent steps>.png (the first 64
canvases of each). The reference sets are painted once.
The last line is a JSON object.
"""
import argparse
import json
import os

import numpy as np

import spiral_tf  # noqa: F401  (selects Keras 2 before TensorFlow loads)
from spiral_tf import cli

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SAMPLING_CHOICES = ("both", "greedy", "sample")


def format_row(name: str, row: dict) -> str:
  kept = f"{row['label_kept']:10.3f}" if "label_kept" in row else f"{'-':>10s}"
  strokes = f"{row['strokes_per_image']:8.2f}" if "strokes_per_image" in row else f"{'-':>8s}"
  return (f"{name:18s} {row['images']:6d} {row['mean_top_probability']:8.3f} "
          f"{row['classes']:7d} {row['entropy_bits']:8.2f} {row['frechet']:9.2f} "
          f"{row['frechet_painted']:8.2f} {kept} "
          f"{strokes}  {' '.join(str(c) for c in row['histogram'])}")


def print_table(rows: dict) -> None:
  print(f"{'':18s} {'images':>6s} {'top-prob':>8s} {'classes':>7s} {'entropy':>8s} "
        f"{'frechet':>9s} {'painted':>8s} {'label-kept':>10s} {'strokes':>8s}  histogram 0..9")
  for name, r in rows.items():
    print(format_row(name, r))


def write_sheet(path: str, canvases: np.ndarray) -> None:
  from spiral_tf import files  # pylint: disable=g-import-not-at-top
  from spiral_tf.eval import plots  # pylint: disable=g-import-not-at-top
  canvases = canvases[:64]
  files.write_png(path, plots.sheet(canvases))


def reference_agent(name: str):
  """A shipped agent's name or a run folder, as a TrainedAgent."""
  from spiral_tf import pretrained  # pylint: disable=g-import-not-at-top
  from spiral_tf.training import trained_agent  # pylint: disable=g-import-not-at-top
  if os.path.isdir(name):
    return trained_agent.load(name)
  return pretrained.load(name)


def score_one(scorer, agent, args):
  """Scores one checkpoint; prints its table; returns (its report, its first policy's canvases)."""
  from spiral_tf.eval import digit_scoring  # pylint: disable=g-import-not-at-top
  from spiral_tf.training import trained_agent  # pylint: disable=g-import-not-at-top
  critics = trained_agent.critic_scores(agent)
  rows, canvases_of = scorer.score(agent, args.sampling, critics)
  kind = ("reconstructions of the first held-out test digits" if scorer.conditional
          else "unconditional samples, each from fresh noise")
  steps = "" if agent.agent_steps is None else f", {agent.agent_steps} agent steps"
  print(f"run {args.run_dir}: {os.path.basename(agent.checkpoint)}, learner step "
        f"{agent.learner_step}{steps}; {kind}")
  print_table(rows)
  for critic_name in critics:
    key = critic_name.replace(" ", "_") + "_score"
    print(f"{critic_name} (mean score; higher = more real): " + ", ".join(
        f"{name} {r[key]:.3f}" for name, r in rows.items()))
  vs_random, painted_vs_random = digit_scoring.ratios_to_random(rows, args.sampling)
  for name in vs_random:
    print(f"{name}: Fréchet distance {vs_random[name]:.2f}x the random policy's to real "
          f"digits, {painted_vs_random[name]:.2f}x to the ink oracle's tracings")
  first = digit_scoring.SAMPLING[args.sampling][0][0]
  return dict(checkpoint=agent.checkpoint, learner_step=agent.learner_step,
              agent_steps=agent.agent_steps, rows=rows, frechet_vs_random=vs_random,
              frechet_painted_vs_random=painted_vs_random), canvases_of[first]


def curve_figure(points: list, sampling: str, reference_rows: dict):
  """Fréchet distances (to real digits, to the oracle's tracings) against agent steps."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  from spiral_tf.eval import digit_scoring  # pylint: disable=g-import-not-at-top
  fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
  steps = [p["agent_steps"] or 0 for p in points]
  panels = (("frechet_painted", "Fréchet to the oracle's tracings"),
            ("frechet", "Fréchet to real digits"), ("classes", "classes among the samples"))
  styles = iter(["--", ":", "-.", (0, (5, 1))] * 2)
  policies = [name for name, _ in digit_scoring.SAMPLING[sampling]]
  lines = {name: next(styles) for name in reference_rows
           if name not in policies and name != "real digits"}  # real digits: far off the scale
  for ax, (key, title) in zip(axes, panels):
    for name in policies:
      ax.plot(steps, [p["rows"][name][key] for p in points], "o-", label=name)
    for name, style in lines.items():
      ax.axhline(reference_rows[name][key], linestyle=style, color="gray", label=name)
    ax.set_xlabel("agent steps")
    ax.set_title(title)
  axes[0].legend(fontsize=7)
  fig.tight_layout()
  return fig


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  cli.add_debug_flag(parser)
  source = parser.add_mutually_exclusive_group(required=True)
  source.add_argument("--run-dir", help="a run folder of tools/train.py")
  source.add_argument("--pretrained", metavar="NAME",
                      help="a trained agent shipped with the package (spiral_tf.pretrained.list())")
  parser.add_argument("--samples", type=cli.positive_int, default=256,
                      help="canvases per policy (conditional runs: at most half the test split)")
  parser.add_argument("--sampling", choices=SAMPLING_CHOICES, default="both",
                      help="greedy actions, sampled actions, or both")
  parser.add_argument("--mnist-path", default=None,
                      help="MNIST IDX folder (default: the run's data.path when it is MNIST)")
  parser.add_argument("--cache-dir", default=os.path.join(REPO, ".cache"),
                      help="where the classifier's weights are kept between calls")
  parser.add_argument("--sheet", default=None, help="write the first 64 canvases as a PNG here")
  parser.add_argument("--seed", type=int, default=0,
                      help="seed of the noise, the sampled actions and the random policy's strokes")
  parser.add_argument("--reference-agent", default=None,
                      help="a conditional agent (shipped name or run folder) whose "
                      "reconstructions of the real digits are scored as a row")
  which = parser.add_mutually_exclusive_group()
  which.add_argument("--checkpoint", default=None,
                     help="score this checkpoint (RUN/checkpoints/ckpt-N) instead of the newest")
  which.add_argument("--every-checkpoint", default=None, metavar="OUT_DIR",
                     help="score every checkpoint the run kept; curve and sheets into OUT_DIR")
  args = parser.parse_args(argv)
  if args.pretrained:
    from spiral_tf import pretrained  # pylint: disable=g-import-not-at-top
    args.run_dir = pretrained.folder(args.pretrained)  # an unknown name lists the names
  from spiral_tf import files  # pylint: disable=g-import-not-at-top
  from spiral_tf.eval import digit_scoring  # pylint: disable=g-import-not-at-top
  from spiral_tf.training import checkpointing  # pylint: disable=g-import-not-at-top
  from spiral_tf.training import trained_agent  # pylint: disable=g-import-not-at-top

  try:
    if args.every_checkpoint:
      paths = trained_agent.checkpoints(args.run_dir)
      if not paths:
        raise checkpointing.CheckpointError(
            f"no checkpoint in {os.path.join(args.run_dir, 'checkpoints')}: train first")
    else:
      paths = [args.checkpoint]
    agent = trained_agent.load(args.run_dir, checkpoint=paths[0])
  except checkpointing.CheckpointError as e:  # no checkpoint yet, or a wrong name: the user's
    raise cli.UserError(str(e)) from e
  cfg = agent.config
  mnist_path = args.mnist_path or (cfg.data.path if cfg.data.name == "mnist" else None)
  if mnist_path is None and cfg.data.name == "mnist":  # a shipped agent names no path
    raise cli.UserError(f"{args.run_dir} does not say where MNIST is: pass --mnist-path, the "
                        "folder of the MNIST IDX files (docs/data.md)")
  if mnist_path is None:
    raise cli.UserError(f"run {args.run_dir} was trained on {cfg.data.name!r}, not MNIST: "
                        "pass --mnist-path with the MNIST IDX folder to score it anyway")
  scorer = digit_scoring.DigitScorer(agent, mnist_path, args.cache_dir, args.samples,
                                     seed=args.seed)
  if args.reference_agent:
    scorer.add_reconstructions(f"{os.path.basename(args.reference_agent.rstrip('/'))} "
                               "reconstructions", reference_agent(args.reference_agent))
  print(f"classifier: held-out accuracy {scorer.classifier.test_accuracy:.3f}; Fréchet distance "
        f"to {scorer.reference_digits} held-out real digits")
  points = []
  for i, path in enumerate(paths):
    if i:
      agent = trained_agent.load(args.run_dir, checkpoint=path)
    point, canvases = score_one(scorer, agent, args)
    points.append(point)
    if args.every_checkpoint:
      os.makedirs(args.every_checkpoint, exist_ok=True)
      write_sheet(os.path.join(args.every_checkpoint,
                               f"samples-{agent.agent_steps or agent.learner_step}.png"), canvases)
    elif args.sheet:
      write_sheet(args.sheet, canvases)
  report = dict(run_dir=args.run_dir, conditional=scorer.conditional, samples=scorer.samples,
                sampling=args.sampling, canvas_size=scorer.canvas_size,
                classifier_test_accuracy=scorer.classifier.test_accuracy,
                reference_digits=scorer.reference_digits, **points[-1])
  if args.every_checkpoint:
    curve = dict(report, points=points)
    files.write_json(os.path.join(args.every_checkpoint, "curve.json"), curve)
    files.write_figure(os.path.join(args.every_checkpoint, "curve.png"),
                       curve_figure(points, args.sampling, points[-1]["rows"]))
    print(f"{len(points)} checkpoints scored; curve.json, curve.png and samples-*.png in "
          f"{args.every_checkpoint}")
    report["checkpoints_scored"] = len(points)
  print(json.dumps(report))
  return 0


if __name__ == "__main__":
  cli.run(main)
