"""A small MNIST classifier that judges painted digits, trained once and cached on disk.

It sees images exactly as the agent paints them (float [S, S, C] in [0, 1],
white background, dark ink: the convention of spiral_tf.data and the canvas)
at the run's canvas size; inverting to ink-on-zero happens inside the model,
so callers never convert. Its penultimate layer gives the features of the
Fréchet distance (eval/sample_scores.py). Nothing is downloaded: it trains on
the arrays it is given, and ``load_or_train`` keeps the weights in a cache
folder keyed by those arrays, so other data or another size trains anew.
"""
import hashlib
import json
import os
import shutil
import tempfile
from typing import Callable, NamedTuple, Optional, Tuple

import numpy as np

import spiral_tf  # noqa: F401  (selects Keras 2 before TensorFlow loads)
import tensorflow as tf
import tf_keras as keras

NUM_CLASSES = 10
FEATURE_SIZE = 64
# Part of the cache key: bump it when the network or its training changes.
VERSION = 1
# 3 epochs over the 7,200 training digits: ~98% held-out accuracy on
# 32x32 canvases in well under a minute on 2 CPU cores.
EPOCHS = 3
BATCH_SIZE = 64


def build_network(image_shape: Tuple[int, int, int]) -> keras.Model:
  """A two-conv CNN: images [B, S, S, C] -> (logits [B, 10], features [B, 64])."""
  images = keras.Input(tuple(image_shape))
  # Ink as positive values on a zero background, so zero padding is paper.
  ink = 1.0 - tf.reduce_mean(images, axis=-1, keepdims=True)  # [B, S, S, 1]
  h = keras.layers.Conv2D(32, 3, padding="same", activation="relu")(ink)
  h = keras.layers.MaxPooling2D(2)(h)
  h = keras.layers.Conv2D(64, 3, padding="same", activation="relu")(h)
  h = keras.layers.MaxPooling2D(2)(h)
  h = keras.layers.Flatten()(h)
  features = keras.layers.Dense(FEATURE_SIZE, activation="relu", name="features")(h)
  logits = keras.layers.Dense(NUM_CLASSES, name="logits")(keras.layers.Dropout(0.3)(features))
  return keras.Model(images, [logits, features], name="mnist_classifier")


class Predictions(NamedTuple):
  """The classifier's outputs on N images."""
  probabilities: np.ndarray  # [N, 10]
  features: np.ndarray       # [N, 64], penultimate layer (the Fréchet distance's space)


class DigitClassifier:
  """Predicts digit classes and features of canvas-like images."""

  def __init__(self, network: keras.Model, test_accuracy: Optional[float] = None):
    self.network = network
    self.test_accuracy = test_accuracy
    self._call = tf.function(lambda x: network(x, training=False))

  def predict(self, images: np.ndarray, batch_size: int = 256) -> Predictions:
    """Probabilities and features of images [N, S, S, C]."""
    probabilities, features = [], []
    for start in range(0, len(images), batch_size):
      logits, feats = self._call(tf.constant(images[start:start + batch_size], tf.float32))
      probabilities.append(tf.nn.softmax(logits).numpy())
      features.append(feats.numpy())
    return Predictions(np.concatenate(probabilities), np.concatenate(features))


def train(images: np.ndarray, labels: np.ndarray, epochs: int = EPOCHS, seed: int = 0,
          log: Callable[[str], None] = print) -> keras.Model:
  """Trains a fresh network on images [N, S, S, C] and labels [N] (sets the global seeds)."""
  keras.utils.set_random_seed(seed)
  network = build_network(images.shape[1:])
  logits_only = keras.Model(network.input, network.outputs[0])
  logits_only.compile(keras.optimizers.Adam(1e-3),
                      keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                      metrics=["accuracy"])
  history = logits_only.fit(images, labels, batch_size=BATCH_SIZE, epochs=epochs, shuffle=True,
                            verbose=0)
  log(f"classifier trained on {len(images)} digits for {epochs} epochs: "
      f"training accuracy {history.history['accuracy'][-1]:.3f}")
  return network


def accuracy(classifier: DigitClassifier, images: np.ndarray, labels: np.ndarray) -> float:
  """Share of images given their label."""
  predicted = classifier.predict(images).probabilities.argmax(axis=1)
  return float(np.mean(predicted == np.asarray(labels)))


def cache_key(images: np.ndarray, labels: np.ndarray, epochs: int = EPOCHS) -> str:
  """A name that changes with the training data, the image size, the epochs and VERSION."""
  digest = hashlib.sha256()
  digest.update(json.dumps([VERSION, epochs, list(images.shape)]).encode())
  digest.update(np.ascontiguousarray(images, np.float32).tobytes())
  digest.update(np.ascontiguousarray(labels, np.int64).tobytes())
  size = "x".join(str(d) for d in images.shape[1:3])
  return f"mnist_classifier_{size}_{digest.hexdigest()[:16]}"


def load_or_train(cache_dir: str, train_images: np.ndarray, train_labels: np.ndarray,
                  test_images: np.ndarray, test_labels: np.ndarray, epochs: int = EPOCHS,
                  log: Callable[[str], None] = print) -> DigitClassifier:
  """The cached classifier of these training arrays, or a new one trained and cached.

  The held-out accuracy on (test_images, test_labels) is measured once, at
  training, and kept beside the weights.
  """
  folder = os.path.join(cache_dir, cache_key(train_images, train_labels, epochs))
  weights, meta_path = os.path.join(folder, "weights"), os.path.join(folder, "meta.json")
  network = build_network(train_images.shape[1:])
  if os.path.isfile(meta_path):
    network.load_weights(weights).expect_partial()
    with open(meta_path) as f:
      meta = json.load(f)
    log(f"classifier loaded from {folder} (held-out accuracy {meta['test_accuracy']:.3f})")
    return DigitClassifier(network, meta["test_accuracy"])
  network = train(train_images, train_labels, epochs, log=log)
  classifier = DigitClassifier(network)
  classifier.test_accuracy = accuracy(classifier, test_images, test_labels)
  log(f"held-out accuracy {classifier.test_accuracy:.3f}; cached in {folder}")
  # Written beside the target and renamed, so a killed run never leaves half a cache.
  os.makedirs(cache_dir, exist_ok=True)
  tmp = tempfile.mkdtemp(dir=cache_dir, prefix=".training-")
  try:
    network.save_weights(os.path.join(tmp, "weights"))
    with open(os.path.join(tmp, "meta.json"), "w") as f:
      json.dump(dict(test_accuracy=classifier.test_accuracy, epochs=epochs,
                     train_images=len(train_images), version=VERSION), f)
    if os.path.isdir(folder):  # another process cached it meanwhile
      shutil.rmtree(tmp)
    else:
      os.replace(tmp, folder)
  except BaseException:
    shutil.rmtree(tmp, ignore_errors=True)
    raise
  return classifier
