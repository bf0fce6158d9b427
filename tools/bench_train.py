"""Benchmark: the actors alone, the learner alone and the whole training system, in one run.

  python tools/bench_train.py [--config configs/default.json] [--profile cpu] [--seconds 60]

Each kind of work is measured with the whole machine, in its own process:
  actors      as many actor processes as cores (agent steps with rendering);
  learner     the learners with every core as TensorFlow threads, on recorded
              episodes (trajectory steps trained);
  end to end  the training system as the config runs it, steady state.
With --set actors.engine=ray the end-to-end run plays with Ray actors (a
local Ray instance) and the same config with actor processes is measured
too: the JSON then adds end_to_end_processes_steps_per_s and
ray_over_processes (peak_rss_gib counts the learner's process and actor
processes, not Ray's workers).
With --set env.renderer=tf the actors are the in-graph actor (whole
episodes in one tf.function, TF renderer) and the same config's end-to-end
rate with libmypaint actor processes is measured too: the JSON then adds
end_to_end_libmypaint_steps_per_s and tf_over_libmypaint.
On a CPU-only machine actors and learner share the cores, so the ideal is
doing both kinds of work back to back, 1 / (1/actors + 1/learner), and the
efficiency (end to end / ideal) cannot meaningfully exceed 1; with a GPU
learner (--separate-hardware) the ideal is min(actors, learner).

Prints as its last line a JSON object with actor_steps_per_s,
learner_steps_per_s, end_to_end_steps_per_s, ideal_steps_per_s, efficiency and
peak_rss_gib (all processes of the end-to-end run together).
"""
import argparse
import itertools
import json
import os
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np

import spiral_tf  # noqa: F401  (selects Keras 2 before TensorFlow loads)
from spiral_tf import cli
from spiral_tf import config as config_lib


def rss_bytes(pids):
  """Resident memory of the given processes, from /proc."""
  total = 0
  for pid in pids:
    try:
      with open(f"/proc/{pid}/status") as f:
        for line in f:
          if line.startswith("VmRSS:"):
            total += int(line.split()[1]) * 1024
    except OSError:
      pass
  return total


def measure_graph_actor(cfg, seconds: float) -> dict:
  """Agent steps/s of the in-graph actor (env.renderer=tf) with every core, alone."""
  from spiral_tf.training import builder  # pylint: disable=g-import-not-at-top
  cfg.train.learner_threads = 0  # TensorFlow's default: every core
  with tempfile.TemporaryDirectory() as tmp:
    pool = builder.build_trainer(cfg, tmp, log=lambda m: None).make_actor_pool()
    pool.start()
    outputs = pool.outputs()
    next(outputs)  # traced
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
      steps += next(outputs).actions["flag"].size
    pool.close()
  return dict(actor_steps_per_s=steps / (time.perf_counter() - start), actor_processes=0)


def measure_actors(cfg, seconds: float) -> dict:
  """Agent steps/s of one actor process per core, feeding nothing but this counter."""
  if cfg.env.renderer == "tf":
    return measure_graph_actor(cfg, seconds)
  import multiprocessing as mp  # pylint: disable=g-import-not-at-top
  from spiral_tf.training import actor_pool  # pylint: disable=g-import-not-at-top
  from spiral_tf.training import builder  # pylint: disable=g-import-not-at-top
  from spiral_tf.training import weights  # pylint: disable=g-import-not-at-top
  policy = builder.make_policy(cfg, builder.make_env(cfg))
  store = weights.WeightStore([w.shape for w in policy.get_weights()], mp.get_context("spawn"))
  store.publish(policy.get_weights(), 0)
  pool = actor_pool.ActorPool(builder.actor_spec(cfg), os.cpu_count(), store, max_restarts=0,
                              log=lambda m: None)
  pool.start()
  try:
    warm = 0
    while warm < 2 * os.cpu_count():  # every actor traced and running
      warm += len(pool.receive(timeout=1.0))
      if pool.fatal:
        raise pool.fatal
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
      for output in pool.receive(timeout=1.0):
        steps += output.actions["flag" if "flag" in output.actions else "kind"].size
    return dict(actor_steps_per_s=steps / (time.perf_counter() - start),
                actor_processes=os.cpu_count())
  finally:
    pool.close()


