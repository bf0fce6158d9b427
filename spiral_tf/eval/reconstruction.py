"""Held-out evaluation of a painting policy: l2 to targets, against blank and random.

Its numbers have one name each, the same in a history point of a run's
``metrics.json``, in ``eval.json`` (tools/evaluate.py) and in the TensorBoard
summaries (``eval/<name>``); ``reference_levels`` and ``heldout_metrics``
are where they are computed and named:
* ``eval_l2``: mean l2 of the policy's canvases to the held-out targets;
* ``eval_l2_vs_blank``: ``eval_l2`` over ``blank_l2`` (1 = no better than blank);
* ``blank_l2``, ``random_policy_l2``: the levels to beat, the blank canvas'
  l2 and the environment's random programs' l2 to the same targets;
* ``strokes_per_image``: steps per canvas that painted (or acted).
"""
from typing import Dict, List, Mapping, Optional

import numpy as np
import tensorflow as tf

from spiral_tf.agents import acting
from spiral_tf.agents import graph_episode
from spiral_tf.envs import libmypaint_env
from spiral_tf.envs import program_env
from spiral_tf.losses import rewards


def l2_per_image(canvases: np.ndarray, targets: np.ndarray) -> np.ndarray:
  """Mean squared pixel distance of each canvas to its target: [N] (the reward's l2)."""
  return rewards.l2_distance(np.asarray(canvases, np.float32),
                             np.asarray(targets, np.float32)).numpy().astype(np.float64)


def blank_l2(targets: np.ndarray, background=1.0) -> float:
  """Mean l2 of the blank canvas (a colour, or an image) to the targets: the bar's unit."""
  blank = np.broadcast_to(np.asarray(background, np.float32), targets.shape[1:])
  return float(np.mean(l2_per_image(np.broadcast_to(blank, targets.shape), targets)))


def blank_canvas(make_env) -> np.ndarray:
  """The canvas an episode starts from (white paper, or the empty platform)."""
  env = make_env()
  if getattr(env, "conditional", False):
    shape = env.observation_spec()["target"].shape
    env.set_next_target(np.ones(shape, np.float32))
  canvas = env.reset().observation["canvas"].copy()
  env.close()
  return canvas


def _with_l2(out: Dict[str, object], targets: Optional[np.ndarray]) -> Dict[str, object]:
  """Adds the per-image and mean l2 of ``out["canvases"]`` to the targets, if there are any."""
  if targets is not None:
    per_image = l2_per_image(out["canvases"], targets)
    out.update(l2_per_image=per_image, l2=float(per_image.mean()))
  return out


class Evaluator:
  """Runs a policy (greedy by default) on fixed targets in a batch of environments.

  ``seed`` fixes the unconditional agent's noise and the sampled actions: the
  same evaluator settings give the same canvases.
  """

  def __init__(self, make_env, policy, batch_size: int, seed: int = 1):
    self.seed = int(seed)
    self.envs = [make_env() for _ in range(batch_size)]
    self.env = program_env.batched(self.envs)
    self.policy = policy
    self.rules = self.envs[0].action_rules
    self.episode_length = self.envs[0].episode_length
    self._collectors = {}

  def _collector(self, greedy: bool):
    if greedy not in self._collectors:
      self._collectors[greedy] = acting.EpisodeCollector(
          self.env, self.policy, self.rules, greedy=greedy, seed=self.seed,
          sampling_seed=self.seed)
    return self._collectors[greedy]

  def run(self, targets: Optional[np.ndarray] = None, num_samples: int = 0,
          greedy: bool = True) -> Dict[str, object]:
    """Paints every target (or ``num_samples`` unconditional samples).

    Returns canvases [N, S, S, C], programs (lists of action dicts) and, with
    targets, the per-image and mean l2.
    """
    n = len(targets) if targets is not None else num_samples
    b = len(self.envs)
    canvases, programs = [], []
    for start in range(0, n, b):
      chunk = list(range(start, min(start + b, n)))
      for i, env in enumerate(self.envs):
        if targets is not None and env.conditional:
          # Pad the last chunk by repeating its first target.
          env.set_next_target(targets[chunk[i] if i < len(chunk) else chunk[0]])
      output = self._collector(greedy).collect()
      for i in range(len(chunk)):
        canvases.append(output.final_canvas[i])
        programs.append([{k: int(v[i, t]) for k, v in output.actions.items()}
                         for t in range(self.episode_length)])
    out = {"canvases": np.stack(canvases), "programs": programs}
    return _with_l2(out, targets)


