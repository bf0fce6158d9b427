"""Benchmark: actor alone, learner alone and the whole training system, in one run.

  python tools/bench_train.py [--config configs/default.json] [--profile cpu] [--seconds 60]

Prints as its last line a JSON object with actor_steps_per_s (agent steps
with rendering, one actor process's work), learner_steps_per_s (trajectory
steps trained), end_to_end_steps_per_s (the training system, steady state),
ideal_steps_per_s, efficiency and peak_rss_gib (all processes together).
On a CPU-only machine actors and learner share the cores, so the ideal is
doing both kinds of work back to back: 1 / (1/actor + 1/learner); with a GPU
learner (--separate-hardware) it is min(actor, learner).
"""
import argparse
import json
import os
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


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  cli.add_debug_flag(parser)
  parser.add_argument("--config", default="configs/default.json")
  parser.add_argument("--profile", default="cpu")
  parser.add_argument("--set", action="append", default=[])
  parser.add_argument("--seconds", type=float, default=60.0, help="end-to-end run length")
  parser.add_argument("--separate-hardware", action="store_true",
                      help="the learner runs on an accelerator: ideal = min(actor, learner)")
  args = parser.parse_args(argv)
  cfg = config_lib.load(args.config, args.profile, args.set)
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from spiral_tf.training import actor as actor_lib  # pylint: disable=g-import-not-at-top
  from spiral_tf.training import experiment  # pylint: disable=g-import-not-at-top
  from spiral_tf.training import trainer as trainer_lib  # pylint: disable=g-import-not-at-top
  from spiral_tf.training import trajectory as trajectory_lib  # pylint: disable=g-import-not-at-top
  t, e = cfg.train, cfg.env
  experiment.set_threads(t.actor_threads)

  # 1. One actor's work alone, in this process: policy inference + rendering.
  env, policy, episode_length, seed, mask_rule = experiment.build_actor(cfg.to_dict(), 0, 0)
  collector = actor_lib.EpisodeCollector(env, policy, episode_length, seed=seed,
                                         mask_rule=mask_rule)
  collector.collect()  # trace
  batches, steps, start = [], 0, time.perf_counter()
  while time.perf_counter() - start < max(5.0, args.seconds / 6):
    batches.append(collector.collect())
    steps += env.batch_size * episode_length
  actor_rate = steps / (time.perf_counter() - start)
  print(f"actor alone: {actor_rate:.0f} agent steps/s ({env.batch_size} envs, one process)")

  # 2. The learner alone on those trajectories (no actors running).
  with tempfile.TemporaryDirectory() as tmp:
    trainer = trainer_lib.Trainer(cfg, tmp, log=lambda m: None)
    trajs = [tr for b in batches for tr in trajectory_lib.unstack_batch(*b, 0)]
    for tr in trajs:
      trainer.replay.add(tr.final_canvas, tr.observations["target"][-1] if t.conditional else None)
    spec = trajectory_lib.tensor_spec(trainer.env.observation_spec(), trainer.env.action_spec(),
                                      e.episode_length, trainer.policy.noise_dim)
    ds = tf.data.Dataset.from_generator(lambda: iter(trajs), output_signature=spec)
    ds = ds.cache().repeat().batch(t.batch_size, drop_remainder=True).prefetch(2)
    dist = iter(trainer.strategy.experimental_distribute_dataset(ds))
    critic_batches = iter(trainer._critic_dataset()) if trainer.critic_learner else None  # pylint: disable=protected-access

    def learn_once():
      trainer.policy_learner.step(next(dist))
      if critic_batches is not None:
        for _ in range(t.critic_updates_per_step):
          trainer.critic_learner.step(*next(critic_batches))

    learn_once()  # trace
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < max(5.0, args.seconds / 6):
      learn_once()
      n += 1
    learner_rate = n * t.batch_size * e.episode_length / (time.perf_counter() - start)
  print(f"learner alone: {learner_rate:.0f} trajectory steps/s trained")

  # 3. The whole system: actor processes + tf.data + learners, steady state.
  peak = [0]
  with tempfile.TemporaryDirectory() as tmp:
    cfg.train.max_minutes = args.seconds / 60.0
    cfg.train.eval_every_minutes = 1e9
    cfg.train.checkpoint_every_minutes = 1e9
    cfg.data.eval_images = min(cfg.data.eval_images, 32)
    trainer = trainer_lib.Trainer(cfg, tmp, log=lambda m: None)
    done = threading.Event()

    def sample_memory():
      while not done.is_set():
        pids = [os.getpid()] + [p.pid for p in getattr(trainer, "actors", []) or [] if p]
        peak[0] = max(peak[0], rss_bytes(pids))
        time.sleep(0.2)

    threading.Thread(target=sample_memory, daemon=True).start()
    trainer.run()
    done.set()
    log = np.array(trainer.rate_log, np.float64)
  warm = log[len(log) // 5:]  # skip actor start-up and tracing
  e2e_rate = (warm[-1, 1] - warm[0, 1]) / (warm[-1, 0] - warm[0, 0])
  ideal = (min(actor_rate, learner_rate) if args.separate_hardware
           else 1.0 / (1.0 / actor_rate + 1.0 / learner_rate))
  print(f"end to end: {e2e_rate:.0f} steps/s ({t.num_actors} actor process(es))")
  print(json.dumps({
      "actor_steps_per_s": round(actor_rate, 1), "learner_steps_per_s": round(learner_rate, 1),
      "end_to_end_steps_per_s": round(e2e_rate, 1), "ideal_steps_per_s": round(ideal, 1),
      "efficiency": round(e2e_rate / ideal, 3), "peak_rss_gib": round(peak[0] / 2 ** 30, 3)}))
  return 0


if __name__ == "__main__":
  cli.run(main)
