"""Numbers that say how digit-like a set of canvases is, from a classifier's outputs.

Pure NumPy functions on explicit arrays: the classifier (eval/mnist_classifier.py)
gives class probabilities [N, K] and penultimate-layer features [N, D]; these
turn them into the scores of tools/score_samples.py (the generative-model
habits of FID, Heusel et al. 2017, with a small MNIST classifier in place of
Inception) and the rank statistics of tools/bench_critic_signal.py.
"""
from typing import Dict, Optional

import numpy as np


def gaussian_moments(features: np.ndarray):
  """(mean [D], covariance [D, D]) of features [N, D] (unbiased covariance, N >= 2)."""
  features = np.asarray(features, np.float64)
  if features.ndim != 2 or len(features) < 2:
    raise ValueError(f"features must be [N >= 2, D], got shape {features.shape}")
  return features.mean(axis=0), np.cov(features, rowvar=False)


def _psd_sqrt(matrix: np.ndarray) -> np.ndarray:
  """Square root of a symmetric positive semi-definite matrix (negative rounding clipped)."""
  values, vectors = np.linalg.eigh((matrix + matrix.T) / 2.0)
  return (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T


def frechet_distance_from_moments(mu1, sigma1, mu2, sigma2) -> float:
  """||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2)): the Fréchet distance of two Gaussians."""
  # Tr (S1 S2)^(1/2) = Tr (S1^(1/2) S2 S1^(1/2))^(1/2), whose argument is
  # symmetric PSD: eigh is stable where sqrtm of the non-symmetric S1 S2 is
  # not (rank-deficient covariances of a few hundred samples in 64-d).
  mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
  sigma1, sigma2 = np.atleast_2d(sigma1).astype(np.float64), np.atleast_2d(sigma2).astype(np.float64)
  root1 = _psd_sqrt(sigma1)
  cross = np.sum(np.sqrt(np.clip(np.linalg.eigvalsh(root1 @ sigma2 @ root1), 0.0, None)))
  distance = np.sum((mu1 - mu2) ** 2) + np.trace(sigma1) + np.trace(sigma2) - 2.0 * cross
  return float(max(distance, 0.0))  # rounding can leave -1e-12 for identical sets


def frechet_distance(features1: np.ndarray, features2: np.ndarray) -> float:
  """Fréchet distance between Gaussians fitted to two feature sets [N1, D] and [N2, D]."""
  return frechet_distance_from_moments(*gaussian_moments(features1), *gaussian_moments(features2))


def class_histogram(predicted: np.ndarray, num_classes: int = 10) -> np.ndarray:
  """Counts [K] of each predicted class among predicted labels [N]."""
  return np.bincount(np.asarray(predicted, np.int64), minlength=num_classes)[:num_classes]


def histogram_entropy(counts: np.ndarray) -> float:
  """Entropy in bits of the distribution of counts [K] (log2 K: every class equally often)."""
  counts = np.asarray(counts, np.float64)
  p = counts[counts > 0] / counts.sum()
  return float(-np.sum(p * np.log2(p)) + 0.0)  # + 0.0: one class gives 0.0, not -0.0


def distinct_fraction(canvases: np.ndarray) -> float:
  """Share of distinct canvases [N, ...] after rounding to 8 bits (1/N: all the same)."""
  canvases = np.asarray(canvases, np.float64)
  if len(canvases) == 0:
    raise ValueError("no canvases")
  quantized = np.round(np.clip(canvases, 0.0, 1.0) * 255.0).astype(np.uint8)
  return len({c.tobytes() for c in quantized}) / len(canvases)


def pixel_spread(canvases: np.ndarray) -> float:
  """Mean over pixels of the standard deviation across canvases [N, ...] (0: all the same)."""
  canvases = np.asarray(canvases, np.float64)
  return float(np.mean(np.std(canvases, axis=0)))


def label_kept_rate(predicted: np.ndarray, labels: np.ndarray) -> float:
  """Share of reconstructions [N] given the same label as their target [N]."""
  predicted, labels = np.asarray(predicted), np.asarray(labels)
  if predicted.shape != labels.shape or predicted.size == 0:
    raise ValueError(f"need one label per prediction, got {predicted.shape} and {labels.shape}")
  return float(np.mean(predicted == labels))


def ranks(values: np.ndarray) -> np.ndarray:
  """1-based ranks of values [N], ties given the mean of the ranks they span."""
  values = np.asarray(values, np.float64)
  order = np.argsort(values, kind="stable")
  ranked = np.empty(len(values), np.float64)
  sorted_values = values[order]
  start = 0
  while start < len(values):
    end = start
    while end + 1 < len(values) and sorted_values[end + 1] == sorted_values[start]:
      end += 1
    ranked[order[start:end + 1]] = (start + end) / 2.0 + 1.0
    start = end + 1
  return ranked


def spearman(x: np.ndarray, y: np.ndarray) -> float:
  """Spearman's rank correlation of x [N] and y [N] (NaN when either is constant)."""
  rx, ry = ranks(x), ranks(y)
  rx, ry = rx - rx.mean(), ry - ry.mean()
  denominator = np.sqrt(np.sum(rx ** 2) * np.sum(ry ** 2))
  return float(np.sum(rx * ry) / denominator) if denominator > 0 else float("nan")


def sign_agreement(scores: np.ndarray, l2: np.ndarray, tolerance: float = 1e-6):
  """How often a score's step differences agree in sign with the l2 improvement.

  Args:
    scores: [N, T + 1] a critic's score of each canvas c_0 .. c_T of N programs.
    l2: [N, T + 1] each canvas' l2 distance to its target.
    tolerance: steps whose l2 changes by at most this much (moves, strokes
      over paint) have no sign to agree with and are left out.

  Returns:
    (share of counted steps where sign(s_t - s_{t-1}) = sign(l2_{t-1} - l2_t),
     number of steps counted); (NaN, 0) when no step changed the canvas.
  """
  scores, l2 = np.asarray(scores, np.float64), np.asarray(l2, np.float64)
  improvement = -np.diff(l2, axis=1)  # [N, T] > 0 where the step got closer
  gain = np.diff(scores, axis=1)      # [N, T]
  counted = np.abs(improvement) > tolerance
  if not counted.any():
    return float("nan"), 0
  agree = np.sign(gain[counted]) == np.sign(improvement[counted])
  return float(np.mean(agree)), int(counted.sum())


def score_row(probabilities: np.ndarray, features: np.ndarray, reference_features: np.ndarray,
              labels: Optional[np.ndarray] = None) -> Dict[str, object]:
  """The scores of one set of canvases from the classifier's outputs on them.

  Args:
    probabilities: [N, K] class probabilities of the canvases.
    features: [N, D] their penultimate-layer features.
    reference_features: [M, D] features of held-out real digits.
    labels: optional [N] labels of the targets the canvases reconstruct.

  Returns:
    images, mean_top_probability, histogram (counts per class), classes
    (how many classes are predicted at all), entropy_bits, frechet and, with
    labels, label_kept.
  """
  probabilities = np.asarray(probabilities, np.float64)
  predicted = probabilities.argmax(axis=1)
  counts = class_histogram(predicted, probabilities.shape[1])
  row = dict(images=int(len(predicted)),
             mean_top_probability=float(probabilities.max(axis=1).mean()),
             histogram=[int(c) for c in counts], classes=int(np.count_nonzero(counts)),
             entropy_bits=histogram_entropy(counts),
             frechet=frechet_distance(features, reference_features))
  if labels is not None:
    row["label_kept"] = label_kept_rate(predicted, labels)
  return row
