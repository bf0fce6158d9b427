"""Packages a trained run as an agent shipped with the package: spiral_tf/pretrained/NAME/.

  python tools/make_pretrained.py --run-dir runs/mnist_conditional-cpu --name mnist \\
      --data-path data/mnist --images 256 \\
      --command "python tools/train.py --config configs/mnist_conditional.json --profile cpu"

Reads the run's config.json and newest restorable checkpoint and writes
--out/NAME/ (the folder format: spiral_tf/pretrained/__init__.py): the
policy alone as one checkpoint with a relative index, the config without
the trainer's paths, heldout.png, card.json and its README.md. The held-out
numbers are tools/evaluate.py's, measured on the packaged folder itself: the
first --images test images, and the first 64 of them (the card's ``check``,
which the tests measure again). An unconditional MNIST agent's are
tools/score_samples.py's scores of --images samples from fresh noise, and of
64 (its ``check``), with heldout.png the check's sampling-policy samples. Agent steps, learner updates and training
minutes are the checkpoint's counters (else metrics.json's last point); the
licence is docs/data.md's for the data set unless --data-licence gives one.
Everything is written into a temporary folder beside NAME/ and renamed into
place at the end. Refused with one line: a NAME that is not a lowercase
identifier, an existing NAME/ without --replace, a run with no checkpoint,
an unconditional run of another data set than MNIST, and a folder over 5 MB (or agents over 20 MB
together). The last line is JSON: name, folder, bytes, heldout, check.
"""
import argparse
import contextlib
import io
import json
import os
import platform
import shlex
import shutil
import subprocess
import tempfile
from typing import Optional

import spiral_tf  # noqa: F401  (selects Keras 2 before TensorFlow loads)
from spiral_tf import cli
from spiral_tf import files
from spiral_tf import pretrained
from spiral_tf.eval import plots
from spiral_tf.pretrained import model_card

import evaluate  # tools/evaluate.py: a card's numbers are the ones a user measures
import make_line_drawings  # tools/make_line_drawings.py: drawings no data set here holds
import paint  # tools/paint.py: drawings are painted as a user paints them

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MB = 2 ** 20
SAMPLE_SEED = 0  # of an unconditional agent's noise, sampled actions and random strokes


def training_flags(command: str) -> dict:
  """The config file and profile a training command names (tools/train.py's defaults if not)."""
  parser = argparse.ArgumentParser(add_help=False, exit_on_error=False)
  cli.add_config_flags(parser)
  try:
    known, _ = parser.parse_known_args(shlex.split(command))
  except (ValueError, argparse.ArgumentError) as e:
    raise cli.UserError(f"--command {command!r}: its --config and --profile cannot be read "
                        f"({e})") from e
  return {"file": known.config, "profile": known.profile}


def data_licence(name: str) -> Optional[str]:
  """The licence docs/data.md's table gives data set ``name`` (by its `data.name` column)."""
  path = os.path.join(REPO, "docs", "data.md")
  if not os.path.isfile(path):
    return None
  with open(path) as f:
    for line in f:
      cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
      if len(cells) > 2 and cells[2] == f"`{name}`":
        return cells[1]
  return None


def this_machine() -> str:
  """'<CPU model>, <n> CPUs, <system>': where this command runs."""
  model = platform.processor() or platform.machine()
  try:
    with open("/proc/cpuinfo") as f:
      model = next((line.split(":", 1)[1].strip() for line in f
                    if line.startswith("model name")), model)
  except OSError:
    pass
  return f"{model}, {os.cpu_count()} CPUs, {platform.system()}"


def git_commit() -> Optional[str]:
  """This checkout's HEAD, or None outside a git checkout."""
  try:
    proc = subprocess.run(["git", "-C", REPO, "rev-parse", "HEAD"], capture_output=True,
                          text=True, timeout=30, check=True)
  except (OSError, subprocess.SubprocessError):
    return None
  return proc.stdout.strip() or None


def run_counters(checkpoint: str, run_dir: str) -> dict:
  """agent_steps, learner_updates, training_minutes: the checkpoint's counters.

  A checkpoint without them (a policy saved alone) takes metrics.json's last point.
  """
  from spiral_tf.training import trained_agent  # pylint: disable=g-import-not-at-top
  values = trained_agent.saved_counters(checkpoint)
  if None not in values.values():
    return {"agent_steps": int(values["frames"]), "learner_updates": int(values["learner_step"]),
            "training_minutes": round(float(values["seconds"]) / 60.0, 4)}
  path = os.path.join(run_dir, "metrics.json")
  if os.path.exists(path):
    with open(path) as f:
      point = (json.load(f).get("history") or [{}])[-1]
    if {"frames", "minutes", "step"} <= set(point):
      return {"agent_steps": int(point["frames"]), "learner_updates": int(point["step"]),
              "training_minutes": round(float(point["minutes"]), 4)}
  raise cli.UserError(f"{checkpoint} holds no agent-step counters and {path} no evaluation: "
                      "package a run folder written by tools/train.py")


