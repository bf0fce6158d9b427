"""The Colab notebooks run top to bottom (tools/run_notebook.py, short training), as CI runs them."""
import json
import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NOTEBOOKS = ("quickstart", "paint_your_image", "export", "unconditional_mnist")


def run_notebook(name, **params):
  cmd = [sys.executable, os.path.join(REPO, "tools", "run_notebook.py"),
         os.path.join(REPO, "colab", f"{name}.ipynb")]
  for key, value in params.items():
    cmd += ["--param", f"{key}={value!r}"]
  proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900, cwd=REPO)
  assert proc.returncode == 0, (proc.stdout[-3000:], proc.stderr[-3000:])
  return proc.stdout, json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def quickstart(tmp_path_factory):
  run_dir = str(tmp_path_factory.mktemp("notebooks") / "run")
  stdout, summary = run_notebook("quickstart", RUN_DIR=run_dir, TRAIN_MINUTES=0.1,
                                 EXTRA_SETTINGS=["data.eval_images=8"])
  return run_dir, stdout, summary


@pytest.mark.notebook
def test_quickstart_trains_evaluates_and_shows_the_results(quickstart):
  run_dir, stdout, summary = quickstart
  assert summary["cells"] == 6
  from spiral_tf import pretrained  # pylint: disable=g-import-not-at-top
  for name in pretrained.list():  # the shipped agents are shown before training
    assert f"{name}: {pretrained.card(name)['description']}" in stdout
  with open(os.path.join(run_dir, "eval", "eval.json")) as f:
    report = json.load(f)
  assert f"held-out l2: {report['eval_l2_vs_blank']:.2f}x the blank canvas" in stdout
  for name in ("reconstructions.png", "strokes.png", "curves.png"):
    assert os.path.exists(os.path.join(run_dir, "eval", name))


@pytest.mark.notebook
def test_paint_notebook_paints_a_sketch_with_a_shipped_agent_at_once_into_every_view(tmp_path):
  out, run_dir = tmp_path / "painted", tmp_path / "never_trained"
  stdout, summary = run_notebook("paint_your_image", RUN_DIR=str(run_dir), OUT_DIR=str(out))
  assert summary["cells"] == 6
  assert not run_dir.exists(), "a shipped agent paints without training"
  for suffix in (".png", "_strokes.png", ".json", ".svg", ".gif"):
    assert (out / f"sketch_input{suffix}").exists(), suffix
  assert "<svg" in stdout and "x blank) |" in stdout
  assert "--pretrained mnist --frame auto" in stdout


@pytest.mark.notebook
def test_export_notebook_serves_and_runs_litert(quickstart, tmp_path):
  out = tmp_path / "exported"
  stdout, summary = run_notebook("export", RUN_DIR=quickstart[0], EXPORT_DIR=str(out))
  assert summary["cells"] == 7
  assert (out / "saved_model" / "saved_model.pb").exists() and (out / "policy_step.tflite").exists()
  assert "signatures: ['initial_state', 'paint', 'serving_default', 'step']" in stdout
  assert '{"signature_name": "paint", "inputs": {"target": [[[[1.0]' in stdout


@pytest.mark.notebook
def test_unconditional_notebook_trains_and_scores_samples(tmp_path, shared_data):
  run_dir = str(tmp_path / "run")
  stdout, summary = run_notebook("unconditional_mnist", RUN_DIR=run_dir, TRAIN_MINUTES=0.1,
                                 DATA_PATH=os.path.join(shared_data, "mnist"), SAMPLES=32,
                                 EXTRA_SETTINGS=["data.eval_images=8"])
  assert summary["cells"] == 5
  assert os.path.exists(os.path.join(run_dir, "samples.png"))
  for name in ("greedy policy", "random policy", "real digits"):
    assert name in stdout and "Frechet" in stdout


@pytest.mark.subprocess
def test_notebooks_are_the_generated_ones_and_a_bad_cell_fails_the_run(tmp_path):
  """colab/*.ipynb come from tools/make_notebooks.py; a failing cell is exit code 1, named."""
  subprocess.run([sys.executable, os.path.join(REPO, "tools", "make_notebooks.py"), str(tmp_path)],
                 check=True)
  for name in NOTEBOOKS:
    with open(tmp_path / f"{name}.ipynb") as a, open(os.path.join(REPO, "colab", f"{name}.ipynb")) as b:
      assert a.read() == b.read(), f"colab/{name}.ipynb was edited by hand: regenerate it"
  broken = tmp_path / "broken.ipynb"
  broken.write_text(json.dumps({"cells": [
      {"cell_type": "code", "metadata": {}, "source": ["x = 1\n"]},
      {"cell_type": "code", "metadata": {}, "source": ["raise ValueError('cell two')\n"]}]}))
  proc = subprocess.run([sys.executable, os.path.join(REPO, "tools", "run_notebook.py"), str(broken)],
                        capture_output=True, text=True)
  assert proc.returncode == 1
  assert "cell 1 failed" in proc.stderr and "ValueError: cell two" in proc.stderr


def test_importing_make_notebooks_writes_nothing_and_its_main_writes_the_four(tmp_path,
                                                                             monkeypatch):
  import importlib.util  # pylint: disable=g-import-not-at-top
  imported, written = tmp_path / "imported", tmp_path / "written"
  imported.mkdir()
  written.mkdir()
  monkeypatch.setattr(sys, "argv", ["make_notebooks.py", str(imported)])
  spec = importlib.util.spec_from_file_location(
      "make_notebooks", os.path.join(REPO, "tools", "make_notebooks.py"))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  assert not list(imported.iterdir()), "importing the module wrote notebooks"
  assert module.main([str(written)]) == 0
  assert sorted(p.name for p in written.iterdir()) == sorted(f"{n}.ipynb" for n in NOTEBOOKS)
  for name in NOTEBOOKS:
    assert (written / f"{name}.ipynb").read_text() == \
        open(os.path.join(REPO, "colab", f"{name}.ipynb")).read()
