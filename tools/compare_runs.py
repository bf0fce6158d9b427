"""Compares training runs: held-out l2 curves on one plot, and a table.

  python tools/compare_runs.py runs/mnist_l2 runs/mnist_critic --labels l2 critic --out compare.png

Reads each run's metrics.json (written by tools/train.py). The blank-canvas
and random-policy levels come from the first run; runs must share their
held-out targets for the comparison to mean anything.
"""
import argparse
import json
import os

from spiral_tf import cli
from spiral_tf import files
from spiral_tf.eval import plots

# metrics.json's levels before they took eval.json's names (blank_l2,
# random_policy_l2): old run folders still compare.
_OLD_LEVEL_KEYS = {"blank canvas": "blank_l2", "random policy": "random_policy_l2"}


def levels_of(run: dict) -> dict:
  """A run's reference levels under their current keys, whichever names its metrics.json used."""
  return {_OLD_LEVEL_KEYS.get(name, name): value for name, value in run.get("levels", {}).items()}


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  cli.add_debug_flag(parser)
  parser.add_argument("run_dirs", nargs="+")
  parser.add_argument("--labels", nargs="*", default=None)
  parser.add_argument("--out", default="compare.png")
  parser.add_argument("--x", choices=["frames", "minutes"], default="frames")
  args = parser.parse_args(argv)
  labels = args.labels or [os.path.basename(os.path.normpath(d)) for d in args.run_dirs]
  if len(labels) != len(args.run_dirs):
    parser.exit(2, "error: give one label per run folder\n")
  runs = []
  for d in args.run_dirs:
    path = os.path.join(d, "metrics.json")
    if not os.path.isfile(path):
      parser.exit(2, f"error: {path} not found: each argument must be a tools/train.py run folder\n")
    with open(path) as f:
      runs.append(json.load(f))
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  fig, ax = plt.subplots(figsize=(6, 4))
  for label, run in zip(labels, runs):
    points = [h for h in run["history"] if h.get("eval_l2") is not None]
    ax.plot([h[args.x] for h in points], [h["eval_l2"] for h in points], "o-", ms=3, label=label)
  for (name, value), style in zip(levels_of(runs[0]).items(), ["--", ":"]):
    label = plots.LEVEL_LABELS.get(name, name)
    ax.axhline(value, color="gray", linestyle=style, label=label)
  ax.set_xlabel("agent steps (frames)" if args.x == "frames" else "training minutes")
  ax.set_ylabel("greedy held-out mean l2 to target")
  ax.legend()
  fig.tight_layout()
  files.write_figure(args.out, fig)
  blank = levels_of(runs[0]).get("blank_l2")
  print(f"{'run':<12} {'minutes':>8} {'frames':>10} {'eval l2':>9} {'x blank':>8} {'strokes':>8}")
  for label, run in zip(labels, runs):
    last = run["history"][-1]
    ratio = last["eval_l2"] / blank if blank else float("nan")
    print(f"{label:<12} {last['minutes']:8.1f} {last['frames']:10d} {last['eval_l2']:9.4f} "
          f"{ratio:8.3f} {last.get('strokes_per_image', float('nan')):8.2f}")
  print(f"wrote {args.out}")
  return 0


if __name__ == "__main__":
  cli.run(main)
