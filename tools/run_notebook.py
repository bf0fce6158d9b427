"""Executes a Colab notebook top to bottom, as CI does, without a Jupyter kernel.

  python tools/run_notebook.py colab/quickstart.ipynb [--param TRAIN_MINUTES=0.2 ...] [--cwd DIR]

Runs every code cell in order in one namespace (a notebook's cells share
their variables), with matplotlib drawing off-screen. ``--param NAME=VALUE``
replaces the assignment of NAME in the cell tagged ``parameters`` (the
papermill convention; VALUE is a Python literal), which is how CI shortens
training. A failing cell stops the run: the error names the notebook and the
cell, and the exit code is 1. The notebooks use plain Python (subprocess
for the tools, matplotlib for pictures), so they need no IPython here and
run unchanged in Colab. The last line is JSON: the notebook, the cells run
and the seconds taken.
"""
import argparse
import ast
import json
import os
import sys
import time
import traceback

os.environ.setdefault("MPLBACKEND", "Agg")


def parse_param(text: str):
  name, sep, value = text.partition("=")
  if not sep or not name.isidentifier():
    raise argparse.ArgumentTypeError(f"--param must be NAME=VALUE, got {text!r}")
  try:
    return name, ast.literal_eval(value)
  except (ValueError, SyntaxError):
    return name, value  # a bare word is a string


def code_cells(path: str):
  """[(index, tags, source)] of the notebook's code cells."""
  try:
    with open(path) as f:
      notebook = json.load(f)
  except (OSError, json.JSONDecodeError) as e:
    raise SystemExit(f"error: {path} is not a readable notebook ({e})") from e
  cells = []
  for i, cell in enumerate(notebook.get("cells", [])):
    if cell.get("cell_type") == "code":
      source = cell.get("source", "")
      cells.append((i, cell.get("metadata", {}).get("tags", []),
                    "".join(source) if isinstance(source, list) else source))
  return cells


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("notebook")
  parser.add_argument("--param", type=parse_param, action="append", default=[])
  parser.add_argument("--cwd", default=None, help="run in this folder (default: the current one)")
  args = parser.parse_args(argv)
  path = os.path.abspath(args.notebook)
  cells = code_cells(path)
  params = dict(args.param)
  tagged = [i for i, tags, _ in cells if "parameters" in tags]
  if params and not tagged:
    raise SystemExit(f"error: {path} has no cell tagged 'parameters' for --param")
  if args.cwd:
    os.chdir(args.cwd)
  namespace = {"__name__": "__main__"}
  start = time.time()
  for i, tags, source in cells:
    try:
      exec(compile(source, f"{os.path.basename(path)}, cell {i}", "exec"), namespace)  # pylint: disable=exec-used
      if "parameters" in tags:
        unknown = set(params) - set(namespace)
        if unknown:
          raise NameError(f"--param {sorted(unknown)} not set in the parameters cell")
        namespace.update(params)
    except BaseException:  # pylint: disable=broad-except
      traceback.print_exc()
      print(f"error: {path}: cell {i} failed", file=sys.stderr)
      return 1
  print(json.dumps({"notebook": path, "cells": len(cells), "seconds": round(time.time() - start, 1)}))
  return 0


if __name__ == "__main__":
  sys.exit(main())
