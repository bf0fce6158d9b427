"""Painted MNIST canvases judged by the digit classifier, beside reference sets scored once.

tools/score_samples.py scores a run's newest checkpoint, a named one, or
every checkpoint the run kept (a curve along the run). What stays the same
from one checkpoint to the next is computed once here: the classifier, the
held-out real digits the Fréchet distances are measured to, the ink
oracle's tracings of them (the painted-domain reference), and the reference
sets every policy is printed beside — random strokes, the oracle's tracings
of the real digits, the real digits themselves, and optionally another
agent's reconstructions of those digits (e.g. the shipped conditional agent:
what a trained painter of this brush reaches when it sees its digit).
"""
import copy
from typing import Dict, Optional, Tuple

import numpy as np

from spiral_tf import cli
from spiral_tf.eval import critic_signal
from spiral_tf.eval import digit_data
from spiral_tf.eval import reconstruction
from spiral_tf.eval import sample_scores
from spiral_tf.eval import scripted_programs

# Policy rows by --sampling: (row name, greedy actions).
SAMPLING = {"greedy": (("greedy policy", True),), "sample": (("sampling policy", False),),
            "both": (("greedy policy", True), ("sampling policy", False))}


class DigitScorer:
  """Scores an agent's canvases; the reference sets are painted and scored once."""

  def __init__(self, agent, mnist_path: str, cache_dir: str, samples: int, seed: int = 0,
               log=print):
    """Args:
      agent: the trained agent whose run sets the canvas size, convention,
        action space (for the random and oracle sets) and conditioning.
      mnist_path: the MNIST IDX folder.
      cache_dir: where the classifier's weights are kept between calls.
      samples: canvases per policy (conditional: at most half the test split).
      seed: of the noise, the sampled actions and the random policy's strokes.
      log: where notes go (the classifier's first training, a capped count).
    """
    # One instrument for every run of a canvas size: the classifier learns the whole train
    # split, also for a population's member, which trained without its validation digits.
    cfg = copy.deepcopy(agent.config)
    cfg.pbt.hold_out_validation = False
    test_images, test_labels = digit_data.labelled_digits(cfg, mnist_path, "test")
    half = len(test_images) // 2
    if half < 2:
      raise cli.UserError(f"MNIST at {mnist_path!r} has {len(test_images)} test digits; need 4")
    self.seed = seed
    self.make_env = agent.make_env
    self.conditional = cfg.train.conditional
    self.classifier = digit_data.classifier(cfg, mnist_path, cache_dir, log=log)
    self.reference_digits = len(test_images) - half
    self.canvas_size = int(test_images.shape[1])
    self.reference = self.classifier.predict(test_images[half:]).features
    # The painted domain: the oracle's tracings of the reference digits.
    self.painted = self.classifier.predict(scripted_programs.oracle_canvases(
        agent.make_env, test_images[half:], seed)).features
    n_real = min(samples, half)
    if self.conditional and samples > half:
      log(f"note: a conditional run reconstructs at most {half} held-out digits; "
          f"scoring {n_real}")
    self.real, self.real_labels = test_images[:n_real], test_labels[:n_real]
    self.samples = n_real if self.conditional else samples
    self.targets = self.real if self.conditional else None
    self.labels = self.real_labels if self.conditional else None
    # name -> (canvases, labels the label-kept rate is measured against)
    self.fixed = {
        "random policy": (scripted_programs.random_canvases(
            agent.make_env, self.samples, seed, self.targets), self.labels),
        # A tracer that sees each real digit: what this action space and
        # episode length can paint at best-effort.
        "ink oracle": (scripted_programs.oracle_canvases(agent.make_env, self.real, seed),
                       self.real_labels),
        "real digits": (self.real, self.real_labels if self.conditional else None),
    }
    self.fixed_rows = {name: self.row(canvases, labels)
                       for name, (canvases, labels) in self.fixed.items()}

  def add_reconstructions(self, name: str, other) -> Dict[str, float]:
    """Adds ``other`` (a conditional agent)'s greedy reconstructions of the real digits as a row."""
    if not other.config.train.conditional:
      raise cli.UserError(f"the reference agent {name!r} is unconditional: it paints no "
                          "reconstructions; name a conditional agent")
    evaluator = reconstruction.Evaluator(other.make_env, other.policy, min(32, len(self.real)),
                                         seed=self.seed)
    out = evaluator.run(self.real, greedy=True)
    if out["canvases"].shape[1:] != self.real.shape[1:]:
      raise cli.UserError(f"the reference agent {name!r} paints {out['canvases'].shape[1]}-pixel "
                          f"canvases, this run {self.canvas_size}: name one of the same size")
    self.fixed[name] = (out["canvases"], self.real_labels)
    self.fixed_rows[name] = self.row(out["canvases"], self.real_labels, out["programs"],
                                     evaluator.rules)
    return self.fixed_rows[name]

  def row(self, canvases, labels=None, programs=None, rules=None) -> Dict[str, object]:
    """The classifier's numbers for one set of canvases (sample_scores.score_row, painted)."""
    out = self.classifier.predict(canvases)
    r = sample_scores.score_row(out.probabilities, out.features, self.reference, labels)
    r["frechet_painted"] = sample_scores.frechet_distance(out.features, self.painted)
    if programs is not None:
      r["strokes_per_image"] = float(np.mean(rules.strokes_per_program(programs)))
    return r

  def score(self, agent, sampling: str = "both",
            critic_scores: Optional[dict] = None) -> Tuple[dict, dict]:
    """(rows, canvases) of ``agent``'s policies and the reference sets, by row name.

    ``critic_scores``: {name: score fn} (``trained_agent.critic_scores``);
    each set gets each critic's mean score under the key '<name>_score'.
    """
    rows, canvases_of = {}, {}
    evaluator = reconstruction.Evaluator(agent.make_env, agent.policy, min(32, self.samples),
                                         seed=self.seed)
    for name, greedy in SAMPLING[sampling]:
      out = (evaluator.run(self.targets, greedy=greedy) if self.conditional
             else evaluator.run(num_samples=self.samples, greedy=greedy))
      rows[name] = self.row(out["canvases"], self.labels, out["programs"], evaluator.rules)
      canvases_of[name] = out["canvases"]
    for name, (canvases, _) in self.fixed.items():
      rows[name] = dict(self.fixed_rows[name])
      canvases_of[name] = canvases
    for critic_name, score in (critic_scores or {}).items():  # how the run's critic ranks each set
      key = critic_name.replace(" ", "_") + "_score"
      for name, canvases in canvases_of.items():
        rows[name][key] = float(np.mean(critic_signal.scores_of(
            score, np.asarray(canvases, np.float32),
            None if self.targets is None else np.asarray(self.targets, np.float32))))
    return rows, canvases_of


def ratios_to_random(rows: dict, sampling: str) -> Tuple[dict, dict]:
  """({policy row: Fréchet / random's}, {policy row: painted-domain Fréchet / random's})."""
  random_row = rows["random policy"]
  return ({name: rows[name]["frechet"] / random_row["frechet"] for name, _ in SAMPLING[sampling]},
          {name: rows[name]["frechet_painted"] / random_row["frechet_painted"]
           for name, _ in SAMPLING[sampling]})
