"""Saves a picture of the same random programs painted by libmypaint and by the TF renderer.

Rows: libmypaint; libmypaint again with another random sequence for its
brush (how much two renders of one program differ anyway); the TF renderer.
One block per setting of tools/bench_renderer.py (paper: colour, sizes 1-24;
cpu: grayscale, size 1.5).

  python tools/render_side_by_side.py --out colab/images/tf_vs_libmypaint.png
"""
import argparse

import numpy as np

import spiral_tf  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
from spiral_tf import cli
from spiral_tf import files
from spiral_tf.eval import plots

import bench_renderer  # pylint: disable=g-import-not-at-top  (tools/ is on sys.path)


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  cli.add_debug_flag(parser)
  parser.add_argument("--out", required=True, help="PNG path")
  parser.add_argument("--programs", type=int, default=8, help="columns per setting")
  parser.add_argument("--steps", type=int, default=8, help="actions per program")
  parser.add_argument("--paint-probability", type=float, default=0.7)
  parser.add_argument("--seed", type=int, default=0)
  args = parser.parse_args(argv)
  from spiral_tf.envs.libmypaint_env import LibMyPaintEnv  # pylint: disable=g-import-not-at-top
  from spiral_tf.envs.tf_renderer import TFRenderer  # pylint: disable=g-import-not-at-top
  rows = []
  for name in ("paper", "cpu"):
    env = LibMyPaintEnv(episode_length=args.steps, **bench_renderer.SETTINGS[name])
    renderer = TFRenderer.from_env(env)
    rng = np.random.default_rng(args.seed)
    programs = bench_renderer.random_programs(env, args.programs, args.steps, rng,
                                              args.paint_probability)
    result = bench_renderer.agreement(env, renderer, programs, seed=args.seed)
    print(f"{name}: mismatch {result['mismatch']:.3f}, self_mismatch "
          f"{result['self_mismatch']:.3f} on these {args.programs} programs")
    renders = result["renders"]
    # Upscale the small canvases so both blocks have the same width.
    factor = 64 // env.canvas_size
    for key in ("libmypaint", "libmypaint_reseeded", "tf"):
      images = np.repeat(np.repeat(renders[key], factor, axis=1), factor, axis=2)
      rows.append(images)
    env.close()
  files.write_png(args.out, plots.image_grid(rows))
  print(f"wrote {args.out}")
  return 0


if __name__ == "__main__":
  cli.run(main)
