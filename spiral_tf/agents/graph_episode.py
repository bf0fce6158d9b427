"""Whole painting episodes inside one graph: policy step, sampling, TF renderer, T times.

``GraphEpisode`` is ``EpisodeCollector`` without the Python loop and without
libmypaint: it builds each step's observation exactly as ``LibMyPaintEnv``
does (canvas, the previous action's mask and values, the step counter, the
target), lets the policy choose an action and paints it with ``TFRenderer``.
Its result is the ``ActorOutput`` the learners consume, plus every canvas,
so it serves as an in-graph actor and as the exported "paint" function.
"""
from typing import Mapping, NamedTuple, Optional

import tensorflow as tf

from spiral_tf.agents import acting


def fold_seed(seed, index) -> tf.Tensor:
  """A new int32 [2] seed from a [2] ``seed`` and an int ``index``: a hash, not a counter.

  Counter seeds collide: with [s, call + 1 + t], call c+1's step t reused call
  c's step t+1, so consecutive calls sampled shifted copies of each other.
  Folding hashes the parent seed, so fold_seed(fold_seed(s, call), step)
  differs for every (call, step).
  """
  seed = tf.cast(tf.reshape(seed, [2]), tf.int32)
  # Philox, not 'auto_select': the same seeds on a CPU, a GPU and under XLA
  # (auto_select gave another seed inside a jit-compiled function).
  return tf.random.experimental.stateless_fold_in(seed, tf.cast(index, tf.int32), alg="philox")


class Episode(NamedTuple):
  """One batch of episodes played in the graph."""
  output: acting.ActorOutput  # batch-major [B, T, ...], as actors send it
  canvases: tf.Tensor         # [B, T + 1, S, S, C]: blank, then after each action


class GraphEpisode:
  """Plays whole episodes of a painting policy with the TF renderer (see the module docstring)."""

  def __init__(self, policy, renderer, rules, episode_length: int):
    """Args:
      policy: an ``agents.policy.PolicyNetwork`` built for the renderer's environment.
      renderer: an ``envs.tf_renderer.TFRenderer`` with that environment's options.
      rules: the environment's ``action_rules``.
      episode_length: steps per episode (T).
    """
    missing = set(rules.components) ^ set(renderer.action_counts)
    if missing:
      raise ValueError(f"the policy's components {list(rules.components)} and the renderer's "
                       f"{list(renderer.action_counts)} differ in {sorted(missing)}")
    self.policy = policy
    self.renderer = renderer
    self.rules = rules
    self.episode_length = int(episode_length)

  def play(self, batch_size, targets: Optional[tf.Tensor] = None,
           noise: Optional[tf.Tensor] = None, seed=(0, 0), greedy: bool = False,
           gumbel: Optional[Mapping[str, tf.Tensor]] = None, xla: bool = False,
           policy_version=-1) -> Episode:
    """Plays one episode per row; call inside a ``tf.function`` for speed.

    Args:
      batch_size: B (a scalar, may be a tensor).
      targets: [B, S, S, C] images in [0, 1] for a conditional policy, else None.
      noise: [B, noise_dim] for an unconditional policy, else None.
      seed: [2] ints: the renderer's random sequence and, when sampling
        without ``gumbel``, the policy's (``fold_seed(seed, t)`` at step t).
        Give every call its own seed, e.g. ``fold_seed(run_seed, call)``.
      greedy: most likely value at every head instead of sampling.
      gumbel: optional {component: [T, B, n]} Gumbel noise; sampling is then
        argmax(logits + noise), deterministic given its inputs.
      xla: whether the caller jit-compiles the graph (the renderer sums dabs
        differently under XLA).
      policy_version: the learner step of the weights, stored in the output.
    """
    policy, rules, t_max = self.policy, self.rules, self.episode_length
    if policy.conditional and targets is None:
      raise ValueError("a conditional policy needs targets [B, S, S, C]")
    if policy.noise_dim and noise is None:
      raise ValueError(f"an unconditional policy needs noise [B, {policy.noise_dim}]")
    seed = tf.cast(tf.reshape(seed, [2]), tf.int32)
    k = len(rules.components)
    paint = self.renderer.initial_state(batch_size)
    state = policy.initial_state(batch_size)
    mask = tf.zeros([batch_size, k], tf.float32)
    prev = tf.zeros([batch_size, k], tf.int32)
    observations = {"canvas": [], "action_mask": [], "prev_action": [], "step": []}
    if policy.conditional:
      observations["target"] = []
    actions = {c: [] for c in rules.components}
    log_probs, canvases = [], [paint.canvas]
    for t in range(t_max):
      obs = dict(canvas=paint.canvas, action_mask=mask, prev_action=prev,
                 step=tf.fill([batch_size], tf.constant(t, tf.int32)))
      if policy.conditional:
        obs["target"] = tf.cast(targets, tf.float32)
      for key, value in obs.items():
        observations[key].append(value)
      step_seed = fold_seed(seed, t)  # the policy's; the renderer keys on t itself
      out, state = policy.step(obs, state, noise, greedy=greedy, seed=None if greedy else step_seed,
                               gumbel=None if gumbel is None else {c: g[t] for c, g in gumbel.items()})
      mask = rules.masks(out.actions)                                       # [B, K]
      log_probs.append(tf.add_n([out.log_probs[c] * mask[:, i]
                                 for i, c in enumerate(rules.components)]))  # [B]
      prev = tf.stack([tf.cast(out.actions[c], tf.int32) for c in rules.components], -1)
      for c in rules.components:
        actions[c].append(out.actions[c])
      paint = self.renderer.paint_step(paint, out.actions, seed, xla=xla)
      canvases.append(paint.canvas)
    stack = lambda d: {key: tf.stack(v, axis=1) for key, v in d.items()}  # [B, T, ...]  # noqa: E731
    noise_out = (tf.cast(noise, tf.float32) if policy.noise_dim
                 else tf.zeros([batch_size, 0], tf.float32))
    output = acting.ActorOutput(
        stack(observations), stack(actions), tf.stack(log_probs, axis=1), paint.canvas,
        noise_out, tf.fill([batch_size], tf.cast(policy_version, tf.int64)))
    return Episode(output, tf.stack(canvases, axis=1))
