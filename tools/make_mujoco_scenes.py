"""Generates the MuJoCo Scenes data set (paper 4.1): PNG shards + JSON descriptions.

  python tools/make_mujoco_scenes.py --out data/mujoco_scenes
  python tools/make_mujoco_scenes.py --out /tmp/tiny --num-train 500 --num-test 100

Deterministic by --seed; re-running on the same folder resumes (complete
shards are kept). MuJoCo renders with $MUJOCO_GL, else EGL on a GPU, else
OSMesa (Debian package libosmesa6).
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import spiral_tf  # noqa: E402,F401  pylint: disable=g-import-not-at-top,unused-import
from spiral_tf import cli  # noqa: E402  pylint: disable=g-import-not-at-top
from spiral_tf.data import mujoco_scenes  # noqa: E402  pylint: disable=g-import-not-at-top


def progress_bar():
  """progress(done, total) drawing tf_keras' Progbar (plain lines when not on a terminal)."""
  from tf_keras.utils import Progbar  # pylint: disable=g-import-not-at-top
  bar = {}

  def progress(done: int, total: int):
    if "bar" not in bar:
      bar["bar"] = Progbar(total, interval=0.2 if sys.stdout.isatty() else 10.0,
                           unit_name="scene")
    bar["bar"].update(done)

  return progress


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  cli.add_debug_flag(parser)
  parser.add_argument("--out", required=True, help="output folder")
  parser.add_argument("--num-train", type=int, default=50_000)
  parser.add_argument("--num-test", type=int, default=1_000, help="held-out scenes")
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--image-size", type=int, default=64)
  parser.add_argument("--shard-size", type=int, default=1_000, help="scenes per shard folder")
  parser.add_argument("--min-objects", type=int, default=1)
  parser.add_argument("--max-objects", type=int, default=5)
  parser.add_argument("--shadows", action="store_true", help="shadowing light (~8x slower on CPU)")
  parser.add_argument("--gl-backend", choices=["osmesa", "egl", "glfw"], default=None,
                      help="default: $MUJOCO_GL, else egl if a GPU is usable, else osmesa")
  args = parser.parse_args(argv)
  meta = mujoco_scenes.generate_dataset(
      args.out, num_train=args.num_train, num_test=args.num_test, seed=args.seed,
      image_size=args.image_size, shard_size=args.shard_size, min_objects=args.min_objects,
      max_objects=args.max_objects, shadows=args.shadows, gl_backend=args.gl_backend,
      progress=progress_bar())
  print(f"wrote {meta['splits']} to {args.out}")


if __name__ == "__main__":
  cli.run(main)
