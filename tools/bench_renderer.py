"""Benchmark and agreement check: the TensorFlow renderer against libmypaint.

For two settings, "cpu" (canvas 32, grid 16, brush size 1.5, no pressure,
grayscale: the CPU-sized configs) and "paper" (canvas 64, grid 32, sizes
1-24, pressure, colour), on the same random programs:
* strokes/s of the TF renderer, whole programs per call, at batch 1, 64 and
  1,024, with and without XLA (compilation excluded, reported apart);
* strokes/s of the bare libmypaint loop (env.apply, no specs) in this process;
* ``mismatch``: mean l2 between TF and libmypaint renders of the same
  programs / mean l2 of the libmypaint renders to the blank canvas;
  ``self_mismatch``: the same ratio between two libmypaint renders that
  differ only in the brush's random sequence (the floor for any renderer).
A stroke is one painting action (moves are nearly free in both renderers).

Cores: TensorFlow runs with ``--threads`` intra-op and inter-op threads
(default 1) and counts that many cores; libmypaint runs on one. So
``ratio_per_core`` = (TF strokes/s / threads) / libmypaint strokes/s. The
last line is JSON; its top-level figures are the paper setting's, both
settings are under "settings".

  python tools/bench_renderer.py [--threads 1] [--seconds 2] [--programs 64]
"""
import argparse
import json
import os
import time

import numpy as np

import spiral_tf  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
from spiral_tf import cli


# LibMyPaintEnv keyword arguments of the two settings.
SETTINGS = {
    "cpu": dict(canvas_size=32, grid_size=16, brush_sizes=(1.5,), use_pressure=False,
                use_color=False),
    "paper": dict(canvas_size=64, grid_size=32, brush_sizes=(1.0, 2.0, 4.0, 8.0, 12.0, 24.0),
                  use_pressure=True, use_color=True),
}


def random_programs(env, count, steps, rng, paint_probability):
  """``count`` programs of ``steps`` random actions (lists of dicts)."""
  from spiral_tf.envs.libmypaint_env import random_action  # pylint: disable=g-import-not-at-top
  return [[random_action(env, rng, paint_probability) for _ in range(steps)]
          for _ in range(count)]


def as_arrays(env, programs):
  """Programs -> the renderer's actions: component -> int32 [B, T]."""
  return {c: np.array([[a[c] for a in p] for p in programs], np.int32)
          for c in env.action_counts}


def reseed_libmypaint(env, draws: int):
  """Advances the env's fresh brush's random sequence by ``draws`` numbers.

  libmypaint seeds every brush with the same number and has no reseeding
  call, but a stroke_to after mypaint_brush_reset draws exactly one number
  and paints nothing: this gives a second, independent libmypaint render of
  the same program (the jitter of dab d comes from other numbers).
  """
  canvas = env._canvas  # pylint: disable=protected-access
  lib, brush, surface = canvas._lib, canvas._brush, canvas._surface  # pylint: disable=protected-access
  for _ in range(draws):
    lib.mypaint_brush_reset(brush)
    lib.mypaint_brush_stroke_to(brush, surface, 0.0, 0.0, 0.0, 0.0, 0.0, 0.1)


def libmypaint_render(env, program, draws=0):
  """The env's final canvas [S, S, C] for one program (optionally reseeded)."""
  env.reset()
  if draws:
    reseed_libmypaint(env, draws)
  for action in program:
    env.apply(action)
  return env.canvas()


def agreement(env, renderer, programs, seed=0, jit_compile=True):
  """mismatch and self_mismatch (see the module docstring) on ``programs``."""
  lib = np.stack([libmypaint_render(env, p) for p in programs])
  # 13 * 37 + 5 draws: each dab uses 13 numbers, so every dab's jitter moves
  # to other numbers, not to a neighbour's.
  lib2 = np.stack([libmypaint_render(env, p, draws=13 * 37 + 5) for p in programs])
  ours = renderer.render_programs(as_arrays(env, programs), seed, jit_compile=jit_compile).numpy()
  blank = renderer.initial_state(1).canvas.numpy()

  def l2(a, b):
    return float(np.sqrt(((a - b) ** 2).sum(axis=(1, 2, 3))).mean())

  to_blank = l2(lib, blank)
  return {"mismatch": round(l2(ours, lib) / to_blank, 4),
          "self_mismatch": round(l2(lib2, lib) / to_blank, 4),
          "renders": {"libmypaint": lib, "libmypaint_reseeded": lib2, "tf": ours}}


