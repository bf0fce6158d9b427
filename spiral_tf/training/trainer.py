"""The training loop on one machine: learner updates on the schedule, and checkpoints.

  actor pool --ActorOutput--> pipeline (taps: RenderReplay) --> PolicyLearner.step
                                 RenderReplay + real images --> CriticLearner.step
  after each update: pool.publish(policy.get_weights, update) --> the actors' policy
  Reporter: evaluation, summaries, console, metrics.json and pictures

The parts are built by ``training.builder.build_trainer`` from a config; the
Trainer only runs them.
"""
import time
from typing import Callable, Dict, NamedTuple, Optional, Sequence, Tuple

import tensorflow as tf

from spiral_tf import cli
from spiral_tf.training import checkpointing
from spiral_tf.training import collapse_guard
from spiral_tf.training import pool_interface
from spiral_tf.training import run_folder


class Schedule(NamedTuple):
  """When the loop stops, evaluates, checkpoints and writes summaries."""
  max_agent_steps: int           # agent steps (frames); 0 = no limit
  max_minutes: float             # training minutes, resumed runs included; 0 = no limit
  eval_every_minutes: float
  checkpoint_every_minutes: float
  summary_every_updates: int     # learner updates between TensorBoard summaries
  critic_updates_per_learner_update: int
  batch_size: int                # episodes per learner update
  episode_length: int            # agent steps per episode
  critic_warmup_updates: int = 0  # first learner updates that train the critic only


# Terms whose largest value between two summaries is written too (as
# peak/<term>): a spike lasting a few updates falls between the sampled ones.
PEAK_TERMS = ("grad_norm", "advantage_abs_max", "reward_abs_max", "update_max_lr",
              "log_rho_abs_max", "return_std", "batch_return_std", "critic/centering",
              "critic/gradient_penalty")


def track_peaks(peaks: Dict[str, float], terms: Dict[str, float]) -> Dict[str, float]:
  """peaks updated with the PEAK_TERMS of one update's terms (largest value kept)."""
  for k in PEAK_TERMS:
    if k in terms:
      peaks[k] = max(peaks.get(k, terms[k]), terms[k])
  return peaks


