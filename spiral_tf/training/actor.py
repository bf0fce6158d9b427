"""The actor: runs a copy of the policy over a batch of environments.

``EpisodeCollector`` plays whole episodes (usable in any process);
``run_actor_process`` is the body of a spawned actor process: it fetches
fresh weights from the learner every ``sync_interval`` episodes and sends
each batch of finished episodes down its own pipe to the learner. One pipe
per actor: an actor killed mid-send can only break its own channel, and a
full pipe holds the actor back, which bounds the policy lag.
"""
import time
import traceback
from typing import Callable, Optional

import numpy as np
import tensorflow as tf

from spiral_tf.agents import policy as policy_lib
from spiral_tf.training import experiment


class EpisodeCollector:
  """Plays one episode on every environment of a batched env with one policy."""

  def __init__(self, env, policy, episode_length: int, greedy: bool = False,
               seed: int = 0, mask_rule: Optional[dict] = None):
    self.env = env
    self.policy = policy
    self.episode_length = episode_length
    self.components = tuple(env.action_spec())
    self.batch_size = env.batch_size
    self._rng = np.random.default_rng(seed)
    self._greedy = greedy
    self._mask_rule = mask_rule or {}
    self._step_fn = tf.function(self._policy_step)

  def _policy_step(self, observation, state, noise):
    out, state = self.policy.step(observation, state, noise, greedy=self._greedy)
    masks = policy_lib.component_masks(out.actions, self.components,
                                       **self._mask_rule)  # [B, K]
    log_prob = tf.add_n([out.log_probs[k] * masks[:, i]
                         for i, k in enumerate(self.components)])  # [B]
    return out.actions, log_prob, state

  def collect(self):
    """Returns (observations, actions, log_probs, final_canvas, noise), time-major [T, B]."""
    b, t_max = self.batch_size, self.episode_length
    step = self.env.reset()
    state = self.policy.initial_state(b)
    noise = self._rng.standard_normal((b, self.policy.noise_dim)).astype(np.float32)
    noise_in = tf.constant(noise) if self.policy.noise_dim else None
    observations = {k: [] for k in step.observation}
    actions = {k: [] for k in self.components}
    log_probs = []
    for _ in range(t_max):
      for k, v in step.observation.items():
        observations[k].append(v)
      act, log_prob, state = self._step_fn(step.observation, state, noise_in)
      act = {k: v.numpy() for k, v in act.items()}
      for k, v in act.items():
        actions[k].append(v)
      log_probs.append(log_prob.numpy())
      step = self.env.step(act)
    if not np.all(step.is_last()):
      raise RuntimeError(f"episode did not end after {t_max} steps; the env and "
                         "the config disagree on episode_length")
    stack = lambda d: {k: np.stack(v) for k, v in d.items()}
    return (stack(observations), stack(actions), np.stack(log_probs).astype(np.float32),
            np.asarray(step.observation["canvas"]), noise)


def run_actor_process(actor_id: int, build: Callable, build_args: tuple, weight_store,
                      connection, error_queue, stop_event, sync_interval: int,
                      threads: int = 1, fail_after: Optional[int] = None):
  """Body of an actor process (started with the 'spawn' method).

  ``build(*build_args)`` returns (batched env, policy, episode length, seed,
  mask rule)
  inside this process, so nothing TensorFlow crosses the process boundary.
  """
  try:
    experiment.set_threads(threads)
    env, policy, episode_length, seed, mask_rule = build(*build_args)
    collector = EpisodeCollector(env, policy, episode_length, seed=seed, mask_rule=mask_rule)
    version, episodes = -1, 0
    while not stop_event.is_set():
      if version < 0 or episodes % sync_interval == 0:
        version, weights = weight_store.fetch(version)
        if weights is not None:
          policy.set_weights(weights)
      if version < 0:  # the learner has not published weights yet
        time.sleep(0.05)
        continue
      batch = collector.collect() + (version,)
      episodes += 1
      try:
        connection.send(batch)
      except (BrokenPipeError, EOFError, OSError):
        if stop_event.is_set():  # the learner closed our pipe on shutdown
          return
        raise
      if fail_after is not None and episodes >= fail_after:
        raise RuntimeError(f"actor {actor_id}: failing on purpose after {episodes} episodes")
  except Exception:  # pylint: disable=broad-except
    error_queue.put((actor_id, traceback.format_exc()))
    raise


def model_weights_shapes(model) -> list:
  """Shapes of ``model.get_weights()``, for a WeightStore."""
  return [w.shape for w in model.get_weights()]

