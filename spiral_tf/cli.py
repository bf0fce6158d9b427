"""How every tool in ``tools/`` ends: a user's mistake is one line, a bug a traceback.

Usage in a tool::

  def main(argv=None):
    parser = argparse.ArgumentParser(...)
    cli.add_debug_flag(parser)
    ...

  if __name__ == "__main__":
    cli.run(main)

A user error (one of the project's own error types, see ``OWN_ERRORS``, or
a missing, unwritable or misplaced file or folder) prints ``error: <message>``
on stderr and exits with ``USER_ERROR`` (2, argparse's code for bad usage);
its traceback is shown only with ``--debug``. Anything else, a plain
ValueError from inside TensorFlow included, is a bug: Python's traceback and
exit code 1, as usual. Both tracebacks are appended to the run's log file
once a tool has named one (``set_log_file``).
"""
import argparse
import contextlib
import datetime
import faulthandler
import os
import signal
import sys
import tempfile
import traceback
from typing import Callable, Optional, Sequence, Tuple, Type

import spiral_tf

USER_ERROR = 2
INTERRUPTED = 130  # 128 + SIGINT, what shells report for Ctrl-C

_log_file: Optional[str] = None
_console = None  # the real stderr while library output is captured


class UserError(ValueError):
  """A tool's own user error (also wraps a library error that is not in OWN_ERRORS)."""


class LibraryOutput:
  """Sends what libraries print (TensorFlow's C++ log, CUDA stubs, gym's notice) to a file.

  From ``capture()`` on, file descriptor 2 and ``sys.stderr`` go to a
  temporary file, so spawned actor processes inherit it too; ``to_log(path)``
  moves what was captured into the run's log file and sends the rest there.
  The console keeps the tool's own lines (stdout) and its errors (``console()``).
  """

  def __init__(self):
    self._file = None

  def capture(self):
    global _console
    _console = os.fdopen(os.dup(2), "w", buffering=1)
    self._file = tempfile.TemporaryFile("w+")
    self._redirect(self._file)
    return self

  def to_log(self, path: str):
    """Appends the captured output to ``path`` and sends later output there too."""
    log = open(path, "a", buffering=1)  # pylint: disable=consider-using-with
    captured, self._file = self._file, log
    if captured is not None:
      captured.flush()
      captured.seek(0)
      log.write(captured.read())
    self._redirect(log)
    if captured is not None:
      spiral_tf._point_log_handlers(captured, log)  # pylint: disable=protected-access
      captured.close()
    set_log_file(path)

  @staticmethod
  def _redirect(stream):
    sys.stderr.flush()
    os.dup2(stream.fileno(), 2)
    sys.stderr = stream


def console():
  """Where a tool's errors go: the real stderr, also while library output is captured."""
  return _console if _console is not None else sys.stderr


# The project's own error types, (module, class): each message says what to fix.
OWN_ERRORS = (
    ("spiral_tf.config_checks", "ConfigError"),            # a config file or --set value
    ("spiral_tf.data.images", "DataError"),                 # a data set file (all loaders)
    ("spiral_tf.envs.specs", "InvalidActionError"),         # an action out of its spec
    ("spiral_tf.training.checkpointing", "CheckpointError"),
    ("spiral_tf.training.run_folder", "RunFolderError"),    # a locked or changed run folder
    ("spiral_tf.envs.libmypaint_ffi", "LibMyPaintNotFoundError"),  # what to install
    ("spiral_tf.envs.mujoco_render", "GLBackendError"),     # what to install or set
    ("spiral_tf.eval.painting", "ImageFileError"),          # an image given to paint
)
# File-system errors: a path the user gave is missing, unwritable, or a file
# where a folder belongs (or the reverse).
PATH_ERRORS = (FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError,
               FileExistsError)


def user_error_types() -> Tuple[Type[BaseException], ...]:
  """The exception types that are a user's mistake, not a bug: ours and PATH_ERRORS.

  Taken only from modules already imported (an error cannot come from one
  that is not), so classifying an error never loads TensorFlow.
  """
  own = tuple(getattr(sys.modules[module], name) for module, name in OWN_ERRORS
              if module in sys.modules)
  return (UserError,) + own + PATH_ERRORS


def add_debug_flag(parser: argparse.ArgumentParser):
  """Adds ``--debug``: show the traceback of a user error too."""
  parser.add_argument("--debug", action="store_true",
                      help="on an error, print the full traceback too")


def add_config_flags(parser: argparse.ArgumentParser, example: str = "train.max_minutes=5"):
  """The flags of a tool that trains a config: --config, --profile, --set, --run-dir."""
  parser.add_argument("--config", default="configs/default.json")
  parser.add_argument("--profile", default="cpu", help="a profile of the config: cpu or paper")
  parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                      help=f"override a config value (JSON), e.g. --set {example}")
  parser.add_argument("--run-dir", default=None)


