"""Paints your own images with a trained conditional painting agent.

  python tools/paint.py photo.jpg sketch.png (--run-dir RUN | --model EXPORT | --pretrained NAME) \
      --out painted/

Each PNG or JPEG (any size, grey or colour, transparent or not) is read the
way the agent was trained: composited over white paper, padded square,
resized to the canvas, and (for grey agents) made dark ink on light paper
(--invert auto|yes|no). A drawing given to an agent of a data set with a
framing is brought into that data set's frame first (--frame auto, the
default; spiral_tf/data/drawings.py): MNIST agents get the ink scaled into
the middle 20/28 of the frame, centred by its centre of mass and redrawn at
MNIST's stroke width, as the digits they learned; --frame none paints the
image as drawn. The greedy agent paints it: with --run-dir, the
run's newest checkpoint in libmypaint; with --pretrained, a trained agent
shipped with the package (spiral_tf.pretrained.list()), the same way; with
--model, an export of tools/export.py (its ``paint`` signature, the TF
renderer). Per image NAME, --out receives:
  NAME.png          the reconstruction
  NAME_strokes.png  each stroke in its own colour (hue by order)
  NAME.json         the program (one dict of components per step)
  NAME.svg          the strokes as quadratic Bézier paths, any resolution
  NAME.gif          the strokes being painted, step by step
With --sheet PATH, one PNG shows every image's input, reconstruction and
stroke order beside its program re-painted by libmypaint at --scale times
the canvas size (the paper's Figure 6). Every image is read before anything is written, and each file is written
beside its place and renamed into it. The last line is JSON: the files, the
ℓ2 of each reconstruction to its (prepared) input and the blank canvas' ℓ2
to it, and the mean ℓ2 against the blank canvas'.
"""
import argparse
import json
import os

import numpy as np

import spiral_tf  # noqa: F401  (selects Keras 2 before TensorFlow loads)
from spiral_tf import cli
from spiral_tf import files


class Painter:
  """Paints a batch of targets: (programs, final canvases, per-step canvases or None)."""

  def __init__(self, run_dir=None, model=None):
    if run_dir:
      self._from_run(run_dir)
    else:
      self._from_export(model)

  def _from_run(self, run_dir):
    from spiral_tf.eval import reconstruction  # pylint: disable=g-import-not-at-top
    from spiral_tf.training import builder  # pylint: disable=g-import-not-at-top
    from spiral_tf.training import checkpointing  # pylint: disable=g-import-not-at-top
    from spiral_tf.training import trained_agent  # pylint: disable=g-import-not-at-top
    try:
      trained = trained_agent.load(run_dir)
    except checkpointing.CheckpointError as e:  # none yet, or none that restores: the user's to fix
      raise cli.UserError(str(e)) from e
    cfg = trained.config
    if cfg.env.domain != "libmypaint":
      raise cli.UserError(f"{run_dir} trained a {cfg.env.domain} agent; paint.py needs a "
                          "painting (libmypaint) agent")
    self._check_conditional(cfg.train.conditional, run_dir)
    self.env_kwargs = builder.painting_env_kwargs(cfg)
    self.source = trained.checkpoint
    self.data_name = cfg.data.name
    evaluator = reconstruction.Evaluator(trained.make_env, trained.policy, 8)

    def paint(targets):
      out = evaluator.run(targets, greedy=True)
      return out["programs"], out["canvases"], None
    self._paint = paint

  def _from_export(self, model):
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    if not os.path.isdir(model):
      raise cli.UserError(f"--model {model!r} is not a folder; give the saved_model/ folder "
                          "written by tools/export.py")
    try:
      loaded = tf.saved_model.load(model)
    except (OSError, ValueError) as e:
      raise cli.UserError(f"--model {model!r} is not a SavedModel ({e}); export one with "
                          "tools/export.py") from e
    if "paint" not in loaded.signatures or not hasattr(loaded, "environment"):
      raise cli.UserError(f"--model {model!r} has no 'paint' signature: it is not a painting "
                          "agent exported by tools/export.py")
    self._check_conditional(bool(loaded.conditional.numpy()), model)
    self.env_kwargs = json.loads(loaded.environment.numpy().decode())
    self.source = os.path.abspath(model)
    # The data set it was trained on (exports of older versions do not say).
    self.data_name = loaded.data_name.numpy().decode() if hasattr(loaded, "data_name") else None
    signature = loaded.signatures["paint"]

    def paint(targets):
      out = signature(target=tf.constant(targets))
      components = sorted(k[len("action_"):] for k in out if k.startswith("action_"))
      actions = {c: out[f"action_{c}"].numpy() for c in components}
      programs = [[{c: int(actions[c][i, t]) for c in components}
                   for t in range(actions["flag"].shape[1])] for i in range(len(targets))]
      return programs, out["final_canvas"].numpy(), out["canvases"].numpy()
    self._paint = paint

  @staticmethod
  def _check_conditional(conditional, where):
    if not conditional:
      raise cli.UserError(f"{where} holds an unconditional agent: it draws from noise, not "
                          "from images (see tools/render_samples.py)")

  def __call__(self, targets):
    return self._paint(targets)


