"""spiral_tf: SPIRAL (Ganin et al., ICML 2018) in TensorFlow 2 / Keras.

tf-agents 0.19 and tensorflow-probability 0.23 are written against Keras 2,
while TensorFlow 2.21 ships Keras 3 by default. Importing spiral_tf selects
Keras 2 (the tf-keras package) by setting ``TF_USE_LEGACY_KERAS=1``; this only
works if it happens before TensorFlow is first imported, so import spiral_tf
first (or export the variable yourself).

Importing spiral_tf also quiets what TensorFlow and gym print when they load
(TensorFlow's C++ start-up lines, gym's deprecation notice; see
``_QuietStartup``), unless the import fails.
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
# TensorFlow's C++ log below FATAL (3): its start-up notices (no CUDA driver,
# oneDNN, cuInit) are noise on a CPU machine, and its errors reach Python as
# exceptions anyway. Export TF_CPP_MIN_LOG_LEVEL=0 to see its log (the lines
# printed during the import itself are shown only if the import fails).
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


class _QuietStartup:
  """Holds back what a library prints on stderr while it is first imported.

  TensorFlow's C++ start-up lines are written before its log level is read
  (absl's "All log messages before absl::InitializeLog()"), and gym prints
  its deprecation notice on import: neither is a warning to filter. While
  one of ``MODULES`` is imported, file descriptor 2 goes to a temporary file,
  which is replayed if the import fails (so its reason is not lost).
  """

  MODULES = ("tensorflow", "gym")

  def find_spec(self, name, path=None, target=None):
    """Wraps the loader of a MODULES import; other imports are left alone."""
    del path, target
    if name not in self.MODULES or name in _sys.modules:
      return None
    import importlib.util  # pylint: disable=g-import-not-at-top
    _sys.meta_path.remove(self)
    try:
      spec = importlib.util.find_spec(name)
    finally:
      _sys.meta_path.insert(0, self)
    if spec is not None and spec.loader is not None:
      spec.loader = _QuietLoader(spec.loader)
    return spec


class _QuietLoader:
  """A loader that runs another one's exec_module with stderr held back (see _QuietStartup)."""

  def __init__(self, loader):
    self._loader = loader

  def __getattr__(self, attribute):
    return getattr(self._loader, attribute)

  def create_module(self, spec):
    return self._loader.create_module(spec)

  def exec_module(self, module):
    """Imports ``module``; what it printed on stderr is shown only if that failed."""
    import tempfile  # pylint: disable=g-import-not-at-top
    # Both: C++ writes to descriptor 2, Python to sys.stderr, which a tool may
    # have pointed elsewhere (cli.LibraryOutput).
    stderr = _sys.stderr
    stderr.flush()
    saved = _os.dup(2)
    with tempfile.TemporaryFile("w+") as held:
      _os.dup2(held.fileno(), 2)
      _sys.stderr = held
      failed = True
      try:
        self._loader.exec_module(module)
        failed = False
      finally:
        held.flush()
        _point_log_handlers(held, stderr)
        _sys.stderr = stderr
        _os.dup2(saved, 2)
        _os.close(saved)
        if failed:
          held.seek(0)
          stderr.write(held.read())
          stderr.flush()


def _point_log_handlers(old, new) -> None:
  """Points every logging handler that writes to ``old`` (a stream about to close) at ``new``.

  A library that makes its log handler while its import is held back (TensorFlow's
  ``get_logger``) takes the temporary file as its stream; left there, its later
  warnings would end in "--- Logging error --- I/O operation on closed file".
  """
  logging = _sys.modules.get("logging")
  if logging is None:
    return
  loggers = [logging.getLogger()] + [
      logger for logger in list(logging.Logger.manager.loggerDict.values())
      if isinstance(logger, logging.Logger)]
  for logger in loggers:
    for handler in logger.handlers:
      if isinstance(handler, logging.StreamHandler) and handler.stream is old:
        handler.setStream(new)


if not any(isinstance(f, _QuietStartup) for f in _sys.meta_path):
  _sys.meta_path.insert(0, _QuietStartup())

__version__ = "0.1.0"