def write_policy(agent, folder: str) -> str:
  """The policy alone (and its learner step) as checkpoints/ckpt-N, with a relative index.

  Returns the checkpoint's path in ``folder``.
  """
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  directory = os.path.join(folder, "checkpoints")
  os.makedirs(directory)
  prefix = f"ckpt-{agent.learner_step}"  # the name checkpointing.checkpoint_paths reads
  step = tf.Variable(agent.learner_step, dtype=tf.int64, name="learner_step")
  checkpoint = tf.train.Checkpoint(policy=agent.policy, learner_step=step)
  checkpoint.save_counter  # pylint: disable=pointless-statement  (made now: restores expect it)
  checkpoint.write(os.path.join(directory, prefix))
  files.write_bytes(os.path.join(directory, "checkpoint"),
                    model_card.checkpoint_index(prefix).encode())
  return f"checkpoints/{prefix}"


def measure(folder: str, data_path: Optional[str], images: int, out: str, cfg) -> dict:
  """tools/evaluate.py on the packaged folder, as a card's entry (NUMBERS, images, renderer)."""
  argv = ["--run-dir", folder, "--images", str(images), "--out", out]
  if data_path:
    argv += ["--data-path", data_path]
  with contextlib.redirect_stdout(io.StringIO()):  # its report is read from eval.json
    evaluate.main(argv)
  with open(os.path.join(out, "eval.json")) as f:
    report = json.load(f)
  entry = {key: report.get(key) for key in model_card.NUMBERS}
  entry["images"] = {"data": cfg.data.name, "split": report["split"], "first": report["images"],
                     "seed": cfg.data.options.get("seed")}
  entry["renderer"] = report["renderer"]
  return entry


def measure_samples(folder: str, data_path: Optional[str], samples: int, cache_dir: str,
                    sheet: Optional[str] = None) -> dict:
  """tools/score_samples.py's numbers of the packaged (unconditional) agent, as a card's entry.

  ``samples`` canvases from noise seeded SAMPLE_SEED, greedy and sampled, and
  the random policy's; ``sheet``: where the sampling policy's first 64 go.
  """
  from spiral_tf.eval import digit_scoring  # pylint: disable=g-import-not-at-top
  from spiral_tf.training import trained_agent  # pylint: disable=g-import-not-at-top
  if not data_path:
    raise cli.UserError("an unconditional agent's samples are scored against MNIST's test "
                        "digits: give --data-path, the folder of the MNIST IDX files")
  agent = trained_agent.load(folder)
  with contextlib.redirect_stdout(io.StringIO()):  # the classifier's first training
    scorer = digit_scoring.DigitScorer(agent, data_path, cache_dir, samples, seed=SAMPLE_SEED)
  rows, canvases = scorer.score(agent, "both")
  vs_random, painted_vs_random = digit_scoring.ratios_to_random(rows, "both")
  entry = {"samples": {"data": agent.config.data.name, "split": "test", "count": scorer.samples,
                       "seed": SAMPLE_SEED, "reference_digits": scorer.reference_digits,
                       "classifier_test_accuracy": scorer.classifier.test_accuracy}}
  for name in ("greedy policy", "sampling policy", "random policy"):
    row = dict(rows[name], frechet_vs_random=vs_random.get(name, 1.0),
               frechet_painted_vs_random=painted_vs_random.get(name, 1.0))
    entry[name.replace(" ", "_")] = {k: row.get(k) for k in model_card.SAMPLE_NUMBERS}
  if sheet:
    files.write_png(sheet, plots.sheet(canvases["sampling policy"][:64]))
  return entry


def measure_drawings(folder: str, scratch: str) -> dict:
  """tools/paint.py on line drawings no agent trained on, framed (--frame auto) and as drawn.

  The drawings of tools/make_line_drawings.py at 128 px, with a marker's
  lines (9 px wide) and a pen's (3 px): a user's own drawings, out of every
  training set. Returns the card's ``line_drawings`` entry.
  """
  paths = []
  for width in model_card.DRAWING_WIDTHS:
    for name, image in make_line_drawings.drawings(model_card.DRAWING_SIZE, width).items():
      paths.append(os.path.join(scratch, f"{name}_w{width}.png"))
      image.save(paths[-1])
  entry = {"drawings": len(paths), "size": model_card.DRAWING_SIZE,
           "widths": list(model_card.DRAWING_WIDTHS)}
  for frame in ("auto", "none"):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
      paint.main(paths + ["--run-dir", folder, "--out", os.path.join(scratch, frame),
                          "--frame", frame])
    report = json.loads(out.getvalue().strip().splitlines()[-1])
    strokes = [item["strokes_painted"] for item in report["images"]]
    entry[frame] = {"frame": report["frame"], "l2_vs_blank": report["mean_l2_vs_blank"],
                    "painting_actions_per_image": sum(strokes) / len(strokes),
                    "one_action_or_none": sum(n <= 1 for n in strokes)}
  return entry


