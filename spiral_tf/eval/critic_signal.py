"""Does a critic's score carry the l2 signal? Candidates, fakes and the two measurements.

A quick instrument for choosing critic settings (tools/bench_critic_signal.py):
train a critic on real images against fakes made without an agent (random
programs and the ink oracle's partial reconstructions, eval/scripted_programs),
then ask on held-out targets (a) whether its score ranks candidate canvases
from blank to the target like -l2 (Spearman, per target), and (b) whether its
score differences along recorded programs agree in sign with each step's l2
improvement, the per-step credit a shaped critic reward would give.
"""
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np
import tensorflow as tf

from spiral_tf.agents import acting
from spiral_tf.eval import sample_scores
from spiral_tf.eval import scripted_programs

# Shares of the target's ink erased, and Gaussian blur widths (pixels), of the candidates.
ERASED = (0.75, 0.5, 0.25)
BLURS = (1.5, 0.75)
# Ink darker than this counts as ink when erasing (background is 1.0, ink 0.0).
_INK = 0.1


def erased(target: np.ndarray, fraction: float, angle: float) -> np.ndarray:
  """The target [S, S, C] with ``fraction`` of its ink erased from one side (direction ``angle``)."""
  ink = target.mean(axis=-1) < 1.0 - _INK  # [S, S]
  if not ink.any() or fraction <= 0:
    return target.copy()
  rows, cols = np.mgrid[0:target.shape[0], 0:target.shape[1]]
  along = rows * np.sin(angle) + cols * np.cos(angle)  # [S, S] position along the direction
  cut = np.quantile(along[ink], 1.0 - fraction)
  out = target.copy()
  out[along >= cut] = 1.0  # white paper where erased (the whole side: faint ink too)
  return out


def blurred(target: np.ndarray, sigma: float) -> np.ndarray:
  """The target [S, S, C] blurred by a Gaussian of ``sigma`` pixels (paper outside the edge)."""
  radius = max(1, int(np.ceil(3 * sigma)))
  x = np.arange(-radius, radius + 1)
  kernel = np.exp(-x ** 2 / (2 * sigma ** 2))
  kernel /= kernel.sum()
  ink = np.pad(1.0 - target, ((radius, radius), (radius, radius), (0, 0)))
  ink = np.apply_along_axis(lambda v: np.convolve(v, kernel, "valid"), 0, ink)
  ink = np.apply_along_axis(lambda v: np.convolve(v, kernel, "valid"), 1, ink)
  return (1.0 - ink).astype(np.float32)


CANDIDATES = (["blank", "random program", "oracle reconstruction"]
              + [f"erased {f:.0%}" for f in ERASED] + [f"blurred {s}px" for s in BLURS]
              + ["target"])


def candidates(target: np.ndarray, random_canvas: np.ndarray, oracle_canvas: np.ndarray,
               rng: np.random.Generator) -> np.ndarray:
  """[len(CANDIDATES), S, S, C] canvases from blank to the target, in CANDIDATES order."""
  angle = rng.uniform(0, 2 * np.pi)
  out = [np.ones_like(target), random_canvas, oracle_canvas]
  out += [erased(target, f, angle) for f in ERASED]
  out += [blurred(target, s) for s in BLURS]
  out.append(target)
  return np.stack(out).astype(np.float32)


def l2(canvases: np.ndarray, targets: np.ndarray) -> np.ndarray:
  """Mean squared pixel distance over the last three axes (the reward's l2)."""
  return np.mean((np.asarray(canvases, np.float64) - targets) ** 2, axis=(-3, -2, -1))


def fake_episodes(make_env, targets: np.ndarray, seed: int = 0,
                  oracle_epsilon: float = 0.2) -> List[scripted_programs.Episode]:
  """One episode per target [N, S, S, C]: random programs for the even ones, the oracle's for the odd."""
  rng = np.random.default_rng(seed)
  oracle = scripted_programs.InkOracle(epsilon=oracle_epsilon)
  env = make_env()
  try:
    return [scripted_programs.play(env, scripted_programs.random_choice if i % 2 == 0 else oracle,
                                   target, rng) for i, target in enumerate(targets)]
  finally:
    env.close()


def add_to_replay(replay, episodes: Sequence[scripted_programs.Episode],
                  targets: Optional[np.ndarray]):
  """Stores episodes in a RenderReplay by its own rule (its ``fakes``: final, random or all)."""
  for i, episode in enumerate(episodes):
    observations = {"canvas": episode.canvases[None, :-1]}  # [1, T, S, S, C]
    if targets is not None:
      observations["target"] = np.broadcast_to(targets[i], episode.canvases[:-1].shape)[None]
    replay.add_episodes(acting.ActorOutput(observations, {}, None, episode.canvases[None, -1],
                                           None, None))


def train_critic(learner, real_images: np.ndarray, replay, batch_size: int, updates: int,
                 seed: int = 0) -> Dict[str, float]:
  """``updates`` critic-learner steps on real images against replayed fakes; the last terms."""
  rng = np.random.default_rng(seed)
  terms = {}
  for _ in range(updates):
    real = real_images[rng.integers(0, len(real_images), batch_size)]
    fake, fake_targets = replay.sample(batch_size)
    fake_targets = fake if fake_targets is None else fake_targets  # unconditional: unused
    terms = learner.step(tf.constant(real), tf.constant(fake), tf.constant(fake_targets))
  return {k: float(v) for k, v in terms.items()}


def scores_of(score: Callable, canvases: np.ndarray, targets: Optional[np.ndarray],
              batch_size: int = 256) -> np.ndarray:
  """score(canvases[, targets]) over canvases [..., S, S, C] (targets alike or None) -> [...]."""
  shape = canvases.shape[:-3]
  flat = canvases.reshape((-1,) + canvases.shape[-3:])
  flat_targets = None if targets is None else np.broadcast_to(targets, canvases.shape).reshape(
      flat.shape)
  out = []
  for start in range(0, len(flat), batch_size):
    part = slice(start, start + batch_size)
    t = None if flat_targets is None else tf.constant(flat_targets[part])
    out.append(np.asarray(score(tf.constant(flat[part]), t)))
  return np.concatenate(out).reshape(shape)


def ranking(scores: np.ndarray, distances: np.ndarray) -> np.ndarray:
  """Per-target Spearman correlation [N] of scores [N, K] with -l2 distances [N, K]."""
  return np.array([sample_scores.spearman(s, -d) for s, d in zip(scores, distances)])
