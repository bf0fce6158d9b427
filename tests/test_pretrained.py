"""Trained agents in the package: spiral_tf.pretrained, tools/make_pretrained.py, --pretrained."""
import configparser
import contextlib
import fnmatch
import io
import json
import math
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from spiral_tf import cli
from spiral_tf import pretrained
from spiral_tf.pretrained import model_card

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "tests"))
sys.path.insert(0, os.path.join(REPO, "tools"))
import evaluate  # noqa: E402  pylint: disable=g-import-not-at-top
import export as export_tool  # noqa: E402  pylint: disable=g-import-not-at-top
import make_pretrained  # noqa: E402  pylint: disable=g-import-not-at-top
import paint  # noqa: E402  pylint: disable=g-import-not-at-top
import score_samples  # noqa: E402  pylint: disable=g-import-not-at-top
from test_sample_scores import tiny_mnist  # noqa: E402,F401  (a fixture)  pylint: disable=g-import-not-at-top
from test_sample_scores import two_checkpoint_run  # noqa: E402  pylint: disable=g-import-not-at-top
from test_training import tiny  # noqa: E402  pylint: disable=g-import-not-at-top
from conftest import tool_exit  # noqa: E402  pylint: disable=g-import-not-at-top

SHIPPED = pretrained.list(pretrained.PACKAGE_ROOT)
COMMAND = "python tools/train.py --config configs/tiny.json --profile cpu --set train.max_minutes=0"


def remeasure(name, entry, data_path, out, capsys):
  """tools/evaluate.py --pretrained on a card entry's images: its report."""
  images = entry["images"]
  argv = ["--pretrained", name, "--images", str(images["first"]), "--split", images["split"],
          "--out", str(out)]
  if data_path:
    argv += ["--data-path", data_path]
  capsys.readouterr()
  assert evaluate.main(argv) == 0
  return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def rescore(name, entry, mnist_path, cache_dir, capsys):
  """tools/score_samples.py --pretrained on an unconditional card entry's samples: its report."""
  samples = entry["samples"]
  capsys.readouterr()
  assert score_samples.main(["--pretrained", name, "--mnist-path", mnist_path, "--samples",
                             str(samples["count"]), "--seed", str(samples["seed"]),
                             "--cache-dir", str(cache_dir)]) == 0
  return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


tool_error = tool_exit  # conftest.py


def snapshot(folder):
  """{file: (size, mtime)} under ``folder``: what a reader must leave as it was."""
  return {os.path.relpath(os.path.join(parent, n), folder):
          (os.path.getsize(os.path.join(parent, n)), os.path.getmtime(os.path.join(parent, n)))
          for parent, _, names in os.walk(folder) for n in names}


@pytest.mark.slow
@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_agent_paints_its_check_images_as_its_card_says(name, shared_data, tmp_path,
                                                                  capsys, monkeypatch):
  monkeypatch.delenv(pretrained.ENV_VAR, raising=False)
  card = pretrained.card(name)
  check = card["check"]
  if card.get("kind") == "unconditional":  # its samples' scores (tools/score_samples.py)
    report = rescore(name, check, os.path.join(shared_data, "mnist"), tmp_path / "cache", capsys)
    for policy in ("greedy policy", "sampling policy"):
      card_value = check[policy.replace(" ", "_")]["frechet_painted_vs_random"]
      assert abs(report["frechet_painted_vs_random"][policy] - card_value) <= 0.05, policy
    assert model_card.folder_bytes(pretrained.folder(name)) <= model_card.MAX_AGENT_BYTES
    return
  data = check["images"]["data"]
  data_path = None if data == "synthetic" else os.path.join(shared_data, data)
  report = remeasure(name, check, data_path, tmp_path / "eval", capsys)
  assert report["images"] == check["images"]["first"]
  assert abs(report["eval_l2_vs_blank"] - check["eval_l2_vs_blank"]) <= 0.03, (report, check)
  assert model_card.folder_bytes(pretrained.folder(name)) <= model_card.MAX_AGENT_BYTES