class Trainer:
  """Trains one experiment into its run folder; a second run on the same folder resumes."""

  def __init__(self, *, schedule: Schedule, strategy, policy, policy_learner,
               critic_learner=None, checkpoints: checkpointing.RunCheckpoints,
               counters: Dict[str, tf.Variable],
               make_actor_pool: Callable[[], pool_interface.ActorPoolInterface],
               policy_batches: Callable, critic_batches: Optional[Callable], replay,
               reporter, log: Callable[[str], None] = print,
               initialize: Optional[Callable[[], None]] = None,
               guard: Optional[collapse_guard.CollapseGuard] = None,
               worker_max: Optional[Callable[[Sequence[float]], Tuple[float, ...]]] = None):
    """Args:
      schedule: see Schedule.
      strategy: the tf.distribute strategy of the learners.
      policy, policy_learner, critic_learner: the networks' learners (critic optional).
      checkpoints: saves and restores the run (counters and replay included).
      counters: tf.Variables 'learner_step', 'frames' and 'seconds'.
      make_actor_pool: () -> an ActorPoolInterface, not started yet.
      policy_batches: (actor pool) -> iterator of distributed ActorOutput batches.
      critic_batches: () -> iterator of distributed (real, fake, fake_targets), or None.
      replay: the RenderReplay the critic samples from (filled by the pipeline's tap).
      reporter: a reporting.Reporter.
      log: console lines.
      initialize: run when the run starts from step 0 (no checkpoint to resume),
        e.g. copying another run's policy (train.init_policy_from).
      guard: optional CollapseGuard consulted after every evaluation
        (train.collapse_guard).
      worker_max: with learners on several machines, ``devices.worker_max``:
        the workers agree through it on when to stop, evaluate and save.
        None: this process is the only worker.
    """
    self.schedule = schedule
    self.strategy = strategy
    self.policy = policy
    self.policy_learner = policy_learner
    self.critic_learner = critic_learner
    self.checkpoints = checkpoints
    self.learner_step = counters["learner_step"]
    self.frames = counters["frames"]
    self.seconds = counters["seconds"]
    self.make_actor_pool = make_actor_pool
    self.policy_batches = policy_batches
    self.critic_batches = critic_batches
    self.replay = replay
    self.reporter = reporter
    self.log = log
    self.initialize = initialize
    self.guard = guard
    self.worker_max = worker_max or (lambda values: tuple(float(v) for v in values))
    self.pool: Optional[pool_interface.ActorPoolInterface] = None
    self.rate_log = []  # (wall time, frames) after each learner step, for benchmarks

  @property
  def history(self):
    return self.reporter.history

  def restore(self, restart: bool = False) -> bool:
    """Restores the newest restorable checkpoint of the run folder. Returns whether it did.

    A folder with a history but no checkpoint to resume from is not trained
    again from step 0 over that history unless ``restart`` (the old
    metrics.json is then kept beside it). Learner workers on several machines
    must all restore the same checkpoint (the chief's); if they did not, the
    run stops before its first update.
    """
    restored = self._restore(restart)
    step = float(self.learner_step.numpy())
    largest, negated_smallest = self.worker_max([step, -step])
    if largest != -negated_smallest:
      raise run_folder.RunFolderError(
          f"the learner workers resumed from different checkpoints (learner updates "
          f"{-negated_smallest:.0f} to {largest:.0f}): every worker reads the chief's --run-dir, "
          "so put it on a file system that every machine mounts at the same path")
    return restored

  def _restore(self, restart: bool) -> bool:
    path = self.checkpoints.restore(log=self.log)
    if path is None:
      if self.reporter.has_history():
        if not restart:
          raise run_folder.RunFolderError(
              f"{self.reporter.run_dir} has a training history (metrics.json) but no "
              "checkpoint to resume from; pass --restart to train it again from step 0 (the "
              "old metrics.json is kept) or choose another --run-dir")
        self.log(f"restarting from step 0; the old history is in {self.reporter.archive()}")
      if self.initialize is not None:
        self.initialize()
      return False
    self.reporter.load_history()
    if self.guard is not None:
      self.guard.load_events(self.reporter.extra.get("collapse_guard", []))
    self.log(f"resumed from {path} at learner update {int(self.learner_step.numpy())}, "
             f"{int(self.frames.numpy())} agent steps")
    return True

  def save(self):
    self.checkpoints.save(int(self.learner_step.numpy()))

  def _evaluate(self) -> dict:
    step, frames = int(self.learner_step.numpy()), int(self.frames.numpy())
    minutes = float(self.seconds.numpy()) / 60.0
    point = self.reporter.evaluate(step, frames, minutes)
    if self.guard is not None and step > 0 and self.guard.after_evaluation(
        point, step, frames, minutes) is not None:
      self.reporter.extra["collapse_guard"] = self.guard.events
      self.reporter.write_metrics()
      if self.pool is not None:  # the actors take the restored policy at once
        self.pool.publish(self.policy.get_weights, step)
    return point

  def _done(self, elapsed_total: float) -> bool:
    s = self.schedule
    if s.max_agent_steps and self.frames.numpy() >= s.max_agent_steps:
      return True
    return bool(s.max_minutes and elapsed_total >= 60.0 * s.max_minutes)

  def _trace_learners(self, policy_batches, critic_iterator):
    """Traces the learners' steps from their batches' specs while the actors start.

    Started actors take seconds to send their first episodes; traced on the
    first batch, the steps would add their tracing time after that wait.
    Tracing runs no update, and the first batch finds the traced graph
    (``tests/test_training.py`` counts the traces). Learner workers on
    several machines run this same code, so they trace their collectives in
    the same order.
    """
    policy_step = getattr(self.policy_learner, "step", None)
    if hasattr(policy_step, "get_concrete_function") and hasattr(policy_batches, "element_spec"):
      policy_step.get_concrete_function(policy_batches.element_spec, self.learner_step)
    critic_step = getattr(self.critic_learner, "step", None)  # a shared critic's is remote
    if hasattr(critic_step, "get_concrete_function") and hasattr(critic_iterator, "element_spec"):
      critic_step.get_concrete_function(*critic_iterator.element_spec)

  def train_step(self, batch, critic_iterator) -> Dict[str, float]:
    """One policy update (and the critic's updates); returns the learners' terms."""
    terms = {}
    if int(self.learner_step.numpy()) >= self.schedule.critic_warmup_updates:
      terms = {k: float(v) for k, v in self.policy_learner.step(batch, self.learner_step).items()}
    if critic_iterator is not None and len(self.replay) >= self.schedule.batch_size:
      for _ in range(self.schedule.critic_updates_per_learner_update):
        critic_terms = self.critic_learner.step(*next(critic_iterator))
      terms.update({f"critic/{k}": float(v) for k, v in critic_terms.items()})
    self.learner_step.assign_add(1)
    self.frames.assign_add(self.schedule.batch_size * self.schedule.episode_length)
    return terms

  def run(self) -> Dict[str, object]:
    """Trains until the schedule's end; returns the last evaluation point.

    A stop signal (cli.stop_cleanly_on_signals) ends the loop between two
    updates: a checkpoint is saved, and KeyboardInterrupt raised.
    """
    with cli.interrupts_at_safe_points():
      return self._run()

  def _run(self) -> Dict[str, object]:
    s = self.schedule
    self.pool = self.make_actor_pool()
    self.pool.start()
    policy_batches = iter(self.policy_batches(self.pool))
    critic_iterator = iter(self.critic_batches()) if self.critic_batches else None
    self._trace_learners(policy_batches, critic_iterator)
    start = time.time()
    base_seconds = float(self.seconds.numpy())
    last_eval = last_ckpt = start
    last_log = start - 10.0  # a line after this run's first update, then every 10 s
    rate_mark = (start, int(self.frames.numpy()))
    peaks: Dict[str, float] = {}
    try:
      if not self.history:
        self._evaluate()
      while True:
        now = time.time()
        self.seconds.assign(base_seconds + now - start)
        # Decided before the update, and the same on every learner worker: a
        # signal to one worker stops them all at this update.
        stop, evaluate, save, interrupted = (bool(f) for f in self.worker_max([
            self._done(base_seconds + now - start),
            now - last_eval >= 60.0 * s.eval_every_minutes,
            now - last_ckpt >= 60.0 * s.checkpoint_every_minutes,
            cli.interrupt_requested()]))
        if interrupted:
          raise KeyboardInterrupt("a stop signal, taken between two updates")
        if stop:
          break
        try:
          batch = next(policy_batches)
        except (StopIteration, tf.errors.OutOfRangeError):
          break
        terms = self.train_step(batch, critic_iterator)
        frames = int(self.frames.numpy())
        self.rate_log.append((time.time(), frames))
        step = int(self.learner_step.numpy())
        # The pool reads the weights only if its actors keep their own copy.
        self.pool.publish(self.policy.get_weights, step)
        track_peaks(peaks, terms)
        if step % s.summary_every_updates == 0:
          self.reporter.summaries(frames, dict(terms, **{f"peak/{k}": v
                                                        for k, v in peaks.items()}))
          peaks = {}
        now = time.time()
        if now - last_log >= 10.0:
          rate = (frames - rate_mark[1]) / (now - rate_mark[0])
          rate_mark, last_log = (now, frames), now
          self.reporter.progress(float(self.seconds.numpy()) / 60, step, frames, rate, terms)
        if evaluate:
          last_eval = now
          self._evaluate()
        if save:
          last_ckpt = now
          self.save()
      if self.pool.fatal is not None:
        raise self.pool.fatal
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM (cli.stop_cleanly_on_signals): keep the work
      self.save()
      self.log(f"interrupted: checkpoint saved at learner update "
               f"{int(self.learner_step.numpy())}, {int(self.frames.numpy())} agent steps; "
               "run the same command again to resume")
      raise
    except pool_interface.ActorsFailedError:  # keep the work, as an interruption does
      if int(self.learner_step.numpy()) > 0:  # at update 0 nothing is lost, and the
        self.save()                           # folder still takes a corrected config
        self.log(f"the actors failed: checkpoint saved at learner update "
                 f"{int(self.learner_step.numpy())}; run the same command again to resume")
      raise
    finally:
      self.pool.close()
    self.reporter.extra["actor_restarts"] = self.pool.restarts
    last = self.history[-1] if self.history else None
    same_step = last is not None and last["step"] == int(self.learner_step.numpy())
    point = last if same_step else self._evaluate()
    self.save()
    self.reporter.close()
    return dict(point, actor_restarts=self.pool.restarts)