def check_size(folder: str, out: str, name: str):
  """``folder``'s bytes; UserError over MAX_AGENT_BYTES, or over MAX_TOTAL_BYTES with the rest."""
  size = model_card.folder_bytes(folder)
  if size > model_card.MAX_AGENT_BYTES:
    raise cli.UserError(
        f"the packaged agent takes {size / MB:.1f} MB, over the {model_card.MAX_AGENT_BYTES // MB} "
        "MB a shipped agent may take: package a run with a smaller policy (policy.* sizes)")
  others = sum(model_card.folder_bytes(os.path.join(out, n))
               for n in pretrained.list(out) if n != name)
  if size + others > model_card.MAX_TOTAL_BYTES:
    raise cli.UserError(
        f"with this agent ({size / MB:.1f} MB) the agents in {out} would take "
        f"{(size + others) / MB:.1f} MB, over the {model_card.MAX_TOTAL_BYTES // MB} MB they may "
        "take together: remove one or package a smaller policy")
  return size


def install(work: str, final: str):
  """Renames ``work`` to ``final``; an existing ``final`` is removed only once replaced."""
  old = None
  if os.path.exists(final):
    old = tempfile.mkdtemp(dir=os.path.dirname(final), prefix=f".{os.path.basename(final)}.old.")
    os.rmdir(old)
    os.rename(final, old)
  try:
    os.rename(work, final)
  except OSError:
    if old:
      os.rename(old, final)
    raise
  if old:
    shutil.rmtree(old)


