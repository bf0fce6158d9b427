"""Trained agents shipped with the package: ``list()`` names them, ``load(name)`` restores one.

Each agent is a folder ``spiral_tf/pretrained/<name>/`` (package data) that
``trained_agent.load`` reads as it reads a run folder of tools/train.py:

  config.json   the run's config, with no path of the trainer's machine
                (``data.path`` is null: the data set is the user's to give)
  checkpoints/  one policy-only checkpoint ``ckpt-<learner updates>`` (the
                ``policy`` and ``learner_step``; no critic, no optimiser) and
                its ``checkpoint`` index, whose paths are relative to the
                folder, so it works wherever pip puts it
  card.json     what the agent is and how it was measured (``model_card.py``)
  README.md     card.json for people (``model_card.render``)
  heldout.png   the card's check images above their reconstructions (an
                unconditional agent: its check samples)

``tools/make_pretrained.py`` writes such a folder from a trained run.
Loading one writes nothing into it. Importing this module does not import
TensorFlow: ``list`` reads folders only, ``load`` imports it. Another root
folder (a test's, an unpacked release) is given with ``root=`` or in the
environment variable ``SPIRAL_PRETRAINED_DIR``.
"""
import json
import keyword
import os
import re
from typing import Callable, List, Optional

from spiral_tf import cli

ENV_VAR = "SPIRAL_PRETRAINED_DIR"
PACKAGE_ROOT = os.path.dirname(os.path.abspath(__file__))
# A lowercase identifier: the same word as a folder, a package-data path and
# a command-line value. Temporary folders (".name.xyz") and __pycache__ are not names.
_NAME = re.compile(r"[a-z][a-z0-9_]*")
# What makes a folder an agent; README.md and heldout.png are for people.
REQUIRED_FILES = ("card.json", "config.json")


class UnknownAgentError(cli.UserError):
  """No agent of that name; the message lists the names there are."""


def valid_name(name: str) -> bool:
  """Whether ``name`` can name an agent: a lowercase identifier, not a Python keyword."""
  return bool(_NAME.fullmatch(name)) and not keyword.iskeyword(name)


def agents_root(root: Optional[str] = None) -> str:
  """The folder of the agents: ``root``, else $SPIRAL_PRETRAINED_DIR, else this package's."""
  return root or os.environ.get(ENV_VAR) or PACKAGE_ROOT


def list(root: Optional[str] = None) -> List[str]:  # pylint: disable=redefined-builtin
  """The names of the agents, sorted (reads folders only: no TensorFlow)."""
  where = agents_root(root)
  if not os.path.isdir(where):
    return []
  return sorted(name for name in os.listdir(where) if valid_name(name) and all(
      os.path.isfile(os.path.join(where, name, f)) for f in REQUIRED_FILES))


def _unknown(name: str, names: List[str], where: str) -> str:
  if names:
    return f"no trained agent named {name!r}; available: {', '.join(names)}"
  return (f"no trained agent named {name!r}: none is shipped in {where} yet. Make one from a "
          "trained run with tools/make_pretrained.py --run-dir RUN --name NAME --data-path DIR "
          "--command \"the training command\" (README, Trained agents)")


def folder(name: str, root: Optional[str] = None) -> str:
  """The folder of agent ``name``; UnknownAgentError (listing the names) if there is none."""
  where = agents_root(root)
  names = list(root)
  if name not in names:
    raise UnknownAgentError(_unknown(name, names, where))
  return os.path.join(where, name)


def card(name: str, root: Optional[str] = None) -> dict:
  """Agent ``name``'s card.json: data, config, training, held-out numbers (see model_card.py)."""
  with open(os.path.join(folder(name, root), "card.json")) as f:
    return json.load(f)


def load(name: str, root: Optional[str] = None, data_path: Optional[str] = None,
         log: Callable[[str], None] = print):
  """Agent ``name`` as a ``trained_agent.TrainedAgent`` (what tools/evaluate.py uses).

  Args:
    name: one of ``list(root)``.
    root: the folder of the agents (see ``agents_root``).
    data_path: the data set's files on this machine, for held-out images
      (``builder.load_images``); painting users' images needs none.
    log: where a skipped, damaged checkpoint would be reported.
  """
  path = folder(name, root)
  from spiral_tf.training import trained_agent  # pylint: disable=g-import-not-at-top  (TensorFlow)
  agent = trained_agent.load(path, log)
  if data_path is not None:
    agent.config.data.path = data_path
  return agent
