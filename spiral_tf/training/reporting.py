"""Reporting: held-out evaluation, TensorBoard summaries, the console and the run's files.

Each evaluation adds a point to the history and rewrites ``metrics.json``,
``reconstructions.png``, ``curves.png`` and ``programs.json`` atomically, so
a crash or a ``kill -9`` loses nothing that was evaluated.
"""
import json
import os
import time
from typing import Callable, Dict, List, Optional

import numpy as np
import tensorflow as tf

from spiral_tf import files
from spiral_tf.eval import plots
from spiral_tf.eval import reconstruction
from spiral_tf.eval import sample_scores
from spiral_tf.training import run_folder
from spiral_tf.training import term_names


class Reporter:
  """Evaluates the greedy policy and writes what a run shows."""

  def __init__(self, run_dir: str, name: str, make_env: Callable, policy, *,
               eval_targets: Optional[np.ndarray], num_samples: int, config: dict,
               seed: int = 0, log: Callable[[str], None] = print):
    """Args:
      run_dir: the run folder.
      name: the experiment's name (figure titles).
      make_env: () -> one environment (no targets) of the experiment.
      policy: the learner's policy network.
      eval_targets: held-out targets [N, S, S, C] (conditional), else None.
      num_samples: unconditional samples per evaluation.
      config: the experiment's config as a dict, recorded in metrics.json.
      seed: of the random-policy level.
      log: console lines.
    """
    self.run_dir = run_dir
    self.name = name
    self.eval_targets = eval_targets
    self.num_samples = num_samples
    self.config = config
    self.log = log
    n = len(eval_targets) if eval_targets is not None else num_samples
    self.evaluator = reconstruction.Evaluator(make_env, policy, min(32, n))
    self.rules = self.evaluator.rules
    self.levels: Dict[str, float] = {}  # blank_l2, random_policy_l2 (see eval/reconstruction.py)
    if eval_targets is not None:
      self.levels = reconstruction.reference_levels(make_env, eval_targets, seed=seed)
      log(f"held-out l2: blank canvas {self.levels['blank_l2']:.4f}, "
          f"random policy {self.levels['random_policy_l2']:.4f} ({len(eval_targets)} images)")
    self.history: List[dict] = []
    self.extra: Dict[str, object] = {}  # more top-level fields of metrics.json
    self.writer = tf.summary.create_file_writer(os.path.join(run_dir, "tb"))

  def load_history(self):
    """The history of an earlier run in this folder (on resume)."""
    path = os.path.join(self.run_dir, "metrics.json")
    if os.path.exists(path):
      with open(path) as f:
        recorded = json.load(f)
      self.history = recorded.get("history", [])
      # Lists that grow over a run's segments (e.g. the collapse guard's restores).
      self.extra.update({k: recorded[k] for k in ("collapse_guard",) if k in recorded})

  def has_history(self) -> bool:
    """Whether the run folder holds an earlier run's evaluations after step 0.

    (The untrained step-0 evaluation alone is redone, not kept: see
    run_folder.has_trained_history.)
    """
    return run_folder.has_trained_history(os.path.join(self.run_dir, "metrics.json"))

  def archive(self) -> str:
    """Moves metrics.json aside (before a restart from step 0); returns its new path."""
    path = os.path.join(self.run_dir, f"metrics-{time.strftime('%Y%m%d-%H%M%S')}.json")
    os.replace(os.path.join(self.run_dir, "metrics.json"), path)
    return path

  def evaluate(self, step: int, frames: int, minutes: float) -> dict:
    """Greedy reconstructions of the held-out targets (or samples): a history point."""
    out = self.evaluator.run(self.eval_targets, num_samples=self.num_samples
                             if self.eval_targets is None else 0)
    point = dict(step=step, frames=frames, minutes=minutes,
                 **reconstruction.heldout_metrics(out, self.rules, self.levels))
    unconditional = self.eval_targets is None
    if unconditional:  # does the noise (or sampling) vary the samples?
      point.update(self._sample_stats("", out, strokes=False))
      sampled = self.evaluator.run(num_samples=self.num_samples, greedy=False)
      point.update(self._sample_stats("sampling_", sampled, strokes=True))
    self.history.append(point)
    with self.writer.as_default(step=frames):
      if out.get("l2") is not None:
        tf.summary.image("eval/targets", self.eval_targets[:8], max_outputs=8)
      # One name per number: the summary of metrics.json's ``key`` is ``eval/key``.
      for key in ("eval_l2", "eval_l2_vs_blank", "strokes_per_image", "distinct_samples",
                  "sample_spread", "sampling_strokes_per_image", "sampling_distinct_samples",
                  "sampling_sample_spread"):
        if point.get(key) is not None:
          tf.summary.scalar(f"eval/{key}", point[key])
      tf.summary.image("eval/renders", out["canvases"][:8], max_outputs=8)
    self.writer.flush()
    if point.get("eval_l2") is not None:
      self.log(f"  eval: greedy held-out l2 {point['eval_l2']:.4f} = "
               f"{point.get('eval_l2_vs_blank', float('nan')):.3f}x blank "
               f"| {point['strokes_per_image']:.1f} strokes per image")
    else:
      self.log(f"  eval: greedy {point['strokes_per_image']:.1f} strokes per sample, "
               f"{point['distinct_samples']:.0%} distinct, spread {point['sample_spread']:.3f} "
               f"| sampling {point['sampling_strokes_per_image']:.1f} strokes, "
               f"{point['sampling_distinct_samples']:.0%} distinct, "
               f"spread {point['sampling_sample_spread']:.3f}")
    self._write_outputs(out)
    return point

  def _write_outputs(self, out: Dict[str, object]):
    """metrics.json, the reconstruction grid, the curves and the programs (each atomic)."""
    self.write_metrics()
    if self.eval_targets is not None:
      grid = plots.pairs_grid(self.eval_targets[:32], out["canvases"][:32])
    else:
      grid = plots.image_grid([out["canvases"][i:i + 8] for i in range(0, 32, 8)])
    files.write_png(os.path.join(self.run_dir, "reconstructions.png"), grid)
    fig = plots.learning_curves(self.history, self.levels, title=self.name)
    files.write_figure(os.path.join(self.run_dir, "curves.png"), fig)
    files.write_json(os.path.join(self.run_dir, "programs.json"), out["programs"][:64])

  def write_metrics(self):
    """metrics.json: the history, the levels, the config and the extra fields (atomic)."""
    final = self.history[-1] if self.history else {}
    files.write_json(os.path.join(self.run_dir, "metrics.json"), dict(
        history=self.history, levels=self.levels, final=final, config=self.config,
        **self.extra))

  def _sample_stats(self, prefix: str, out: Dict[str, object],
                    strokes: bool) -> Dict[str, float]:
    """The share of distinct samples and the pixel spread; with ``strokes``, strokes per image."""
    stats = {}
    if strokes:
      stats[f"{prefix}strokes_per_image"] = reconstruction.strokes_per_image(
          self.rules, out["programs"])
    stats[f"{prefix}distinct_samples"] = sample_scores.distinct_fraction(out["canvases"])
    stats[f"{prefix}sample_spread"] = sample_scores.pixel_spread(out["canvases"])
    return stats

  def summaries(self, frames: int, terms: Dict[str, float]):
    """The learners' terms as TensorBoard scalars."""
    with self.writer.as_default(step=frames):
      for k, v in terms.items():
        tf.summary.scalar(f"train/{k}", v)

  def progress(self, minutes: float, step: int, frames: int, frames_per_s: float,
               terms: Dict[str, float]):
    """One console line: learner updates, agent steps and their rate, the training signal."""
    blank = self.levels.get("blank_l2")
    l2 = terms.get("l2_to_target")
    l2_text = (f" | train l2 {l2:.4f} ({l2 / blank:.2f}x blank)" if l2 is not None and blank
               else "")
    names = term_names.acting_term_names(self.rules)
    self.log(f"[{minutes:5.1f} min] update {step} | {frames} agent steps "
             f"({frames_per_s:.0f}/s){l2_text} | {names.verb} "
             f"{terms.get(names.acted_fraction, 0):.2f}"
             f" | {self.rules.mask_component} entropy {terms.get(names.mask_entropy, 0):.2f}")

  def close(self):
    self.writer.flush()
    self.writer.close()
