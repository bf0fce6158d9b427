"""spiral_tf: SPIRAL (Ganin et al., ICML 2018) in TensorFlow 2 / Keras.

tf-agents 0.19 and tensorflow-probability 0.23 are written against Keras 2,
while TensorFlow 2.21 ships Keras 3 by default. Importing spiral_tf selects
Keras 2 (the tf-keras package) by setting ``TF_USE_LEGACY_KERAS=1``; this only
works if it happens before TensorFlow is first imported, so import spiral_tf
first (or export the variable yourself).
"""
import os as _os
import sys as _sys
import warnings as _warnings

if "tensorflow" in _sys.modules and _os.environ.get("TF_USE_LEGACY_KERAS") != "1":
  _warnings.warn(
      "TensorFlow was imported before spiral_tf without TF_USE_LEGACY_KERAS=1; "
      "tf-agents and tensorflow-probability need Keras 2. Import spiral_tf "
      "first or export TF_USE_LEGACY_KERAS=1.", RuntimeWarning, stacklevel=2)
_os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
# libmypaint's OpenMP threads bring nothing for 64x64 canvases and fight the
# actors and the learner for the cores.
_os.environ.setdefault("OMP_NUM_THREADS", "1")
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"
