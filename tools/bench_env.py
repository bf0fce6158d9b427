"""Benchmark: the painting environment against a bare loop of the same cffi calls.

Both paint the same strokes (random actions drawn once) on a 64x64 canvas
with a 32x32 grid, 20-step episodes; the bare loop has no environment around
it (no specs, validation, observations). Runs alternate A/B several times and
the median of each is kept. Last line: JSON with env_steps_per_s,
raw_steps_per_s and ratio (bar: ratio >= 0.85 at one process).

  python tools/bench_env.py [--episodes 40] [--repeats 5] [--paint-probability 1.0]
"""
import argparse
import colorsys
import json
import math
import time

import numpy as np

import spiral_tf  # noqa: F401
from spiral_tf import cli
from spiral_tf.envs import brushes
from spiral_tf.envs import libmypaint_ffi
from spiral_tf.envs.canvas import DTIME, STROKES_PER_STEP
from spiral_tf.envs.libmypaint_env import LibMyPaintEnv, random_action


def run_env(env, episodes):
  start = time.perf_counter()
  for actions in episodes:
    env.reset()
    for a in actions:
      env.step(a)
  return sum(len(e) for e in episodes) / (time.perf_counter() - start)


def run_raw(episodes, env):
  """The same strokes through libmypaint directly: the cost floor."""
  ffi, lib = libmypaint_ffi.load()
  size, grid = env.canvas_size, env.grid_size
  with open(brushes.find_brush(brushes.DEFAULT_BRUSH), "rb") as f:
    brush_json = f.read()
  fixed = lib.mypaint_fixed_tiled_surface_new(size, size)
  surface = lib.mypaint_fixed_tiled_surface_interface(fixed)
  rect = ffi.new("MyPaintRectangle *")
  ids = [lib.mypaint_brush_setting_from_cname(n) for n in
         (b"radius_logarithmic", b"color_h", b"color_s", b"color_v")]
  pressures = np.linspace(0.1, 1.0, 10)
  scale = size / grid
  start = time.perf_counter()
  for actions in episodes:
    brush = lib.mypaint_brush_new()
    lib.mypaint_brush_from_string(brush, brush_json)
    y0 = x0 = 0.0
    p_prev, open_stroke = 0.0, False
    for a in actions:
      y1, x1 = (a["end"] // grid) * scale, (a["end"] % grid) * scale
      if a["flag"] == 0:
        y0, x0, open_stroke = y1, x1, False
        continue
      yc, xc = (a["control"] // grid) * scale, (a["control"] % grid) * scale
      p1 = pressures[a["pressure"]]
      h, s, v = colorsys.rgb_to_hsv(0.0, 0.0, 0.0)
      lib.mypaint_brush_set_base_value(brush, ids[0], math.log(env.brush_sizes[a["size"]]))
      lib.mypaint_brush_set_base_value(brush, ids[1], h)
      lib.mypaint_brush_set_base_value(brush, ids[2], s)
      lib.mypaint_brush_set_base_value(brush, ids[3], v)
      p0 = p_prev if open_stroke else p1
      lib.mypaint_surface_begin_atomic(surface)
      if not open_stroke:
        lib.mypaint_brush_reset(brush)
        lib.mypaint_brush_new_stroke(brush)
        lib.mypaint_brush_stroke_to(brush, surface, x0, y0, 0.0, 0.0, 0.0, DTIME)
      for i in range(1, STROKES_PER_STEP + 1):
        t = i / STROKES_PER_STEP
        c0, c1, c2 = (1 - t) * (1 - t), 2 * (1 - t) * t, t * t
        lib.mypaint_brush_stroke_to(brush, surface, c0 * x0 + c1 * xc + c2 * x1,
                                    c0 * y0 + c1 * yc + c2 * y1, p0 + (p1 - p0) * t,
                                    0.0, 0.0, DTIME)
      lib.mypaint_surface_end_atomic(surface, rect)
      y0, x0, p_prev, open_stroke = y1, x1, p1, True
    lib.mypaint_brush_unref(brush)
  rate = sum(len(e) for e in episodes) / (time.perf_counter() - start)
  lib.mypaint_surface_unref(surface)
  return rate


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  cli.add_debug_flag(parser)
  parser.add_argument("--episodes", type=int, default=40)
  parser.add_argument("--repeats", type=int, default=5)
  parser.add_argument("--paint-probability", type=float, default=1.0)
  args = parser.parse_args()
  env = LibMyPaintEnv(episode_length=20)
  rng = np.random.default_rng(0)
  episodes = [[random_action(env, rng, args.paint_probability) for _ in range(20)]
              for _ in range(args.episodes)]
  run_env(env, episodes[:2]), run_raw(episodes[:2], env)  # warm up both paths
  env_rates, raw_rates = [], []
  for _ in range(args.repeats):
    env_rates.append(run_env(env, episodes))
    raw_rates.append(run_raw(episodes, env))
  env_rate, raw_rate = float(np.median(env_rates)), float(np.median(raw_rates))
  print(f"env  steps/s per repeat: {[round(r) for r in env_rates]}")
  print(f"raw  steps/s per repeat: {[round(r) for r in raw_rates]}")
  print(json.dumps({"env_steps_per_s": round(env_rate, 1), "raw_steps_per_s": round(raw_rate, 1),
                    "ratio": round(env_rate / raw_rate, 3),
                    "paint_probability": args.paint_probability}))


if __name__ == "__main__":
  cli.run(main)
