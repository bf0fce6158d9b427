"""Labelled MNIST digits as a run sees them, and the digit classifier trained on them.

tools/score_samples.py and population-based training of unconditional agents
(training/pbt_fitness.py) judge painted digits with the classifier of
eval/mnist_classifier.py; both need the digits at the run's canvas size and
convention (white paper, dark ink), with their labels, from the run's own
split of the data.
"""
from typing import Callable, Tuple

import numpy as np

from spiral_tf import config as config_lib
from spiral_tf import data as data_lib


def labelled_digits(cfg: config_lib.Config, mnist_path: str,
                    split: str) -> Tuple[np.ndarray, np.ndarray]:
  """(images [N, S, S, C], labels [N]) of MNIST ``split`` as the run's data loader makes them.

  DataError when the split is empty.
  """
  from spiral_tf.training import builder  # pylint: disable=g-import-not-at-top
  digits = config_lib.from_dict(builder.config_dict(cfg))
  options = dict(digits.data.options) if digits.data.name == "mnist" else {}
  config_lib.apply(digits, {"data": {"name": "mnist", "path": mnist_path,
                                     "options": dict(options, with_labels=True)}})
  pairs = list(builder.load_dataset(digits, split).as_numpy_iterator())
  if not pairs:
    raise data_lib.DataError(f"MNIST at {mnist_path!r} has no {split!r} digits")
  images, labels = zip(*pairs)
  return np.stack(images).astype(np.float32), np.asarray(labels, np.int64)


def classifier(cfg: config_lib.Config, mnist_path: str, cache_dir: str, held_out: str = "test",
               log: Callable[[str], None] = print):
  """The digit classifier of the run's training digits (cached in ``cache_dir``).

  Its accuracy is measured on the ``held_out`` split when it first trains.
  """
  from spiral_tf.eval import mnist_classifier  # pylint: disable=g-import-not-at-top
  train_images, train_labels = labelled_digits(cfg, mnist_path, "train")
  test_images, test_labels = labelled_digits(cfg, mnist_path, held_out)
  return mnist_classifier.load_or_train(cache_dir, train_images, train_labels, test_images,
                                        test_labels, log=log)