def prepare(path, size, channels, invert, framing):
  """The target of ``path``: read as the agent was trained, framed as its data set if ``framing``."""
  from spiral_tf.data import drawings  # pylint: disable=g-import-not-at-top
  from spiral_tf.eval import painting  # pylint: disable=g-import-not-at-top
  if framing is None:
    return painting.load_user_image(path, size, channels, invert)
  image = painting.load_user_image(path, max(size, drawings.SOURCE_SIZE), channels, invert)
  try:
    return drawings.normalize_drawing(image, framing, size)
  except drawings.BlankDrawingError as e:
    raise cli.UserError(f"{path}: {e}; draw dark lines on light paper, or paint it as it is "
                        "with --frame none") from e


def write_sheet(path, targets, canvases, programs, env_kwargs, scale):
  """Rows of (input, reconstruction, strokes by order) at --scale, beside the program
  re-painted by libmypaint at --scale times the canvas size (the paper's Figure 6)."""
  from spiral_tf.eval import painting  # pylint: disable=g-import-not-at-top
  big = lambda x: np.repeat(np.repeat(x, scale, 0), scale, 1)  # noqa: E731
  rgb = lambda x: np.repeat(x, 3, -1) if x.shape[-1] == 1 else x  # noqa: E731
  rows = []
  for target, canvas, program in zip(targets, canvases, programs):
    strokes = painting.stroke_order(program, env_kwargs)
    sharp = painting.render_scaled(program, env_kwargs, scale, use_color=True)
    row = [big(rgb(target)), big(rgb(canvas)), big(strokes), sharp]
    pad = np.full((row[0].shape[0], 4, 3), 0.75, np.float32)
    rows.append(np.concatenate([x for part in row for x in (part, pad)][:-1], axis=1))
  gap = np.full((4, rows[0].shape[1], 3), 0.75, np.float32)
  files.write_png(path, np.concatenate([x for r in rows for x in (r, gap)][:-1], axis=0))


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  cli.add_debug_flag(parser)
  parser.add_argument("images", nargs="+", help="PNG or JPEG files")
  source = parser.add_mutually_exclusive_group(required=True)
  source.add_argument("--run-dir", help="a run folder of tools/train.py")
  source.add_argument("--model", help="the saved_model/ folder of tools/export.py")
  source.add_argument("--pretrained", metavar="NAME",
                      help="a trained agent shipped with the package (spiral_tf.pretrained.list())")
  parser.add_argument("--out", required=True, help="folder for the painted files")
  parser.add_argument("--invert", choices=("auto", "yes", "no"), default="auto",
                      help="make grey images dark ink on light paper (auto: by their border)")
  parser.add_argument("--scale", type=cli.positive_int, default=4,
                      help="pixels per canvas pixel in the SVG and GIF")
  parser.add_argument("--sheet", default=None,
                      help="also write one PNG of every image: input, reconstruction, stroke "
                           "order, and the program re-painted at --scale times the size")
  parser.add_argument("--frame", choices=("auto", "none"), default="auto",
                      help="frame a drawing as the agent's data set frames its images (MNIST: "
                           "ink centred in 20/28 of the frame, its stroke width); auto: for "
                           "agents of a data set with a framing; none: as drawn")
  args = parser.parse_args(argv)
  if os.path.exists(args.out) and not os.path.isdir(args.out):
    raise cli.UserError(f"--out {args.out!r} is a file; give a folder")
  names = [os.path.splitext(os.path.basename(p))[0] for p in args.images]
  if len(set(names)) != len(names):
    raise cli.UserError("two images have the same name; paint them into different --out folders")
  run_dir = args.run_dir
  if args.pretrained:
    from spiral_tf import pretrained  # pylint: disable=g-import-not-at-top
    run_dir = pretrained.folder(args.pretrained)  # an unknown name lists the names
  from spiral_tf.envs import libmypaint_env  # pylint: disable=g-import-not-at-top
  from spiral_tf.eval import painting  # pylint: disable=g-import-not-at-top
  from spiral_tf.eval import reconstruction  # pylint: disable=g-import-not-at-top
  painter = Painter(run_dir, args.model)
  size = int(painter.env_kwargs["canvas_size"])
  channels = 3 if painter.env_kwargs.get("use_color") else 1
  from spiral_tf.data import drawings  # pylint: disable=g-import-not-at-top
  framing = drawings.framing_for(painter.data_name) if args.frame == "auto" else None
  targets = np.stack([prepare(p, size, channels, args.invert, framing) for p in args.images])
  programs, canvases, steps = painter(targets)
  l2 = reconstruction.l2_per_image(canvases, targets)
  blank = reconstruction.l2_per_image(np.ones_like(targets), targets)  # white paper, unpainted
  report = []
  for i, (path, name) in enumerate(zip(args.images, names)):
    out = {k: os.path.join(args.out, name + suffix) for k, suffix in (
        ("reconstruction", ".png"), ("strokes", "_strokes.png"), ("program", ".json"),
        ("svg", ".svg"), ("gif", ".gif"))}
    frames = steps[i] if steps is not None else painting.step_canvases(programs[i], painter.env_kwargs)
    strokes = painting.stroke_order(programs[i], painter.env_kwargs)
    files.write_png(out["reconstruction"], canvases[i])
    files.write_png(out["strokes"], strokes)
    files.write_json(out["program"], programs[i])
    files.write_bytes(out["svg"], painting.program_svg(programs[i], painter.env_kwargs,
                                                       args.scale).encode())
    files.write_bytes(out["gif"], painting.gif_bytes(frames, args.scale))
    painted = sum(int(a["flag"]) == libmypaint_env.PAINT for a in programs[i])
    print(f"{path}: l2 {l2[i]:.4f} ({l2[i] / blank[i]:.2f}x the blank canvas'), {painted} "
          f"painting actions -> {out['reconstruction']}")
    report.append(dict(out, input=path, l2=float(l2[i]), blank_l2=float(blank[i]),
                       strokes_painted=painted))
  if args.sheet:
    write_sheet(args.sheet, targets, canvases, programs, painter.env_kwargs, args.scale)
  print(json.dumps({"source": painter.source, "images": report, "mean_l2": float(np.mean(l2)),
                    "mean_l2_vs_blank": float(np.mean(l2) / np.mean(blank)),
                    "sheet": args.sheet, "frame": framing.name if framing else None}))
  return 0


if __name__ == "__main__":
  cli.run(main)