def test_shipped_agents_together_fit_the_package_and_pip_carries_every_file():
  sizes = {n: model_card.folder_bytes(os.path.join(pretrained.PACKAGE_ROOT, n)) for n in SHIPPED}
  assert sum(sizes.values()) <= model_card.MAX_TOTAL_BYTES, sizes
  parser = configparser.ConfigParser(interpolation=None)
  parser.read(os.path.join(REPO, "setup.cfg"))
  patterns = parser["options.package_data"]["spiral_tf.pretrained"].split()

  def carried(path):  # setuptools' glob: a * stays within one folder
    parts = path.split("/")
    return any(len(p.split("/")) == len(parts) and all(
        fnmatch.fnmatchcase(a, b) for a, b in zip(parts, p.split("/"))) for p in patterns)

  for name in SHIPPED:
    for path in snapshot(os.path.join(pretrained.PACKAGE_ROOT, name)):
      assert carried(f"{name}/{path}"), f"setup.cfg's package data leaves out {name}/{path}"


@pytest.fixture(scope="module")
def run_dir(tiny_trained_run):
  return tiny_trained_run


@pytest.fixture(scope="module")
def made(run_dir, tmp_path_factory):
  """The tiny run packaged as agent 'tiny' in a temporary root: (root, last stdout line)."""
  root = str(tmp_path_factory.mktemp("agents"))
  argv = ["--run-dir", run_dir, "--name", "tiny", "--images", "24", "--command", COMMAND,
          "--machine", "the test machine", "--out", root]
  out = io.StringIO()
  with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stdout(out):
    patch.setattr(model_card, "CHECK_IMAGES", 8)  # a check set smaller than the held-out one
    assert make_pretrained.main(argv) == 0
  return root, json.loads(out.getvalue().strip().splitlines()[-1])


@pytest.mark.subprocess
def test_make_pretrained_ships_the_runs_policy_alone_with_a_relative_index(run_dir, made):
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from spiral_tf.training import trained_agent  # pylint: disable=g-import-not-at-top
  root, report = made
  folder = os.path.join(root, "tiny")
  assert report["folder"] == folder and pretrained.list(root) == ["tiny"]
  assert not [n for n in os.listdir(root) if n != "tiny"], "no temporary folder left"
  assert sorted(os.listdir(folder)) == ["README.md", "card.json", "checkpoints", "config.json",
                                        "heldout.png"]
  run = trained_agent.load(run_dir)
  before = snapshot(folder)
  agent = pretrained.load("tiny", root)
  assert snapshot(folder) == before, "loading wrote into the agent's folder"
  assert agent.learner_step == run.learner_step > 0
  weights, expected = agent.policy.get_weights(), run.policy.get_weights()
  assert len(weights) == len(expected)
  assert all(np.array_equal(a, b) for a, b in zip(weights, expected))
  # One checkpoint, policy and step only, named by a path relative to its folder.
  checkpoints = os.path.join(folder, "checkpoints")
  prefix = f"ckpt-{run.learner_step}"
  assert sorted(os.listdir(checkpoints)) == ["checkpoint", f"{prefix}.data-00000-of-00001",
                                             f"{prefix}.index"]
  with open(os.path.join(checkpoints, "checkpoint")) as f:
    paths = [line.split(":", 1)[1].strip().strip('"') for line in f if line.strip()]
  assert paths == [prefix, prefix]
  assert tf.train.latest_checkpoint(checkpoints) == os.path.join(checkpoints, prefix)
  names = [name for name, _ in tf.train.list_variables(agent.checkpoint)]
  saved = {name.split("/", 1)[0] for name in names}
  assert "policy" in saved and saved <= {"policy", "learner_step", "save_counter",
                                         "_CHECKPOINTABLE_OBJECT_GRAPH"}, saved
  assert not [n for n in names if "OPTIMIZER" in n.upper()], "no optimiser slots"
  # The folder still loads once moved elsewhere (where pip puts it).
  moved = os.path.join(root + "_moved", "tiny")
  shutil.copytree(folder, moved)
  elsewhere = pretrained.load("tiny", os.path.dirname(moved))
  assert elsewhere.checkpoint == os.path.join(moved, "checkpoints", prefix)
  assert all(np.array_equal(a, b) for a, b in zip(elsewhere.policy.get_weights(), expected))


