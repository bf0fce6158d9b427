"""Pictures of results: image grids and learning curves."""
from typing import Dict, List, Optional, Sequence

import numpy as np

# Legend labels of metrics.json's reference levels (eval/reconstruction.py
# names them); a run folder written before they had these keys used the
# labels as keys, which label themselves.
LEVEL_LABELS = {"blank_l2": "blank canvas", "random_policy_l2": "random policy"}


def image_grid(rows: Sequence[np.ndarray], pad: int = 2, scale: int = 2) -> np.ndarray:
  """Stacks rows of images [N, H, W, C] into one RGB picture (white padding)."""
  rows = [np.asarray(r, np.float32) for r in rows]
  rows = [np.repeat(r, 3, axis=-1) if r.shape[-1] == 1 else r for r in rows]
  n, h, w = max(len(r) for r in rows), rows[0].shape[1], rows[0].shape[2]
  out = np.ones((len(rows) * (h + pad) + pad, n * (w + pad) + pad, 3), np.float32)
  out[:] = 0.75
  for i, row in enumerate(rows):
    for j, image in enumerate(row):
      y, x = pad + i * (h + pad), pad + j * (w + pad)
      out[y:y + h, x:x + w] = image
  if scale > 1:
    out = np.repeat(np.repeat(out, scale, axis=0), scale, axis=1)
  return out


def sheet(images: np.ndarray, per_row: int = 8) -> np.ndarray:
  """Images [N, H, W, C] in rows of ``per_row`` (a sample sheet)."""
  return image_grid([images[i:i + per_row] for i in range(0, len(images), per_row)])


def pairs_grid(targets: np.ndarray, canvases: np.ndarray, per_row: int = 8) -> np.ndarray:
  """Targets above their reconstructions, ``per_row`` pairs a row."""
  rows = []
  for start in range(0, len(targets), per_row):
    rows += [targets[start:start + per_row], canvases[start:start + per_row]]
  if len(rows) > 2 and len(rows[-1]) < per_row:  # keep rows equally long
    rows = rows[:-2]
  return image_grid(rows)


def learning_curves(history: List[Dict[str, float]], levels: Dict[str, Optional[float]],
                    title: str = ""):
  """A matplotlib figure of held-out l2 against frames, with reference levels; for an
  unconditional run (no l2), how varied its samples are and how many strokes they take."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  if not any(h.get("eval_l2") is not None for h in history) and any(
      h.get("distinct_samples") is not None for h in history):
    return _sample_curves(plt, history, title)
  fig, ax = plt.subplots(figsize=(6, 4))
  points = [h for h in history if h.get("eval_l2") is not None]
  if points:
    ax.plot([h["frames"] for h in points], [h["eval_l2"] for h in points], "o-",
            label="greedy policy (held-out)")
  styles = iter(["--", ":", "-."])
  for name, value in levels.items():
    if value is not None:
      ax.axhline(value, linestyle=next(styles, "--"), color="gray",
                 label=LEVEL_LABELS.get(name, name))
  ax.set_xlabel("agent steps (frames)")
  ax.set_ylabel("mean l2 to target")
  ax.set_title(title)
  ax.legend()
  fig.tight_layout()
  return fig


# Panels of an unconditional run's curves: (metrics.json key without the policy's
# prefix, y label); the greedy policy's keys have no prefix, the sampling one's 'sampling_'.
SAMPLE_PANELS = (("distinct_samples", "share of distinct samples"),
                 ("strokes_per_image", "strokes per sample"))


def _sample_curves(plt, history: List[Dict[str, float]], title: str):
  fig, axes = plt.subplots(1, len(SAMPLE_PANELS), figsize=(10, 4))
  for ax, (key, label) in zip(axes, SAMPLE_PANELS):
    for prefix, policy in (("", "greedy policy"), ("sampling_", "sampling policy")):
      points = [h for h in history if h.get(prefix + key) is not None]
      ax.plot([h["frames"] for h in points], [h[prefix + key] for h in points], "o-",
              markersize=3, label=policy)
    ax.set_xlabel("agent steps (frames)")
    ax.set_ylabel(label)
    ax.legend()
  axes[0].set_ylim(0.0, 1.05)
  fig.suptitle(f"{title}: samples from fresh noise" if title else "samples from fresh noise")
  fig.tight_layout()
  return fig
