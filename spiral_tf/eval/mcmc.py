"""Blocked Metropolis-Hastings over MuJoCo scene traces (paper 4.6, Figure 9).

The latent state is a trace of ``num_slots`` object slots; row ``j`` is the
block (present, type, location, size, red, green, blue). A proposal picks one
slot uniformly and redraws its whole block uniformly, presence included. The
proposal does not depend on the current block, so it is symmetric, and the
prior over traces is uniform: the acceptance probability is the likelihood
ratio, min(1, p(target | new) / p(target | old)), with the Gaussian
likelihood N(target; render(trace), variance * I), variance 0.25.

The curve recorded is the l2 of the current state against evaluations:
``l2 = mean over all H*W*3 values of (render - target)^2`` with images in
[0, 1]; evaluation k is the state after k proposals, each costing one render
(a proposal that leaves the visible scene unchanged, absent -> absent,
reuses the current image but still counts). The renderer is passed in as a
function, so this module knows nothing about MuJoCo.
"""
import collections
from typing import Callable, List, Mapping, Sequence

import numpy as np

from spiral_tf.eval import reconstruction

NUM_SLOTS = 20
VARIANCE = 0.25

MCMCResult = collections.namedtuple(
    "MCMCResult", ["evaluations", "l2", "trace", "image", "num_accepted"])


def block_ranges(object_ranges: Mapping[str, int]) -> np.ndarray:
  """Number of values of each block entry: presence (2) then the object attributes."""
  return np.array([2] + list(object_ranges.values()), np.int64)


def empty_trace(object_ranges: Mapping[str, int], num_slots: int = NUM_SLOTS) -> np.ndarray:
  """A trace with every slot absent: int64 [num_slots, 1 + num_attributes]."""
  return np.zeros((num_slots, 1 + len(object_ranges)), np.int64)


def random_trace(rng: np.random.Generator, object_ranges: Mapping[str, int],
                 num_slots: int = NUM_SLOTS) -> np.ndarray:
  """A trace with every block drawn uniformly (a sample of the prior)."""
  return rng.integers(0, block_ranges(object_ranges), size=(num_slots, 1 + len(object_ranges)))


def trace_objects(trace: np.ndarray, object_ranges: Mapping[str, int]) -> List[dict]:
  """The present slots of a trace as object descriptions, in slot order."""
  names = list(object_ranges)
  return [dict(zip(names, map(int, row[1:]))) for row in trace if row[0]]


def propose(trace: np.ndarray, rng: np.random.Generator, object_ranges: Mapping[str, int]):
  """(new trace, slot): one slot's whole block redrawn uniformly."""
  new = trace.copy()
  slot = int(rng.integers(len(trace)))
  new[slot] = rng.integers(0, block_ranges(object_ranges))
  return new, slot


def l2_distance(image: np.ndarray, target: np.ndarray) -> float:
  """Mean squared difference over all pixels and channels, images in [0, 1]."""
  return float(reconstruction.l2_per_image(image[None], np.asarray(target)[None])[0])


def log_likelihood(image: np.ndarray, target: np.ndarray, variance: float = VARIANCE) -> float:
  """log N(target; image, variance * I), dropping the constant: -sum((x - y)^2) / (2 var)."""
  return -0.5 * float(np.sum(np.square(np.asarray(image, np.float64) - target))) / variance


def mh_accept(log_lik_new: float, log_lik_old: float, u: float) -> bool:
  """Metropolis rule for a symmetric proposal and uniform prior: u < p_new / p_old."""
  # In log space so that large likelihood ratios do not overflow.
  return bool(np.log(u) < log_lik_new - log_lik_old) if u > 0 else True


def run_mcmc(target: np.ndarray,
             render_fn: Callable[[Sequence[dict]], np.ndarray],
             object_ranges: Mapping[str, int],
             num_evaluations: int,
             rng: np.random.Generator,
             num_slots: int = NUM_SLOTS,
             variance: float = VARIANCE,
             init: str = "empty",
             record_every: int = 1) -> MCMCResult:
  """Runs the sampler on one target image; render_fn maps objects to float [S, S, 3].

  Records (evaluations, l2) at evaluation 0 (the initial state), every
  ``record_every`` evaluations, and at the last one.
  """
  if init == "empty":
    trace = empty_trace(object_ranges, num_slots)
  elif init == "random":
    trace = random_trace(rng, object_ranges, num_slots)
  else:
    raise ValueError(f"init must be 'empty' or 'random', got {init!r}")
  image = render_fn(trace_objects(trace, object_ranges))
  log_lik = log_likelihood(image, target, variance)
  evaluations, l2 = [0], [l2_distance(image, target)]
  accepted = 0
  for k in range(1, num_evaluations + 1):
    new, slot = propose(trace, rng, object_ranges)
    u = rng.random()
    if new[slot, 0] == 0 and trace[slot, 0] == 0:
      new_image, new_log_lik = image, log_lik  # the visible scene did not change
    else:
      new_image = render_fn(trace_objects(new, object_ranges))
      new_log_lik = log_likelihood(new_image, target, variance)
    if mh_accept(new_log_lik, log_lik, u):
      trace, image, log_lik = new, new_image, new_log_lik
      accepted += 1
    if k % record_every == 0 or k == num_evaluations:
      evaluations.append(k)
      l2.append(l2_distance(image, target))
  return MCMCResult(np.array(evaluations), np.array(l2), trace, image, accepted)