def measure_learner(cfg, seconds: float) -> dict:
  """Trajectory steps/s trained by the learners with every core, on recorded episodes."""
  from spiral_tf.agents import acting  # pylint: disable=g-import-not-at-top
  from spiral_tf.envs import program_env  # pylint: disable=g-import-not-at-top
  from spiral_tf.training import builder  # pylint: disable=g-import-not-at-top
  from spiral_tf.training import pipeline  # pylint: disable=g-import-not-at-top
  t = cfg.train
  t.learner_threads = os.cpu_count()
  with tempfile.TemporaryDirectory() as tmp:
    trainer = builder.build_trainer(cfg, tmp, log=lambda m: None)
    spec = builder.actor_spec(cfg)
    targets = spec.make_targets(0) if spec.make_targets else None
    envs = [spec.make_env(targets) for _ in range(t.batch_size)]
    collector = acting.EpisodeCollector(program_env.batched(envs), trainer.policy,
                                        envs[0].action_rules)
    recorded = [collector.collect(0) for _ in range(4)]
    for output in recorded:
      trainer.replay.add_episodes(output)
    spec = acting.tensor_spec(envs[0].observation_spec(), envs[0].action_spec(),
                              cfg.env.episode_length, trainer.policy.noise_dim)
    batches = iter(pipeline.policy_dataset(lambda: itertools.cycle(recorded), spec,
                                           t.batch_size, trainer.strategy))
    critic = iter(trainer.critic_batches()) if trainer.critic_batches else None
    trainer.train_step(next(batches), critic)  # trace
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
      trainer.train_step(next(batches), critic)
      n += 1
    return dict(learner_steps_per_s=n * t.batch_size * cfg.env.episode_length
                / (time.perf_counter() - start), learner_threads=t.learner_threads)