@pytest.mark.subprocess
def test_make_pretrained_cards_the_run_and_numbers_evaluate_measures_again(
    run_dir, made, tmp_path, capsys, monkeypatch):
  from spiral_tf.training import builder  # pylint: disable=g-import-not-at-top
  from spiral_tf.training import trained_agent  # pylint: disable=g-import-not-at-top
  root, report = made
  card = pretrained.card("tiny", root)
  assert report["heldout"] == card["heldout"] and report["check"] == card["check"]
  assert card["command"] == COMMAND and card["machine"] == "the test machine"
  assert card["config"] == {"name": "tiny", "file": "configs/tiny.json", "profile": "cpu"}
  assert card["data"]["name"] == "synthetic" and card["data"]["licence"]
  assert card["learner_updates"] == trained_agent.load(run_dir).learner_step
  assert card["agent_steps"] >= 20 * 16 * 3 and card["training_minutes"] > 0
  for key, first in (("heldout", 24), ("check", 8)):
    entry = card[key]
    assert entry["images"] == {"data": "synthetic", "split": "test", "first": first, "seed": 1}
    assert all(math.isfinite(entry[k]) for k in model_card.NUMBERS), entry
    assert entry["eval_l2_vs_blank"] == pytest.approx(entry["eval_l2"] / entry["blank_l2"])
    assert 0 <= entry["strokes_per_image"] <= 3
  with open(os.path.join(root, "tiny", "README.md")) as f:
    readme = f.read()
  assert f"{card['heldout']['eval_l2_vs_blank']:.4f}" in readme and COMMAND in readme
  # The shipped config is the run's, without the trainer's paths.
  run_config = builder.config_dict(trained_agent.load_config(run_dir))
  with open(os.path.join(root, "tiny", "config.json")) as f:
    shipped = json.load(f)
  assert shipped["data"]["path"] is None
  assert shipped == model_card.shipped_config(run_config)
  # tools/evaluate.py --pretrained finds the card's numbers again, writing nothing into the folder.
  monkeypatch.setenv(pretrained.ENV_VAR, root)
  before = snapshot(os.path.join(root, "tiny"))
  for key in ("heldout", "check"):
    again = remeasure("tiny", card[key], None, tmp_path / key, capsys)
    for number in model_card.NUMBERS:
      assert again[number] == pytest.approx(card[key][number], rel=1e-6), (key, number)
  assert snapshot(os.path.join(root, "tiny")) == before


@pytest.mark.slow
def test_make_pretrained_cards_an_unconditional_mnist_agent_by_its_samples_scores(
    tiny_mnist, tmp_path, capsys, monkeypatch):
  run = two_checkpoint_run(tmp_path, tiny_mnist, conditional=False)
  root, cache = tmp_path / "agents", tmp_path / "cache"
  monkeypatch.setattr(model_card, "CHECK_IMAGES", 6)
  assert make_pretrained.main(["--run-dir", str(run), "--name", "drawer", "--images", "10",
                               "--command", COMMAND, "--out", str(root),
                               "--data-path", tiny_mnist, "--cache-dir", str(cache)]) == 0
  capsys.readouterr()
  card = pretrained.card("drawer", str(root))
  assert card["kind"] == "unconditional" and card["line_drawings"] is None
  assert card["agent_steps"] == 5000 and card["learner_updates"] == 50
  assert "from noise" in card["description"]
  assert sorted(os.listdir(root / "drawer")) == ["README.md", "card.json", "checkpoints",
                                                 "config.json", "heldout.png"]
  for key, count in (("heldout", 10), ("check", 6)):
    entry = card[key]
    assert entry["samples"]["count"] == count and entry["samples"]["seed"] == 0
    assert entry["random_policy"]["frechet_painted_vs_random"] == 1.0
    # tools/score_samples.py --pretrained finds the card's numbers again.
    monkeypatch.setenv(pretrained.ENV_VAR, str(root))
    report = rescore("drawer", entry, tiny_mnist, cache, capsys)
    for policy in ("greedy policy", "sampling policy", "random policy"):
      mine = entry[policy.replace(" ", "_")]
      for number in ("frechet", "frechet_painted", "classes", "mean_top_probability"):
        assert mine[number] == pytest.approx(report["rows"][policy][number], rel=1e-6), number
    assert mine["strokes_per_image"] is None  # the random policy's strokes are not counted
  readme = (root / "drawer" / "README.md").read_text()
  assert "## Samples, scored" in readme and "score_samples.py --pretrained drawer" in readme
  assert "tools/paint.py IMAGE" not in readme
  sheet = Image.open(root / "drawer" / "heldout.png")
  assert sheet.size[0] > 16 * 6  # six samples side by side, scaled


