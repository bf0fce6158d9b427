"""Orchestration on one machine: actor processes, the tf.data trajectory
pipeline, the policy and critic learners, checkpoints, summaries and eval.

  actors (spawned processes) --one pipe each--> generator --> tf.data (batch,
  prefetch) --> PolicyLearner.step under a tf.distribute strategy
                      \\--> RenderReplay --> CriticLearner.step (own rate)
  learner weights --WeightStore (shared memory)--> actors
"""
import json
import multiprocessing as mp
from multiprocessing import connection as mp_connection
import os
import queue as queue_lib
import threading
import time
from typing import Callable, Dict, Optional

import numpy as np
import tensorflow as tf
import tf_keras as keras

from spiral_tf import config as config_lib
from spiral_tf import files
from spiral_tf.eval import plots
from spiral_tf.eval import reconstruction
from spiral_tf.training import actor as actor_lib
from spiral_tf.training import critic_learner as critic_learner_lib
from spiral_tf.training import experiment
from spiral_tf.training import policy_learner as policy_learner_lib
from spiral_tf.training import replay as replay_lib
from spiral_tf.training import trajectory as trajectory_lib
from spiral_tf.training import weights as weights_lib


class CheckpointError(RuntimeError):
  """A checkpoint exists but cannot be restored."""


class ActorsFailedError(RuntimeError):
  """Every actor died and could not be restarted."""


