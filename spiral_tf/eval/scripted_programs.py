"""Programs without a trained agent: random ones, and a greedy oracle that follows the target's ink.

They give the instruments of eval/ canvases to compare with: random programs
are every agent's floor (the environment's own ``random_action``); the
oracle's are the partial reconstructions a learning agent makes on its way,
each step chosen to lower the l2 distance to the target, so a critic's score
differences along them can be checked against the l2 improvement.
"""
from typing import Callable, List, NamedTuple, Optional

import numpy as np

from spiral_tf.envs import libmypaint_env


class Episode(NamedTuple):
  """One recorded program and every canvas it made."""
  canvases: np.ndarray  # [T + 1, S, S, C] float32, blank to final
  actions: List[dict]   # T action dicts


# (env, observation before the action, target [S, S, C] or None, rng) -> action dict
Chooser = Callable[[object, np.ndarray, Optional[np.ndarray], np.random.Generator], dict]


def play(env, choose: Chooser, target: Optional[np.ndarray] = None,
         rng: Optional[np.random.Generator] = None) -> Episode:
  """Plays one episode of ``env`` with ``choose``; records every canvas."""
  rng = rng if rng is not None else np.random.default_rng(0)
  if env.conditional:
    env.set_next_target(target if target is not None
                        else np.ones(env.observation_spec()["target"].shape, np.float32))
  observation = env.reset().observation
  canvases, actions = [observation["canvas"].copy()], []
  for _ in range(env.episode_length):
    action = choose(env, observation, target, rng)
    observation = env.step(action).observation
    canvases.append(observation["canvas"].copy())
    actions.append(action)
  return Episode(np.stack(canvases), actions)


def random_choice(env, observation, target, rng) -> dict:  # pylint: disable=unused-argument
  """The environment's random action (the random-policy floor)."""
  return env.random_action(rng)


def random_canvases(make_env, count: int, seed: int = 0, targets=None) -> np.ndarray:
  """Final canvases [count, S, S, C] of random programs (targets only fill the observation)."""
  return _final_canvases(make_env, random_choice, count, seed, targets)


def oracle_canvases(make_env, targets: np.ndarray, seed: int = 0) -> np.ndarray:
  """Final canvases [N, S, S, C] of the ink oracle tracing each target.

  What a painter that sees the digit reaches in the environment's action
  space and episode length: a reference for what an agent's samples could be.
  """
  return _final_canvases(make_env, InkOracle(), len(targets), seed, targets)


def _final_canvases(make_env, choose: Chooser, count: int, seed: int, targets) -> np.ndarray:
  rng = np.random.default_rng(seed)
  env = make_env()
  try:
    return np.stack([play(env, choose, None if targets is None else targets[i], rng)
                     .canvases[-1] for i in range(count)])
  finally:
    env.close()


def _box_sum(image: np.ndarray, radius: int) -> np.ndarray:
  """Sum of each pixel's (2r+1)^2 neighbourhood (zero outside): [S, S] -> [S, S]."""
  padded = np.pad(image, radius)
  cumulative = np.pad(padded.cumsum(0).cumsum(1), ((1, 0), (1, 0)))
  k = 2 * radius + 1
  return (cumulative[k:, k:] - cumulative[:-k, k:] - cumulative[k:, :-k]
          + cumulative[:-k, :-k])


class InkOracle:
  """A greedy painter that strokes along the target's missing ink (a libmypaint ``Chooser``).

  Each step it scores straight strokes from the brush's position to every
  grid cell within ``reach`` cells by the l2 gain of a black dab at points
  along them, (c - t)^2 - t^2 per pixel summed over a brush-sized box, and
  paints the best one if it gains; otherwise it moves the brush to the cell
  of largest gain. With probability ``epsilon`` it acts at random instead,
  for varied fakes. It reads the action space from the environment
  (``action_counts``, ``grid_size``, ``canvas_size``, ``brush_sizes``).
  """

  def __init__(self, reach: int = 6, samples: int = 12, epsilon: float = 0.0):
    self.reach, self.samples, self.epsilon = int(reach), int(samples), float(epsilon)

  def __call__(self, env, observation, target, rng) -> dict:
    if target is None:
      raise ValueError("the ink oracle needs a target to follow")
    if self.epsilon and rng.random() < self.epsilon:
      return env.random_action(rng)
    grid, size = env.grid_size, env.canvas_size
    step = size / grid
    radius = max(1, int(round(env.brush_sizes[-1])))
    c, t = observation["canvas"].mean(axis=-1), target.mean(axis=-1)  # [S, S] grey
    dab_gain = _box_sum((c - t) ** 2 - t ** 2, radius)  # [S, S]
    start = np.array(divmod(brush_cell(env, observation), grid), np.float64)  # (row, col)
    rows, cols = np.mgrid[0:grid, 0:grid]
    ends = np.stack([rows.ravel(), cols.ravel()], 1).astype(np.float64)  # [G*G, 2]
    length = np.linalg.norm(ends - start, axis=1)  # in cells
    ok = (length > 0) & (length <= self.reach)
    fractions = np.linspace(0.0, 1.0, self.samples)[None, :, None]  # [1, K, 1]
    points = (start + fractions * (ends[:, None] - start)) * step  # [G*G, K, 2] canvas (y, x)
    pixels = np.clip(np.round(points).astype(int), 0, size - 1)
    along = dab_gain[pixels[..., 0], pixels[..., 1]].mean(axis=1)  # [G*G]
    # Dabs one brush diameter apart: a longer stroke covers more pixels.
    gain = np.where(ok, along * (1.0 + length * step / (2.0 * radius)), -np.inf)
    # Black (colour bins 0) with the largest brush: MNIST ink is about 3 px
    # wide at 32x32, the cpu profile's largest brush (radius 1.5) too.
    action = {name: 0 for name in env.action_counts}
    action["size"] = len(env.brush_sizes) - 1
    if "pressure" in action:
      action["pressure"] = env.action_counts["pressure"] - 1
    best = int(np.argmax(gain))
    if gain[best] > 0:
      middle = np.round((start + ends[best]) / 2.0).astype(int)
      action.update(flag=libmypaint_env.PAINT, end=best,
                    control=int(middle[0] * grid + middle[1]))
    else:
      cells = dab_gain[(rows * step).astype(int), (cols * step).astype(int)]  # [G, G]
      action.update(flag=libmypaint_env.MOVE, end=int(np.argmax(cells)))
    return action


def brush_cell(env, observation) -> int:
  """The brush's grid cell: where the previous action ended (top-left, 0, at the start)."""
  if int(observation["step"]) == 0:
    return 0
  return int(observation["prev_action"][env.components.index("end")])