def package(agent, args, work: str, cfg_file: dict, licence: str, data_path: Optional[str]):
  """Writes the agent's folder into ``work``; returns its card."""
  from spiral_tf.training import builder  # pylint: disable=g-import-not-at-top
  cfg = agent.config
  checkpoint = write_policy(agent, work)
  files.write_json(os.path.join(work, "config.json"),
                   model_card.shipped_config(builder.config_dict(cfg)))
  check_size(work, args.out, args.name)  # before the minutes of evaluation
  scratch = tempfile.mkdtemp(prefix="make_pretrained_")
  try:
    if cfg.train.conditional:
      print(f"measuring the first {args.images} held-out images with tools/evaluate.py",
            flush=True)
      heldout = measure(work, data_path, args.images, os.path.join(scratch, "heldout"), cfg)
      check = measure(work, data_path, min(model_card.CHECK_IMAGES, args.images),
                      os.path.join(scratch, "check"), cfg)
      shutil.copyfile(os.path.join(scratch, "check", "reconstructions.png"),
                      os.path.join(work, "heldout.png"))
    else:
      print(f"scoring {args.images} samples with tools/score_samples.py's classifier", flush=True)
      heldout = measure_samples(work, data_path, args.images, args.cache_dir)
      check = measure_samples(work, data_path, min(model_card.CHECK_IMAGES, args.images),
                              args.cache_dir, sheet=os.path.join(work, "heldout.png"))
    line_drawings = (measure_drawings(work, scratch)
                     if cfg.env.domain == "libmypaint" and cfg.train.conditional else None)
  finally:
    shutil.rmtree(scratch, ignore_errors=True)
  kind = "conditional" if cfg.train.conditional else "unconditional"
  card = {
      "name": args.name,
      "kind": kind,
      "description": args.description or (
          (f"a conditional {cfg.env.domain} agent that paints {cfg.data.name} images"
           if cfg.train.conditional else
           f"an unconditional {cfg.env.domain} agent that draws {cfg.data.name} images from noise")
          + f" in {cfg.env.episode_length} steps on a {cfg.env.canvas_size}x"
          f"{cfg.env.canvas_size} canvas ({cfg.reward.kind} reward)"),
      "data": {"name": cfg.data.name, "licence": licence},
      "config": {"name": cfg.name, **cfg_file},
      "command": args.command,
      **run_counters(agent.checkpoint, args.run_dir),
      "machine": args.machine or this_machine(),
      "git_commit": args.commit or git_commit(),
      "heldout": heldout,
      "check": check,
      "line_drawings": line_drawings,
      "checkpoint": checkpoint,
      "checkpoint_bytes": model_card.folder_bytes(os.path.join(work, "checkpoints")),
  }
  files.write_json(os.path.join(work, "card.json"), card)
  files.write_bytes(os.path.join(work, "README.md"), model_card.render(card).encode())
  return card


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  cli.add_debug_flag(parser)
  parser.add_argument("--run-dir", required=True, help="a trained run folder of tools/train.py")
  parser.add_argument("--name", required=True, help="the agent's name: a lowercase identifier")
  parser.add_argument("--data-path", default=None,
                      help="the data set's files, for the held-out images (default: the run's "
                           "data.path)")
  parser.add_argument("--images", type=cli.positive_int, default=256,
                      help="held-out test images the card's numbers are measured on "
                      "(unconditional agents: samples scored)")
  parser.add_argument("--cache-dir", default=os.path.join(REPO, ".cache"),
                      help="where the digit classifier that scores an unconditional agent's "
                      "samples is kept between calls")
  parser.add_argument("--command", required=True, help="the command that trained the run")
  parser.add_argument("--machine", default=None, help="what trained it (default: this machine)")
  parser.add_argument("--description", default=None, help="one line: what the agent does")
  parser.add_argument("--data-licence", default=None,
                      help="the data set's licence (default: docs/data.md's)")
  parser.add_argument("--commit", default=None,
                      help="the git commit it was trained at (default: this checkout's HEAD)")
  parser.add_argument("--out", default=os.path.join(REPO, "spiral_tf", "pretrained"),
                      help="the folder of the agents (default: this checkout's package)")
  parser.add_argument("--replace", action="store_true", help="write over an existing NAME/")
  args = parser.parse_args(argv)
  if not pretrained.valid_name(args.name):
    raise cli.UserError(f"--name {args.name!r} is not a lowercase identifier (a-z first, then "
                        "a-z, 0-9 or _; not a Python keyword), e.g. mnist or mnist_l2")
  final = os.path.join(args.out, args.name)
  if os.path.exists(final) and not args.replace:
    raise cli.UserError(f"{final} exists; pass --replace to write it again, or choose another "
                        "--name")
  cfg_file = training_flags(args.command)
  from spiral_tf.training import checkpointing  # pylint: disable=g-import-not-at-top
  from spiral_tf.training import trained_agent  # pylint: disable=g-import-not-at-top
  cfg = trained_agent.load_config(args.run_dir)  # a missing config.json: one line
  if not checkpointing.checkpoint_paths(os.path.join(args.run_dir, "checkpoints")):
    raise cli.UserError(f"{args.run_dir} holds no checkpoint: train it first (tools/train.py "
                        f"--run-dir {args.run_dir})")
  if not cfg.train.conditional and cfg.data.name != "mnist":
    raise cli.UserError(f"{args.run_dir} trained an unconditional agent on {cfg.data.name!r}: "
                        "an unconditional agent's card scores its samples with a digit "
                        "classifier, so only unconditional MNIST agents are packaged")
  licence = args.data_licence or data_licence(cfg.data.name)
  if not licence:
    raise cli.UserError(f"docs/data.md names no licence for data set {cfg.data.name!r}; give "
                        "it with --data-licence")
  try:
    agent = trained_agent.load(args.run_dir)
  except checkpointing.CheckpointError as e:  # none that restores: the user's to fix
    raise cli.UserError(str(e)) from e
  os.makedirs(args.out, exist_ok=True)
  work = tempfile.mkdtemp(dir=args.out, prefix=f".{args.name}.")  # not a name: list() skips it
  umask = os.umask(0)
  os.umask(umask)
  os.chmod(work, 0o777 & ~umask)  # mkdtemp's 0700 would stay on the installed folder
  try:
    card = package(agent, args, work, cfg_file, licence, args.data_path or cfg.data.path)
    size = check_size(work, args.out, args.name)
    install(work, final)
  except BaseException:
    shutil.rmtree(work, ignore_errors=True)
    raise
  if cfg.train.conditional:
    print(f"{final}: {size / MB:.2f} MB, eval_l2_vs_blank "
          f"{card['heldout']['eval_l2_vs_blank']:.3f} on {card['heldout']['images']['first']} "
          "held-out images")
  else:
    print(f"{final}: {size / MB:.2f} MB, samples at "
          f"{card['heldout']['sampling_policy']['frechet_painted_vs_random']:.3f}x (sampling) and "
          f"{card['heldout']['greedy_policy']['frechet_painted_vs_random']:.3f}x (greedy) the "
          "random policy's distance to the painted domain")
  print(json.dumps({"name": args.name, "folder": final, "bytes": size,
                    "heldout": card["heldout"], "check": card["check"]}))
  return 0


if __name__ == "__main__":
  cli.run(main)