def measure_end_to_end(cfg, seconds: float, on_pool=lambda pool: None) -> dict:
  """Agent steps/s of the whole training system as configured, steady state.

  ``on_pool`` is given the run's actor pool when the run ends (before it is closed
  nothing is read from it), e.g. to see where Ray actors ran.
  """
  from spiral_tf.training import builder  # pylint: disable=g-import-not-at-top
  peak = [0]
  with tempfile.TemporaryDirectory() as tmp:
    cfg.train.max_minutes = seconds / 60.0
    cfg.train.eval_every_minutes = 1e9
    cfg.train.checkpoint_every_minutes = 1e9
    cfg.data.eval_images = min(cfg.data.eval_images, 32)
    trainer = builder.build_trainer(cfg, tmp, log=lambda m: None)
    done = threading.Event()

    def sample_memory():
      while not done.is_set():
        pool = trainer.pool
        pids = [os.getpid()] + [p.pid for p in getattr(pool, "processes", ()) if p]
        peak[0] = max(peak[0], rss_bytes(pids))
        time.sleep(0.2)

    threading.Thread(target=sample_memory, daemon=True).start()
    trainer.run()
    done.set()
    on_pool(trainer.pool)
    log = np.array(trainer.rate_log, np.float64)
  warm = log[len(log) // 5:]  # skip actor start-up and tracing
  rate = (warm[-1, 1] - warm[0, 1]) / (warm[-1, 0] - warm[0, 0])
  return dict(end_to_end_steps_per_s=rate, actor_processes_configured=cfg.actors.count,
              peak_rss_gib=peak[0] / 2 ** 30)


def measure_end_to_end_libmypaint(cfg, seconds: float) -> dict:
  """The end-to-end rate of the same config with libmypaint actor processes (the comparison)."""
  cfg.env.renderer = "libmypaint"
  return {"end_to_end_libmypaint_steps_per_s":
          measure_end_to_end(cfg, seconds)["end_to_end_steps_per_s"]}


def measure_end_to_end_processes(cfg, seconds: float) -> dict:
  """The end-to-end rate of the same config with actor processes (the comparison for Ray)."""
  cfg.actors.engine = "processes"
  return {"end_to_end_processes_steps_per_s":
          measure_end_to_end(cfg, seconds)["end_to_end_steps_per_s"]}


PHASES = {"actors": measure_actors, "learner": measure_learner, "end_to_end": measure_end_to_end,
          "end_to_end_libmypaint": measure_end_to_end_libmypaint,
          "end_to_end_processes": measure_end_to_end_processes}


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  cli.add_debug_flag(parser)
  parser.add_argument("--config", default="configs/default.json")
  parser.add_argument("--profile", default="cpu")
  parser.add_argument("--set", action="append", default=[])
  parser.add_argument("--seconds", type=float, default=60.0, help="end-to-end run length")
  parser.add_argument("--separate-hardware", action="store_true",
                      help="the learner runs on an accelerator: ideal = min(actor, learner)")
  parser.add_argument("--phase", choices=sorted(PHASES), help=argparse.SUPPRESS)
  args = parser.parse_args(argv)
  cfg = config_lib.load(args.config, args.profile, args.set)
  if args.phase:  # one kind of work, in a fresh process with its own thread pools
    seconds = args.seconds if args.phase.startswith("end_to_end") else max(10.0, args.seconds / 3)
    print(json.dumps(PHASES[args.phase](cfg, seconds)))
    return 0
  result = {}
  phases = ["actors", "learner", "end_to_end"]
  if cfg.env.renderer == "tf":
    phases.append("end_to_end_libmypaint")
  if cfg.actors.engine == "ray":
    phases.append("end_to_end_processes")
  for phase in phases:
    cmd = [sys.executable, os.path.abspath(__file__), "--phase", phase, "--config", args.config,
           "--profile", args.profile, "--seconds", str(args.seconds)]
    for s in args.set:
      cmd += ["--set", s]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
      print(proc.stderr[-3000:], file=sys.stderr)
      raise SystemExit(f"error: the {phase} phase failed (exit {proc.returncode})")
    result.update(json.loads(proc.stdout.strip().splitlines()[-1]))
    print(f"{phase}: {json.loads(proc.stdout.strip().splitlines()[-1])}", flush=True)
  a, l, e2e = (result["actor_steps_per_s"], result["learner_steps_per_s"],
               result["end_to_end_steps_per_s"])
  ideal = min(a, l) if args.separate_hardware else 1.0 / (1.0 / a + 1.0 / l)
  out = dict(actor_steps_per_s=round(a, 1), learner_steps_per_s=round(l, 1),
             end_to_end_steps_per_s=round(e2e, 1), ideal_steps_per_s=round(ideal, 1),
             efficiency=round(e2e / ideal, 3), peak_rss_gib=round(result["peak_rss_gib"], 3),
             cores=os.cpu_count(), actor_processes_configured=result["actor_processes_configured"])
  if "end_to_end_libmypaint_steps_per_s" in result:
    out.update(renderer="tf", end_to_end_libmypaint_steps_per_s=round(
        result["end_to_end_libmypaint_steps_per_s"], 1), tf_over_libmypaint=round(
            e2e / result["end_to_end_libmypaint_steps_per_s"], 3))
  if "end_to_end_processes_steps_per_s" in result:
    processes = result["end_to_end_processes_steps_per_s"]
    out.update(actors_engine="ray", end_to_end_processes_steps_per_s=round(processes, 1),
               ray_over_processes=round(e2e / processes, 3))
  print(json.dumps(out))
  return 0


if __name__ == "__main__":
  cli.run(main)
