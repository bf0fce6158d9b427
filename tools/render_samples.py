"""Renders a sheet of random stroke programs painted by the libmypaint environment.

  python tools/render_samples.py --out samples.png [--rows 3 --cols 6 --color --seed 0]
"""
import argparse

import numpy as np

import spiral_tf  # noqa: F401
from spiral_tf import cli
from spiral_tf import files
from spiral_tf.envs.libmypaint_env import LibMyPaintEnv, random_action
from spiral_tf.eval import plots


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  cli.add_debug_flag(parser)
  parser.add_argument("--out", default="samples.png")
  parser.add_argument("--rows", type=int, default=3)
  parser.add_argument("--cols", type=int, default=6)
  parser.add_argument("--steps", type=int, default=8)
  parser.add_argument("--color", action="store_true")
  parser.add_argument("--seed", type=int, default=0)
  args = parser.parse_args(argv)
  env = LibMyPaintEnv(episode_length=args.steps, use_color=args.color,
                      brush_sizes=(1.0, 2.0, 3.0, 4.0))
  rng = np.random.default_rng(args.seed)
  images = []
  for _ in range(args.rows * args.cols):
    env.reset()
    for _ in range(args.steps):
      step = env.step(random_action(env, rng, paint_probability=0.6))
    images.append(step.observation["canvas"])
  images = np.stack(images)
  sheet = plots.image_grid([images[r * args.cols:(r + 1) * args.cols] for r in range(args.rows)])
  files.write_png(args.out, sheet)
  print(f"wrote {args.out}")
  return 0


if __name__ == "__main__":
  cli.run(main)