def positive_int(text: str) -> int:
  """argparse type: an integer >= 1."""
  try:
    value = int(text)
  except ValueError:
    raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None
  if value < 1:
    raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
  return value


def non_negative_float(text: str) -> float:
  """argparse type: a finite number >= 0."""
  try:
    value = float(text)
  except ValueError:
    raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
  if not 0.0 <= value < float("inf"):
    raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text}")
  return value


def set_log_file(path: Optional[str]):
  """Where the tracebacks of user errors go from now on (e.g. RUN_DIR/train.log)."""
  global _log_file
  _log_file = path


def describe(error: BaseException) -> str:
  """The one line a user sees for ``error``."""
  if isinstance(error, OSError) and error.strerror and error.filename:
    if isinstance(error, FileExistsError):  # os.makedirs on a file
      return f"{error.filename}: is a file, not a folder; choose another path"
    if isinstance(error, NotADirectoryError):
      return f"{error.filename}: part of this path is a file, not a folder"
    return f"{error.filename}: {error.strerror}"
  text = " ".join(str(error).split()) or type(error).__name__
  return text


def _append_to_log(text: str):
  if not _log_file or not os.path.isdir(os.path.dirname(_log_file) or "."):
    return
  try:
    with open(_log_file, "a") as f:
      f.write(f"--- {datetime.datetime.now().isoformat(timespec='seconds')} ---\n{text}")
  except OSError:
    pass  # the run folder itself may be what is wrong


_interrupt = {"deferred": False, "signal": 0}  # see interrupts_at_safe_points


def _raise_interrupt(signum, frame):
  del frame
  if _interrupt["deferred"] and not _interrupt["signal"]:
    _interrupt["signal"] = signum  # the loop stops at its next safe point
    return
  raise KeyboardInterrupt(f"signal {signum}")


def stop_cleanly_on_signals():
  """Ctrl-C, ``kill -INT`` and ``kill -TERM`` (what schedulers send) raise KeyboardInterrupt.

  A job started in the background by a non-interactive shell (``nohup ... &``)
  inherits SIGINT as ignored and SIGTERM kills Python without running any
  cleanup; after this call both reach the tool as an interruption it can end
  cleanly (training saves a checkpoint first). Inside
  ``interrupts_at_safe_points`` the first one is only recorded. Main thread only.
  """
  signal.signal(signal.SIGINT, _raise_interrupt)
  signal.signal(signal.SIGTERM, _raise_interrupt)


@contextlib.contextmanager
def interrupts_at_safe_points():
  """Inside, a first Ctrl-C or SIGTERM is recorded, not raised; a second one raises at once.

  For a loop that polls ``interrupt_requested`` between its steps: a
  KeyboardInterrupt raised at an arbitrary point of TensorFlow's Python code
  (inside a tf.function call or a tf.data iterator's next) can leave its
  state half-updated for the checkpoint written next, or crash the process as
  it ends. Only signals routed here by ``stop_cleanly_on_signals`` are
  deferred; a plain Python process keeps its usual Ctrl-C.
  """
  _interrupt.update(deferred=True, signal=0)
  try:
    yield
  finally:
    _interrupt.update(deferred=False, signal=0)


def interrupt_requested() -> int:
  """The signal number recorded inside ``interrupts_at_safe_points`` (0 if none)."""
  return _interrupt["signal"]


def _report_crashes():
  """A crash inside a library (a segmentation fault) prints every thread's Python stack.

  On the console (the real stderr, also while LibraryOutput captures file
  descriptor 2), where the user and a test capturing stderr see it.
  """
  if faulthandler.is_enabled():
    return
  try:
    faulthandler.enable(file=console(), all_threads=True)
  except (AttributeError, ValueError, OSError):  # a console without a file (captured)
    pass


def run(main: Callable[[Optional[Sequence[str]]], Optional[int]],
        argv: Optional[Sequence[str]] = None,
        user_errors: Sequence[Type[BaseException]] = ()) -> None:
  """Calls ``main(argv)`` and exits with its code; user errors become one line (module doc).

  ``user_errors``: more exception types to treat as user errors (e.g. a
  library's error that is a user's mistake only in this tool).
  """
  args = sys.argv[1:] if argv is None else list(argv)
  debug = "--debug" in args
  _report_crashes()
  try:
    code = main() if argv is None else main(argv)
  except KeyboardInterrupt:
    print("interrupted", file=console())
    sys.exit(INTERRUPTED)
  except user_error_types() + tuple(user_errors) as e:  # pylint: disable=catching-non-exception
    details = traceback.format_exc()
    _append_to_log(details)
    if debug:
      console().write(details)
    print(f"error: {describe(e)}", file=console())
    sys.exit(USER_ERROR)
  except Exception:  # a bug: its traceback goes to the log too, and to stderr as usual
    _append_to_log(traceback.format_exc())
    if _console is None:
      raise
    console().write(traceback.format_exc())  # stderr is the run's log: show it here
    sys.exit(1)
  sys.exit(code or 0)