@pytest.mark.slow
def test_make_pretrained_refuses_an_unconditional_agent_of_another_data_set(tmp_path, capsys):
  run = tmp_path / "run"
  run.mkdir()
  (run / "config.json").write_text(json.dumps({"data": {"name": "omniglot"},
                                               "train": {"conditional": False},
                                               "reward": {"kind": "critic"}}))
  (run / "checkpoints").mkdir()
  (run / "checkpoints" / "ckpt-1.index").write_bytes(b"")
  code, err = tool_error(make_pretrained.main, ["--run-dir", str(run), "--name", "x",
                                                "--command", COMMAND, "--out",
                                                str(tmp_path / "agents")], capsys)
  assert code == cli.USER_ERROR and len(err.strip().splitlines()) == 1
  assert "unconditional agent on 'omniglot'" in err and "only unconditional MNIST" in err
  assert not (tmp_path / "agents").exists()


@pytest.mark.subprocess
def test_paint_and_export_take_a_pretrained_agent_by_name(made, tmp_path, capsys, monkeypatch):
  root, _ = made
  monkeypatch.setenv(pretrained.ENV_VAR, root)
  before = snapshot(os.path.join(root, "tiny"))
  image = np.full((20, 20), 255, np.uint8)
  image[8:12, 2:18] = 0
  Image.fromarray(image, "L").save(tmp_path / "bar.png")
  capsys.readouterr()
  assert paint.main([str(tmp_path / "bar.png"), "--pretrained", "tiny",
                     "--out", str(tmp_path / "painted")]) == 0
  painted = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
  assert painted["source"].startswith(os.path.join(root, "tiny", "checkpoints"))
  assert os.path.exists(painted["images"][0]["reconstruction"])
  assert export_tool.main(["--pretrained", "tiny", "--out", str(tmp_path / "export")]) == 0
  exported = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
  assert exported["pretrained"] == "tiny" and os.path.isdir(exported["saved_model"])
  assert snapshot(os.path.join(root, "tiny")) == before


@pytest.mark.subprocess
def test_make_pretrained_refuses_an_existing_agent_or_a_large_one_and_keeps_the_old(
    run_dir, made, capsys, monkeypatch):
  root, _ = made
  before = snapshot(os.path.join(root, "tiny"))
  argv = ["--run-dir", run_dir, "--name", "tiny", "--images", "8", "--command", COMMAND,
          "--out", root]
  code, err = tool_error(make_pretrained.main, argv, capsys)
  assert code == cli.USER_ERROR and "exists; pass --replace" in err and len(err.splitlines()) == 1
  monkeypatch.setattr(model_card, "MAX_AGENT_BYTES", 1000)
  code, err = tool_error(make_pretrained.main, argv + ["--replace"], capsys)
  assert code == cli.USER_ERROR and "MB a shipped agent may take" in err, err
  assert len(err.splitlines()) == 1
  assert os.listdir(root) == ["tiny"], "the refused folder is gone, the old one is kept"
  assert snapshot(os.path.join(root, "tiny")) == before