def tf_rate(renderer, actions, seconds, jit_compile):
  """(strokes/s, compile seconds) of render_programs on [B, T] actions."""
  strokes = int((actions["flag"] == 1).sum())
  start = time.perf_counter()
  renderer.render_programs(actions, 0, jit_compile=jit_compile).numpy()
  compile_s = time.perf_counter() - start
  reps, start = 0, time.perf_counter()
  while reps < 2 or time.perf_counter() - start < seconds:
    renderer.render_programs(actions, reps + 1, jit_compile=jit_compile).numpy()
    reps += 1
  return strokes * reps / (time.perf_counter() - start), compile_s


def libmypaint_rate(env, programs, seconds):
  """Strokes/s of the bare libmypaint loop over programs, one core."""
  strokes = sum(a["flag"] == 1 for p in programs for a in p)
  reps, start = 0, time.perf_counter()
  while reps < 1 or time.perf_counter() - start < seconds:
    for program in programs:
      libmypaint_render(env, program)
    reps += 1
  return strokes * reps / (time.perf_counter() - start)


def bench_setting(name, args):
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from spiral_tf.envs.libmypaint_env import LibMyPaintEnv
  from spiral_tf.envs.tf_renderer import TFRenderer
  env = LibMyPaintEnv(episode_length=args.steps, **SETTINGS[name])
  renderer = TFRenderer.from_env(env)
  rng = np.random.default_rng(args.seed)
  out = {"options": SETTINGS[name], "tf": {}}
  best = (0.0, None)
  for batch in args.batches:
    programs = random_programs(env, batch, args.steps, rng,
                                                args.paint_probability)
    actions = as_arrays(env, programs)
    for xla in (True, False):
      rate, compile_s = tf_rate(renderer, actions, args.seconds, xla)
      key = f"batch{batch}_{'xla' if xla else 'graph'}"
      out["tf"][key] = {"strokes_per_s": round(rate, 1), "compile_s": round(compile_s, 1)}
      print(f"[{name}] TF {key}: {rate:8.0f} strokes/s (compile {compile_s:.1f}s)", flush=True)
      if rate > best[0]:
        best = (rate, key)
  programs = random_programs(env, args.programs, args.steps, rng,
                                              args.paint_probability)
  lib = libmypaint_rate(env, programs, args.seconds)
  print(f"[{name}] libmypaint: {lib:8.0f} strokes/s on one core", flush=True)
  agree = agreement(env, renderer, programs, seed=args.seed)
  del agree["renders"]
  print(f"[{name}] mismatch {agree['mismatch']:.4f}, self_mismatch "
        f"{agree['self_mismatch']:.4f}", flush=True)
  threads = tf.config.threading.get_intra_op_parallelism_threads() or os.cpu_count()
  out.update(tf_strokes_per_s=round(best[0], 1), tf_best=best[1],
             libmypaint_strokes_per_s=round(lib, 1), tf_cores=threads,
             ratio_per_core=round(best[0] / threads / lib, 3), **agree)
  env.close()
  return out


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  cli.add_debug_flag(parser)
  parser.add_argument("--threads", type=int, default=1,
                      help="TensorFlow intra- and inter-op threads (cores counted)")
  parser.add_argument("--seconds", type=float, default=2.0, help="time per measurement")
  parser.add_argument("--programs", type=int, default=64,
                      help="programs for libmypaint's timing and the agreement check")
  parser.add_argument("--steps", type=int, default=20, help="actions per program")
  parser.add_argument("--batches", type=lambda s: [int(v) for v in s.split(",")],
                      default=[1, 64, 1024])
  parser.add_argument("--paint-probability", type=float, default=1.0)
  parser.add_argument("--settings", default="cpu,paper")
  parser.add_argument("--seed", type=int, default=0)
  args = parser.parse_args(argv)
  if args.threads < 1:
    raise cli.UserError(f"--threads must be >= 1, got {args.threads}")
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  tf.config.threading.set_intra_op_parallelism_threads(args.threads)
  tf.config.threading.set_inter_op_parallelism_threads(args.threads)
  names = args.settings.split(",")
  unknown = set(names) - set(SETTINGS)
  if unknown:
    raise cli.UserError(f"unknown setting(s) {sorted(unknown)}; choose from {sorted(SETTINGS)}")
  results = {name: bench_setting(name, args) for name in names}
  top = results.get("paper", results[names[-1]])
  fields = ("tf_strokes_per_s", "libmypaint_strokes_per_s", "ratio_per_core", "mismatch",
            "self_mismatch")
  summary = {"top_level_setting": "paper" if "paper" in results else names[-1]}
  summary.update({k: top[k] for k in fields})
  summary.update(tf_threads=args.threads, settings=results)
  print(json.dumps(summary))
  return 0


if __name__ == "__main__":
  cli.run(main)
