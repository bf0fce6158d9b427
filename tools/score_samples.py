"""Scores a run's MNIST samples with a small digit classifier, beside random strokes and real digits.

  python tools/score_samples.py --run-dir runs/mnist_unconditional-cpu \
      [--samples 256] [--sampling greedy|sample|both] [--sheet samples.png]

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
The last line is a JSON object.
"""
import argparse
import json
import os

import numpy as np

import spiral_tf  # noqa: F401  (selects Keras 2 before TensorFlow loads)
from spiral_tf import cli
from spiral_tf import config as config_lib

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SAMPLING = {"greedy": (("greedy policy", True),), "sample": (("sampling policy", False),),
            "both": (("greedy policy", True), ("sampling policy", False))}


def format_row(name: str, row: dict) -> str:
  kept = f"{row['label_kept']:10.3f}" if "label_kept" in row else f"{'-':>10s}"
  strokes = f"{row['strokes_per_image']:8.2f}" if "strokes_per_image" in row else f"{'-':>8s}"
  return (f"{name:18s} {row['images']:6d} {row['mean_top_probability']:8.3f} "
          f"{row['classes']:7d} {row['entropy_bits']:8.2f} {row['frechet']:9.2f} "
          f"{row['frechet_painted']:8.2f} {kept} "
          f"{strokes}  {' '.join(str(c) for c in row['histogram'])}")


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  cli.add_debug_flag(parser)
  parser.add_argument("--run-dir", required=True)
  parser.add_argument("--samples", type=cli.positive_int, default=256,
                      help="canvases per policy (conditional runs: at most half the test split)")
  parser.add_argument("--sampling", choices=sorted(SAMPLING), default="both",
                      help="greedy actions, sampled actions, or both")
  parser.add_argument("--mnist-path", default=None,
                      help="MNIST IDX folder (default: the run's data.path when it is MNIST)")
  parser.add_argument("--cache-dir", default=os.path.join(REPO, ".cache"),
                      help="where the classifier's weights are kept between calls")
  parser.add_argument("--sheet", default=None, help="write the first 64 canvases as a PNG here")
  parser.add_argument("--seed", type=int, default=0,
                      help="seed of the noise, the sampled actions and the random policy's strokes")
  args = parser.parse_args(argv)
  from spiral_tf import files  # pylint: disable=g-import-not-at-top
  from spiral_tf.eval import critic_signal  # pylint: disable=g-import-not-at-top
  from spiral_tf.eval import digit_data  # pylint: disable=g-import-not-at-top
  from spiral_tf.eval import plots  # pylint: disable=g-import-not-at-top
  from spiral_tf.eval import reconstruction  # pylint: disable=g-import-not-at-top
  from spiral_tf.eval import sample_scores  # pylint: disable=g-import-not-at-top
  from spiral_tf.eval import scripted_programs  # pylint: disable=g-import-not-at-top
  from spiral_tf.training import checkpointing  # pylint: disable=g-import-not-at-top
  from spiral_tf.training import trained_agent  # pylint: disable=g-import-not-at-top

  try:
    agent = trained_agent.load(args.run_dir)
  except checkpointing.CheckpointError as e:  # no checkpoint yet: the user's to fix
    raise cli.UserError(str(e)) from e
  cfg = agent.config
  mnist_path = args.mnist_path or (cfg.data.path if cfg.data.name == "mnist" else None)
  if mnist_path is None:
    raise cli.UserError(f"run {args.run_dir} was trained on {cfg.data.name!r}, not MNIST: "
                        "pass --mnist-path with the MNIST IDX folder to score it anyway")
  test_images, test_labels = digit_data.labelled_digits(cfg, mnist_path, "test")
  half = len(test_images) // 2
  if half < 2:
    raise cli.UserError(f"MNIST at {mnist_path!r} has {len(test_images)} test digits; need 4")
  classifier = digit_data.classifier(cfg, mnist_path, args.cache_dir)
  reference = classifier.predict(test_images[half:]).features
  conditional = cfg.train.conditional
  n_real = min(args.samples, half)
  real, real_labels = test_images[:n_real], test_labels[:n_real]
  if conditional and args.samples > half:
    print(f"note: a conditional run reconstructs at most {half} held-out digits; "
          f"scoring {n_real}")
  n = n_real if conditional else args.samples
  targets, labels = (real, real_labels) if conditional else (None, None)

  # The painted domain: the oracle's tracings of the reference digits.
  painted = classifier.predict(scripted_programs.oracle_canvases(
      agent.make_env, test_images[half:], args.seed)).features

  def row(canvases, programs=None, row_labels=labels):
    out = classifier.predict(canvases)
    r = sample_scores.score_row(out.probabilities, out.features, reference, row_labels)
    r["frechet_painted"] = sample_scores.frechet_distance(out.features, painted)
    if programs is not None:
      r["strokes_per_image"] = float(np.mean(rules.strokes_per_program(programs)))
    return r

  rows, sheets = {}, []
  evaluator = reconstruction.Evaluator(agent.make_env, agent.policy, min(32, n), seed=args.seed)
  rules = evaluator.rules
  for name, greedy in SAMPLING[args.sampling]:
    out = evaluator.run(targets, greedy=greedy) if conditional else evaluator.run(
        num_samples=n, greedy=greedy)
    rows[name] = row(out["canvases"], out["programs"])
    sheets.append(out["canvases"])
  random_canvases = scripted_programs.random_canvases(agent.make_env, n, args.seed, targets)
  rows["random policy"] = row(random_canvases)
  # A tracer that sees each real digit: what this action space and episode
  # length can paint at best-effort (scored against the real digits' labels).
  oracle_canvases = scripted_programs.oracle_canvases(agent.make_env, real, args.seed)
  rows["ink oracle"] = row(oracle_canvases, row_labels=real_labels)
  rows["real digits"] = row(real, row_labels=real_labels if conditional else None)
  canvases_of = dict(zip([name for name, _ in SAMPLING[args.sampling]], sheets),
                     **{"random policy": random_canvases, "ink oracle": oracle_canvases,
                        "real digits": real})
  critics = {critic_name.replace(" ", "_") + "_score": (critic_name, score)
             for critic_name, score in trained_agent.critic_scores(agent).items()}
  for key, (_, score) in critics.items():  # how the run's own critic ranks each set
    for name, canvases in canvases_of.items():
      rows[name][key] = float(np.mean(critic_signal.scores_of(
          score, np.asarray(canvases, np.float32),
          None if targets is None else np.asarray(targets, np.float32))))

  kind = ("reconstructions of the first held-out test digits" if conditional
          else "unconditional samples, each from fresh noise")
  print(f"run {args.run_dir}: {os.path.basename(agent.checkpoint)}, learner step "
        f"{agent.learner_step}; {kind}")
  print(f"classifier: held-out accuracy {classifier.test_accuracy:.3f}; Fréchet distance to "
        f"{len(test_images) - half} held-out real digits")
  print(f"{'':18s} {'images':>6s} {'top-prob':>8s} {'classes':>7s} {'entropy':>8s} "
        f"{'frechet':>9s} {'painted':>8s} {'label-kept':>10s} {'strokes':>8s}  histogram 0..9")
  for name, r in rows.items():
    print(format_row(name, r))
  for key, (critic_name, _) in critics.items():
    print(f"{critic_name} (mean score; higher = more real): " + ", ".join(
        f"{name} {r[key]:.3f}" for name, r in rows.items()))
  vs_random, painted_vs_random = {}, {}
  for name, _ in SAMPLING[args.sampling]:
    vs_random[name] = rows[name]["frechet"] / rows["random policy"]["frechet"]
    painted_vs_random[name] = (rows[name]["frechet_painted"]
                               / rows["random policy"]["frechet_painted"])
    print(f"{name}: Fréchet distance {vs_random[name]:.2f}x the random policy's to real "
          f"digits, {painted_vs_random[name]:.2f}x to the ink oracle's tracings")
  if args.sheet:
    canvases = sheets[0][:64]
    files.write_png(args.sheet, plots.image_grid([canvases[i:i + 8]
                                                  for i in range(0, len(canvases), 8)]))
  report = dict(run_dir=args.run_dir, checkpoint=agent.checkpoint,
                learner_step=agent.learner_step, conditional=conditional, samples=n,
                sampling=args.sampling, canvas_size=int(test_images.shape[1]),
                classifier_test_accuracy=classifier.test_accuracy,
                reference_digits=len(test_images) - half, rows=rows,
                frechet_vs_random=vs_random, frechet_painted_vs_random=painted_vs_random)
  print(json.dumps(report))
  return 0


if __name__ == "__main__":
  cli.run(main)