@pytest.mark.parametrize("name", ["MNIST", "1st", "my-agent", "class", "mnist.v2"])
def test_make_pretrained_refuses_a_name_that_is_not_a_lowercase_identifier(
    name, tmp_path, capsys):
  argv = ["--run-dir", str(tmp_path), "--name", name, "--command", COMMAND,
          "--out", str(tmp_path / "agents")]
  code, err = tool_error(make_pretrained.main, argv, capsys)
  assert code == cli.USER_ERROR and "not a lowercase identifier" in err
  assert len(err.splitlines()) == 1
  assert not (tmp_path / "agents").exists()


def test_make_pretrained_refuses_a_run_with_no_checkpoint(tmp_path, capsys):
  from spiral_tf.training import builder  # pylint: disable=g-import-not-at-top
  (tmp_path / "run").mkdir()
  (tmp_path / "run" / "config.json").write_text(json.dumps(builder.config_dict(tiny())))
  argv = ["--run-dir", str(tmp_path / "run"), "--name", "tiny", "--command", COMMAND,
          "--out", str(tmp_path / "agents")]
  code, err = tool_error(make_pretrained.main, argv, capsys)
  assert code == cli.USER_ERROR and "holds no checkpoint" in err and len(err.splitlines()) == 1
  assert not (tmp_path / "agents").exists()


def fake_agents(root, names):
  """Folders that list() counts as agents (it reads no weights)."""
  for name in names:
    os.makedirs(os.path.join(root, name))
    for required in pretrained.REQUIRED_FILES:
      with open(os.path.join(root, name, required), "w") as f:
        f.write("{}")


@pytest.mark.parametrize("tool", ["paint", "evaluate", "export"])
def test_an_unknown_agent_is_one_error_line_listing_the_agents(tool, tmp_path, capsys, monkeypatch):
  root = str(tmp_path / "agents")
  fake_agents(root, ["beta", "alpha", ".alpha.tmp", "Upper"])
  os.makedirs(os.path.join(root, "__pycache__"))
  os.makedirs(os.path.join(root, "half"))  # no card.json: not an agent
  assert pretrained.list(root) == ["alpha", "beta"]
  monkeypatch.setenv(pretrained.ENV_VAR, root)
  main = {"paint": paint.main, "evaluate": evaluate.main, "export": export_tool.main}[tool]
  argv = (["x.png"] if tool == "paint" else []) + ["--pretrained", "nope",
                                                   "--out", str(tmp_path / "out")]
  code, err = tool_error(main, argv, capsys)
  assert code == cli.USER_ERROR
  assert err == "error: no trained agent named 'nope'; available: alpha, beta\n"
  assert not (tmp_path / "out").exists()


def test_with_no_agent_shipped_the_error_says_how_to_make_one(tmp_path):
  with pytest.raises(pretrained.UnknownAgentError) as error:
    pretrained.load("mnist", str(tmp_path))
  assert isinstance(error.value, cli.UserError)
  assert "none is shipped" in str(error.value) and "tools/make_pretrained.py" in str(error.value)
  assert pretrained.list(str(tmp_path / "missing")) == []


@pytest.mark.parametrize("tool", ["paint", "evaluate", "export"])
def test_pretrained_and_run_dir_together_are_refused(tool, tmp_path, capsys):
  main = {"paint": paint.main, "evaluate": evaluate.main, "export": export_tool.main}[tool]
  argv = (["x.png"] if tool == "paint" else []) + [
      "--pretrained", "mnist", "--run-dir", str(tmp_path), "--out", str(tmp_path / "out")]
  with pytest.raises(SystemExit) as exit_info:
    main(argv)
  assert exit_info.value.code == cli.USER_ERROR
  assert "not allowed with argument" in capsys.readouterr().err


@pytest.mark.subprocess
def test_importing_and_listing_the_agents_needs_no_tensorflow():
  code = ("import sys; sys.modules['tensorflow'] = None\n"
          "from spiral_tf import pretrained\n"
          "print(pretrained.list(pretrained.PACKAGE_ROOT))\n")
  out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO,
                       timeout=120, check=False)
  assert out.returncode == 0, out.stderr
  assert out.stdout.strip() == str(SHIPPED)