class GraphEvaluator:
  """``Evaluator`` with the TF renderer: whole episodes in one graph, same outputs.

  Used to measure how an agent trained with one renderer paints in the other
  (``tools/evaluate.py --renderer tf``). The renderer's random sequence is
  fixed (seed 1), so results are repeatable.
  """

  def __init__(self, policy, renderer, rules, episode_length: int, batch_size: int):
    self.episode = graph_episode.GraphEpisode(policy, renderer, rules, episode_length)
    self.policy, self.rules, self.batch_size = policy, rules, int(batch_size)
    self.episode_length = int(episode_length)
    self._play = {}

  def _player(self, greedy: bool):
    if greedy not in self._play:
      def play(targets, noise, seed):
        out = self.episode.play(tf.shape(targets if targets is not None else noise)[0],
                                targets=targets, noise=noise, seed=seed, greedy=greedy)
        return out.output.final_canvas, out.output.actions

      self._play[greedy] = tf.function(play)
    return self._play[greedy]

  def run(self, targets: Optional[np.ndarray] = None, num_samples: int = 0,
          greedy: bool = True) -> Dict[str, object]:
    """As ``Evaluator.run``."""
    n = len(targets) if targets is not None else num_samples
    canvases, programs = [], []
    noise_rng = np.random.default_rng(1)
    for k, start in enumerate(range(0, n, self.batch_size)):
      stop = min(start + self.batch_size, n)
      chunk_targets = None
      if self.policy.conditional:
        chunk_targets = tf.constant(np.asarray(targets[start:stop], np.float32))
      noise = None
      if self.policy.noise_dim:
        noise = tf.constant(noise_rng.standard_normal((stop - start, self.policy.noise_dim)),
                            tf.float32)
      final, actions = self._player(greedy)(chunk_targets, noise, tf.constant([1, k], tf.int32))
      canvases.append(final.numpy())
      actions = {c: v.numpy() for c, v in actions.items()}
      programs += [[{c: int(actions[c][i, t]) for c in self.rules.components}
                    for t in range(self.episode_length)] for i in range(stop - start)]
    out = {"canvases": np.concatenate(canvases), "programs": programs}
    return _with_l2(out, targets)


def random_policy_l2(make_env, targets: np.ndarray, seed: int = 0) -> float:
  """Mean l2 of the environment's random programs to the targets: the other floor to beat."""
  rng = np.random.default_rng(seed)
  env = make_env()
  total = []
  for target in targets:
    if env.conditional:
      env.set_next_target(target)
    env.reset()
    for _ in range(env.episode_length):
      step = env.step(env.random_action(rng))
    total.append(l2_per_image(step.observation["canvas"][None], target[None])[0])
  env.close()
  return float(np.mean(total))


def reference_levels(make_env, targets: np.ndarray, seed: int = 0) -> Dict[str, float]:
  """The levels a policy must beat on ``targets``: ``blank_l2`` and ``random_policy_l2``."""
  return {"blank_l2": blank_l2(targets, blank_canvas(make_env)),
          "random_policy_l2": random_policy_l2(make_env, targets, seed=seed)}


def strokes_per_image(rules, programs: List[List[dict]]) -> float:
  """Mean number of steps per program that painted (or acted): ``rules`` is env.action_rules."""
  return float(np.mean(rules.strokes_per_program(programs)))


def heldout_metrics(out: Mapping[str, object], rules,
                    levels: Mapping[str, float]) -> Dict[str, Optional[float]]:
  """The numbers of one evaluation (``Evaluator.run``'s output), named as the module says.

  ``eval_l2`` is None without targets; ``eval_l2_vs_blank`` is there only
  when both ``eval_l2`` and ``levels["blank_l2"]`` are.
  """
  metrics = {"eval_l2": out.get("l2")}
  if metrics["eval_l2"] is not None and levels.get("blank_l2"):
    metrics["eval_l2_vs_blank"] = metrics["eval_l2"] / levels["blank_l2"]
  metrics["strokes_per_image"] = strokes_per_image(rules, out["programs"])
  return metrics


def stroke_order_image(program: List[dict], make_color_env) -> np.ndarray:
  """Re-paints a program with each stroke in its own colour (hue by order)."""
  import colorsys  # pylint: disable=g-import-not-at-top
  env = make_color_env()
  env.reset()
  strokes = sum(1 for a in program if a["flag"] == libmypaint_env.PAINT)
  k = 0
  bins = libmypaint_env.COLOR_BINS - 1
  for action in program:
    act = {c: action.get(c, 0) for c in env.action_spec()}
    if act["flag"] == libmypaint_env.PAINT:
      r, g, b = colorsys.hsv_to_rgb(0.8 * k / max(1, strokes - 1), 1.0, 0.9)
      act.update(red=round(r * bins), green=round(g * bins), blue=round(b * bins))
      k += 1
    step = env.step(act)
  image = step.observation["canvas"]
  env.close()
  return image
