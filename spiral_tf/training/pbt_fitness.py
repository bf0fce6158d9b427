"""How tools/pbt.py ranks the members of a population (lower fitness is better).

  painting targets (train.conditional):  the greedy policy's l2 to the
      validation images over the blank canvas' l2 (1 = no better than not painting)
  generating (unconditional, MNIST):     the Fréchet distance, in the digit
      classifier's features (eval/mnist_classifier.py), between samples of the
      sampling policy from fresh noise and the validation digits, over the same
      distance for the random policy's canvases (1 = no better than random
      strokes). No critic is asked: each member has its own, and a critic that
      a collapsed generator fools would rank that member first.

The validation images are the first pbt.validation_images of the train split,
which no member trains on; the classifier learns the rest of the train split
once, before the members start (``prepare``), and is read from the
population's folder after.
"""
import os
from typing import Callable, Dict

import numpy as np

from spiral_tf import config as config_lib

FITNESS = "fitness"  # Ray Tune's metric, mode 'min'
CONDITIONAL_KEYS = ("validation_l2", "validation_blank_l2")
UNCONDITIONAL_KEYS = ("validation_frechet", "validation_random_frechet", "validation_classes")
# What a fitness of 1.0 means, for plots and log lines.
BASELINE = {True: "blank canvas", False: "random policy"}


def describe(cfg: config_lib.Config) -> str:
  """The fitness of the config in words, for log lines: '0.512' + this."""
  return ("x blank on the validation images" if cfg.train.conditional
          else "x the random policy's Fréchet distance to the validation digits")


def axis_label(conditional: bool) -> str:
  return ("held-out l2 / blank (validation)" if conditional
          else "Fréchet distance / random policy's (validation digits)")


def check(cfg: config_lib.Config):
  """ConfigError, one line, when the config's members cannot be ranked."""
  if not cfg.train.conditional and cfg.data.name != "mnist":
    raise config_lib.ConfigError(
        f"tools/pbt.py ranks unconditional members by a digit classifier's Fréchet distance, "
        f"which exists for MNIST only, and this config generates {cfg.data.name!r} images: "
        "use an MNIST config, or a conditional one (ranked by held-out l2)")


def classifier_cache(run_dir: str) -> str:
  """Where a population keeps its digit classifier (every member reads it)."""
  return os.path.join(run_dir, "classifier")


def prepare(cfg: config_lib.Config, run_dir: str, log: Callable[[str], None] = print):
  """Trains the digit classifier of an unconditional population, once, before the members start."""
  if not cfg.train.conditional:
    _classifier(cfg, run_dir, log)


def _classifier(cfg: config_lib.Config, run_dir: str, log: Callable[[str], None]):
  from spiral_tf.eval import digit_data  # pylint: disable=g-import-not-at-top
  return digit_data.classifier(cfg, cfg.data.path, classifier_cache(run_dir),
                               held_out="validation", log=log)


def fitness(cfg: config_lib.Config, policy, run_dir: str,
            log: Callable[[str], None] = print) -> Dict[str, float]:
  """The member's fitness (key FITNESS) and the numbers it is made of."""
  from spiral_tf.eval import reconstruction  # pylint: disable=g-import-not-at-top
  from spiral_tf.training import builder  # pylint: disable=g-import-not-at-top
  make_env = builder.env_factory(cfg)
  n = cfg.pbt.validation_images
  evaluator = reconstruction.Evaluator(make_env, policy, min(32, n), seed=cfg.train.seed)
  try:
    if cfg.train.conditional:
      targets = builder.load_images(cfg, "validation", n)
      l2 = evaluator.run(targets)["l2"]
      blank = reconstruction.blank_l2(targets, reconstruction.blank_canvas(make_env))
      return {"validation_l2": l2, "validation_blank_l2": blank, FITNESS: l2 / blank}
    samples = evaluator.run(num_samples=max(n, 2), greedy=False)["canvases"]
  finally:
    for env in evaluator.envs:
      env.close()
  return _sample_fitness(cfg, run_dir, np.asarray(samples, np.float32), make_env, log)


def _sample_fitness(cfg, run_dir, samples, make_env, log) -> Dict[str, float]:
  from spiral_tf.eval import digit_data  # pylint: disable=g-import-not-at-top
  from spiral_tf.eval import sample_scores  # pylint: disable=g-import-not-at-top
  from spiral_tf.eval import scripted_programs  # pylint: disable=g-import-not-at-top
  classifier = _classifier(cfg, run_dir, log)
  digits, _ = digit_data.labelled_digits(cfg, cfg.data.path, "validation")
  reference = classifier.predict(digits).features
  randoms = scripted_programs.random_canvases(make_env, len(samples), cfg.train.seed)
  out = classifier.predict(samples)
  frechet = sample_scores.frechet_distance(out.features, reference)
  random_frechet = sample_scores.frechet_distance(classifier.predict(randoms).features, reference)
  classes = int(np.count_nonzero(sample_scores.class_histogram(out.probabilities.argmax(1))))
  return {"validation_frechet": frechet, "validation_random_frechet": random_frechet,
          "validation_classes": classes, FITNESS: frechet / random_frechet}