class Trainer:
  """Trains one experiment into ``run_dir``; a second run on the same folder resumes."""

  def __init__(self, cfg: config_lib.Config, run_dir: str, log: Callable[[str], None] = print,
               fail_actor_after: Optional[int] = None):
    self.cfg = cfg
    self.run_dir = run_dir
    self.log = log
    self._fail_actor_after = fail_actor_after  # tests: make actors crash on purpose
    t = cfg.train
    experiment.set_threads(t.learner_threads, log)
    tf.random.set_seed(t.seed)
    self.strategy = experiment.make_strategy(t.strategy)
    self.env = experiment.make_env(cfg, targets=None)  # for specs (and eval shapes)
    with self.strategy.scope():
      self.policy = experiment.make_policy(cfg, self.env)
      self.policy_optimizer = keras.optimizers.Adam(t.policy_learning_rate)
      self.critic = self.critic_optimizer = None
      if t.reward == "critic":
        self.critic = experiment.make_critic(cfg, self.env)
        self.critic_optimizer = keras.optimizers.Adam(t.critic_learning_rate, beta_1=t.critic_beta1)
      self.learner_step = tf.Variable(0, dtype=tf.int64, trainable=False, name="learner_step")
      self.frames = tf.Variable(0, dtype=tf.int64, trainable=False, name="frames")
      self.seconds = tf.Variable(0.0, dtype=tf.float64, trainable=False, name="seconds")
      self.policy_learner = policy_learner_lib.PolicyLearner(
          self.policy, self.policy_optimizer, self.strategy, critic=self.critic,
          reward=t.reward, shaped_reward=t.shaped_reward, reward_scale=t.reward_scale,
          reward_normalization=t.reward_normalization,
          new_stroke_penalty=t.new_stroke_penalty, empty_canvas_penalty=t.empty_canvas_penalty,
          color_emd_weight=t.color_emd_weight, discount=t.discount,
          baseline_cost=t.baseline_cost,
          entropy_costs=dict(t.entropy_costs, default=t.entropy_cost),
          max_grad_norm=t.policy_max_grad_norm, mask_rule=experiment.mask_rule(cfg))
      self.critic_learner = None
      if self.critic is not None:
        self.critic_learner = critic_learner_lib.CriticLearner(
            self.critic, self.critic_optimizer, self.strategy, conditional=t.conditional,
            gradient_penalty_weight=t.gradient_penalty_weight,
            centering_weight=t.centering_weight)
    tracked = dict(policy=self.policy, policy_optimizer=self.policy_optimizer,
                   return_moments=self.policy_learner.return_moments,
                   learner_step=self.learner_step, frames=self.frames, seconds=self.seconds)
    if self.critic is not None:
      tracked.update(critic=self.critic, critic_optimizer=self.critic_optimizer)
    self.checkpoint = tf.train.Checkpoint(**tracked)
    self.checkpoints = tf.train.CheckpointManager(
        self.checkpoint, os.path.join(run_dir, "checkpoints"), max_to_keep=3)
    image_shape = self.env.observation_spec()["canvas"].shape
    self.replay = replay_lib.RenderReplay(t.replay_batches * t.batch_size, image_shape,
                                          t.conditional, seed=t.seed)
    self.history = []
    self._fatal: Optional[BaseException] = None
    self._stop = threading.Event()
    self.actor_restarts = 0
    self._actor_errors: Dict[int, str] = {}  # last error line each actor reported
    self.rate_log = []  # (wall time, frames) after each learner step, for benchmarks

  # --- checkpoints -------------------------------------------------------------
  def restore(self) -> bool:
    """Restores the latest checkpoint of run_dir, if any. Returns whether it did."""
    path = self.checkpoints.latest_checkpoint
    if not path:
      return False
    try:
      self.checkpoint.restore(path).assert_existing_objects_matched()
    except Exception as e:  # pylint: disable=broad-except
      raise CheckpointError(
          f"checkpoint {path} could not be restored ({type(e).__name__}: {str(e)[:300]}). It is "
          "corrupt or was written by a different config. Remove it (older ones are kept in "
          f"{os.path.dirname(path)}, and the 'checkpoint' file there names the latest) or start "
          "a new run folder.") from e
    metrics = os.path.join(self.run_dir, "metrics.json")
    if os.path.exists(metrics):
      with open(metrics) as f:
        self.history = json.load(f).get("history", [])
    self.log(f"resumed from {path} at learner step {int(self.learner_step.numpy())}, "
             f"{int(self.frames.numpy())} frames")
    return True

  def save(self):
    """Writes a checkpoint (TensorFlow writes its index last, so a crash leaves the previous)."""
    self.checkpoints.save(checkpoint_number=int(self.learner_step.numpy()))

  # --- actors ------------------------------------------------------------------
  def _start_actor(self, i: int):
    t = self.cfg.train
    fail_after = self._fail_actor_after if self.actor_restarts == 0 else None
    receiver, sender = self._ctx.Pipe(duplex=False)
    p = self._ctx.Process(
        target=actor_lib.run_actor_process, name=f"spiral-actor-{i}", daemon=True,
        args=(i, experiment.build_actor, (self.cfg.to_dict(), i, self.actor_restarts),
              self.weight_store, sender, self.errors, self._actor_stop,
              t.weight_sync_interval, t.actor_threads, fail_after))
    p.start()
    sender.close()  # the child holds its own copy; EOF reaches us when it dies
    if self.receivers[i] is not None:
      self.receivers[i].close()
    self.actors[i], self.receivers[i] = p, receiver

  def _check_actors(self):
    """Restarts dead actors; gives up with a clear error past max_actor_restarts."""
    for i, p in enumerate(self.actors):
      if p.is_alive() or self._stop.is_set():
        continue
      try:
        while True:
          actor_id, tb = self.errors.get_nowait()
          self._actor_errors[actor_id] = tb.strip().splitlines()[-1]
      except queue_lib.Empty:
        pass
      reason = self._actor_errors.pop(i, f"exit code {p.exitcode}")
      if self.actor_restarts >= self.cfg.train.max_actor_restarts:
        self._fatal = ActorsFailedError(
            f"actor {i} died ({reason}) and the restart budget "
            f"train.max_actor_restarts={self.cfg.train.max_actor_restarts} is spent; "
            "see the actor's traceback above")
        self._stop.set()
        return
      self.actor_restarts += 1
      self.log(f"actor {i} died ({reason}); restarting it "
               f"({self.actor_restarts}/{self.cfg.train.max_actor_restarts})")
      self._start_actor(i)

  def _receive(self, timeout: float):
    """The batches that actors have sent (dropping the channels of dead actors)."""
    open_receivers = [r for r in self.receivers if r is not None]
    batches = []
    for r in mp_connection.wait(open_receivers, timeout=timeout):
      try:
        batches.append(r.recv())
      except (EOFError, OSError, ValueError, TypeError, AttributeError):  # died mid-send
        i = self.receivers.index(r)
        r.close()
        self.receivers[i] = None
    return batches

  def _trajectories(self):
    """tf.data generator: whole episodes from the actors, one at a time."""
    conditional = self.cfg.train.conditional
    while not self._stop.is_set():
      batches = self._receive(timeout=1.0)
      self._check_actors()  # is_alive() is a non-blocking waitpid: cheap every time
      for traj in (tr for batch in batches for tr in trajectory_lib.unstack_batch(*batch)):
        target = traj.observations["target"][-1] if conditional else None
        self.replay.add(traj.final_canvas, target)
        yield traj

  def _fake_batches(self):
    """tf.data generator: replayed final renders (and their targets) for the critic."""
    b = self.cfg.train.batch_size
    while True:
      renders, targets = self.replay.sample(b)
      yield renders, (targets if targets is not None else renders)

  # --- datasets ------------------------------------------------------------------
  def _policy_dataset(self):
    t, e = self.cfg.train, self.cfg.env
    spec = trajectory_lib.tensor_spec(self.env.observation_spec(), self.env.action_spec(),
                                      e.episode_length, self.policy.noise_dim)
    ds = tf.data.Dataset.from_generator(self._trajectories, output_signature=spec)
    ds = ds.batch(t.batch_size, drop_remainder=True).prefetch(2)
    return self.strategy.experimental_distribute_dataset(ds)

  def _critic_dataset(self):
    t = self.cfg.train
    shape = tuple(self.env.observation_spec()["canvas"].shape)
    real = experiment.load_dataset(self.cfg, "train").shuffle(4096, seed=t.seed).repeat()
    real = real.batch(t.batch_size, drop_remainder=True)
    image = tf.TensorSpec((t.batch_size,) + shape, tf.float32)
    fake = tf.data.Dataset.from_generator(self._fake_batches, output_signature=(image, image))
    ds = tf.data.Dataset.zip((real, fake)).map(lambda r, f: (r, f[0], f[1]))
    return self.strategy.experimental_distribute_dataset(ds)

  # --- evaluation ----------------------------------------------------------------
  def _make_evaluator(self):
    cfg = self.cfg
    n = cfg.data.eval_images
    self.eval_targets = experiment.load_images(cfg, "test", n) if cfg.train.conditional else None
    make_env = lambda: experiment.make_env(cfg, targets=None)
    self.evaluator = reconstruction.Evaluator(make_env, self.policy, min(32, n),
                                              cfg.env.episode_length, experiment.mask_rule(cfg))
    self.levels = {}
    if self.eval_targets is not None:
      self.levels["blank canvas"] = reconstruction.blank_l2(
          self.eval_targets, reconstruction.blank_canvas(make_env))
      self.levels["random policy"] = reconstruction.random_policy_l2(
          make_env, self.eval_targets, cfg.env.episode_length, seed=cfg.train.seed,
          random_action=experiment.random_action_fn(cfg))
      self.log(f"held-out l2: blank canvas {self.levels['blank canvas']:.4f}, "
               f"random policy {self.levels['random policy']:.4f} "
               f"({len(self.eval_targets)} images)")

  def evaluate(self, record: bool = True) -> Dict[str, object]:
    """Greedy reconstructions of the held-out targets (or samples); adds to history."""
    n = self.cfg.data.eval_images
    out = self.evaluator.run(self.eval_targets, num_samples=0 if self.eval_targets is not None
                             else n)
    if record:
      point = dict(step=int(self.learner_step.numpy()), frames=int(self.frames.numpy()),
                   minutes=float(self.seconds.numpy()) / 60.0, eval_l2=out.get("l2"))
      if out.get("l2") is not None and self.levels.get("blank canvas"):
        point["eval_l2_vs_blank"] = out["l2"] / self.levels["blank canvas"]
      rule = experiment.mask_rule(self.cfg)
      paints = [sum(a[rule["flag"]] != rule["move_value"] for a in p) for p in out["programs"]]
      point["strokes_per_image"] = float(np.mean(paints))
      self.history.append(point)
      with self.writer.as_default(step=int(self.frames.numpy())):
        if out.get("l2") is not None:
          tf.summary.scalar("eval/l2_to_target", out["l2"])
          tf.summary.scalar("eval/l2_vs_blank", point["eval_l2_vs_blank"])
          tf.summary.image("eval/targets", self.eval_targets[:8], max_outputs=8)
        tf.summary.scalar("eval/strokes_per_image", point["strokes_per_image"])
        tf.summary.image("eval/renders", out["canvases"][:8], max_outputs=8)
    return out

  def write_outputs(self, out: Dict[str, object]):
    """metrics.json, the reconstruction grid, the curves and the programs."""
    final = self.history[-1] if self.history else {}
    files.write_json(os.path.join(self.run_dir, "metrics.json"), dict(
        history=self.history, levels=self.levels, final=final,
        actor_restarts=self.actor_restarts, config=self.cfg.to_dict()))
    if self.eval_targets is not None:
      grid = plots.pairs_grid(self.eval_targets[:32], out["canvases"][:32])
    else:
      grid = plots.image_grid([out["canvases"][i:i + 8] for i in range(0, 32, 8)])
    files.write_png(os.path.join(self.run_dir, "reconstructions.png"), grid)
    fig = plots.learning_curves(self.history, self.levels, title=self.cfg.name)
    files.write_figure(os.path.join(self.run_dir, "curves.png"), fig)
    files.write_json(os.path.join(self.run_dir, "programs.json"), out["programs"][:64])

  # --- the loop ------------------------------------------------------------------
  def run(self) -> Dict[str, object]:
    """Trains until train.max_steps frames or train.max_minutes; returns the last eval point."""
    cfg, t = self.cfg, self.cfg.train
    os.makedirs(self.run_dir, exist_ok=True)
    files.write_json(os.path.join(self.run_dir, "config.json"), cfg.to_dict())
    self.restore()
    self.writer = tf.summary.create_file_writer(os.path.join(self.run_dir, "tb"))
    self._make_evaluator()
    self._ctx = mp.get_context("spawn")
    self.errors = self._ctx.Queue()
    self._actor_stop = self._ctx.Event()
    self.weight_store = weights_lib.WeightStore(actor_lib.model_weights_shapes(self.policy),
                                                self._ctx)
    self.weight_store.publish(self.policy.get_weights(), int(self.learner_step.numpy()))
    self.actors = [None] * t.num_actors
    self.receivers = [None] * t.num_actors
    for i in range(t.num_actors):
      self._start_actor(i)
    policy_batches = iter(self._policy_dataset())
    critic_batches = iter(self._critic_dataset()) if self.critic_learner else None
    frames_per_batch = t.batch_size * cfg.env.episode_length
    start = time.time()
    base_seconds = float(self.seconds.numpy())
    last_eval = last_ckpt = last_log = start
    rate_mark = (start, int(self.frames.numpy()))
    terms: Dict[str, float] = {}
    try:
      if not self.history:
        self.evaluate()
      while True:
        elapsed = time.time() - start
        self.seconds.assign(base_seconds + elapsed)
        if t.max_steps and self.frames.numpy() >= t.max_steps:
          break
        if t.max_minutes and base_seconds + elapsed >= 60.0 * t.max_minutes:
          break
        try:
          batch = next(policy_batches)
        except (StopIteration, tf.errors.OutOfRangeError):
          break
        terms = {k: float(v) for k, v in self.policy_learner.step(batch).items()}
        if critic_batches is not None and len(self.replay) >= t.batch_size:
          for _ in range(t.critic_updates_per_step):
            critic_terms = self.critic_learner.step(*next(critic_batches))
          terms.update({f"critic/{k}": float(v) for k, v in critic_terms.items()})
        self.learner_step.assign_add(1)
        self.frames.assign_add(frames_per_batch)
        self.rate_log.append((time.time(), int(self.frames.numpy())))
        step = int(self.learner_step.numpy())
        self.weight_store.publish(self.policy.get_weights(), step)
        if step % t.summary_every_steps == 0:
          with self.writer.as_default(step=int(self.frames.numpy())):
            for k, v in terms.items():
              tf.summary.scalar(f"train/{k}", v)
        now = time.time()
        if now - last_log >= 10.0:
          fps = (int(self.frames.numpy()) - rate_mark[1]) / (now - rate_mark[0])
          rate_mark, last_log = (now, int(self.frames.numpy())), now
          self._progress(step, fps, terms)
        if now - last_eval >= 60.0 * t.eval_every_minutes:
          last_eval = now
          self.evaluate()
          self._report_eval()
        if now - last_ckpt >= 60.0 * t.checkpoint_every_minutes:
          last_ckpt = now
          self.save()
      if self._fatal is not None:
        raise self._fatal
    finally:
      self._shutdown()
    out = self.evaluate()
    self._report_eval()
    self.save()
    self.write_outputs(out)
    self.writer.flush()
    return dict(self.history[-1], actor_restarts=self.actor_restarts)

  def _progress(self, step: int, fps: float, terms: Dict[str, float]):
    blank = self.levels.get("blank canvas")
    l2 = terms.get("l2_to_target")
    l2_text = (f" | train l2 {l2:.4f} ({l2 / blank:.2f}x blank)" if l2 is not None and blank
               else "")
    self.log(f"[{float(self.seconds.numpy()) / 60:5.1f} min] step {step} | "
             f"{int(self.frames.numpy())} frames | {fps:.0f} steps/s{l2_text} | "
             f"paint {terms.get('paint_fraction', 0):.2f} | "
             f"flag entropy {terms.get('flag_entropy', 0):.2f}")

  def _report_eval(self):
    p = self.history[-1]
    if p.get("eval_l2") is not None:
      self.log(f"  eval: greedy held-out l2 {p['eval_l2']:.4f} = "
               f"{p.get('eval_l2_vs_blank', float('nan')):.3f}x blank "
               f"| {p['strokes_per_image']:.1f} strokes per image")

  def _shutdown(self):
    self._stop.set()
    if hasattr(self, "_actor_stop"):
      self._actor_stop.set()
      for r in self.receivers:  # unblocks actors waiting to send
        if r is not None:
          r.close()
      deadline = time.time() + 10.0
      for p in self.actors:
        if p is not None:
          p.join(timeout=max(0.1, deadline - time.time()))
          if p.is_alive():
            p.terminate()
            p.join(timeout=2.0)
      self.weight_store.close()
