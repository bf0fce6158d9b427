"""Deployment: tools/export.py (SavedModel, LiteRT) and tools/paint.py, as a user runs them."""
import functools
import json
import os
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from PIL import Image

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "tests"))
sys.path.insert(0, os.path.join(REPO, "tools"))

from conftest import tool_exit  # noqa: E402


def run_tool(name, *args, expect=0):
  """Runs tools/NAME.py in a fresh process; returns (stdout, stderr)."""
  proc = subprocess.run([sys.executable, os.path.join(REPO, "tools", f"{name}.py"), *args],
                        capture_output=True, text=True, timeout=600, cwd=REPO)
  assert proc.returncode == expect, (proc.returncode, proc.stdout[-2000:], proc.stderr[-3000:])
  return proc.stdout, proc.stderr


def call_tool(capsys, name, *args, expect=0):
  """tools/NAME.py's main as cli.run ends it, in this process; returns ('', stderr).

  For refusals that end before any work: run_tool's fresh process would spend
  its seconds importing TensorFlow to print one line.
  """
  import importlib  # pylint: disable=g-import-not-at-top
  tool = importlib.import_module(name)  # tools/ is on sys.path
  code, err = tool_exit(tool.main, list(args), capsys)
  assert code == expect, (code, err[-3000:])
  return "", err


@pytest.fixture(scope="module")
def run_dir(tiny_trained_run):
  return tiny_trained_run


@pytest.fixture(scope="module")
def exported(run_dir, tmp_path_factory):
  out = tmp_path_factory.mktemp("export")
  stdout, _ = run_tool("export", "--run-dir", run_dir, "--out", str(out), "--tflite")
  return str(out), json.loads(stdout.strip().splitlines()[-1])


@pytest.mark.subprocess
def test_export_writes_a_saved_model_and_a_litert_model_that_agree(exported):
  out, report = exported
  assert report["saved_model"] == os.path.join(out, "saved_model")
  assert report["tflite"] == os.path.join(out, "policy_step.tflite")
  assert report["signatures"] == ["initial_state", "paint", "serving_default", "step"]
  assert report["tflite_max_abs_diff"] < 1e-4
  assert not [n for n in os.listdir(out) if n.startswith(".")], "no temporary folders left"


@pytest.mark.subprocess
def test_saved_model_cli_lists_the_signatures_with_a_free_batch_dimension(exported):
  cli = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
  text = subprocess.run([cli, "show", "--all", "--dir", exported[1]["saved_model"]],
                        capture_output=True, text=True, check=True).stdout
  for name in ("serving_default", "paint", "step", "initial_state"):
    assert f"signature_def['{name}']" in text
  assert "inputs['target'] tensor_info:" in text and "shape: (-1, 16, 16, 1)" in text
  assert "outputs['final_canvas']" in text and "outputs['action_end']" in text


PLAIN_TENSORFLOW = textwrap.dedent("""
  import json, sys
  import numpy as np
  import tensorflow as tf
  model = tf.saved_model.load(sys.argv[1])
  targets = np.ones((3, 16, 16, 1), np.float32)
  targets[:, 4:12, 7:9] = 0.0
  out = model.signatures["paint"](target=tf.constant(targets))
  state = model.signatures["initial_state"](batch_size=tf.constant(3))
  print(json.dumps({"spiral_tf_imported": any(m.startswith("spiral_tf") for m in sys.modules),
                    "outputs": {k: v.shape.as_list() for k, v in out.items()},
                    "last_is_final": bool(np.array_equal(out["canvases"][:, -1], out["final_canvas"])),
                    "first_is_blank": bool(np.all(out["canvases"][:, 0].numpy() == 1.0)),
                    "state": state["state_h"].shape.as_list(),
                    "environment": json.loads(model.environment.numpy().decode())}))
""")


@pytest.mark.subprocess
def test_plain_tensorflow_loads_the_export_and_paints_whole_episodes(exported):
  proc = subprocess.run([sys.executable, "-c", PLAIN_TENSORFLOW, exported[1]["saved_model"]],
                        capture_output=True, text=True, timeout=300,
                        env=dict(os.environ, PYTHONPATH=""), cwd="/")
  assert proc.returncode == 0, proc.stderr[-3000:]
  got = json.loads(proc.stdout.strip().splitlines()[-1])
  assert not got["spiral_tf_imported"]
  assert got["outputs"]["final_canvas"] == [3, 16, 16, 1]
  assert got["outputs"]["canvases"] == [3, 4, 16, 16, 1]
  assert got["outputs"]["action_flag"] == [3, 3]
  assert got["last_is_final"] and got["first_is_blank"]
  assert got["state"] == [3, 32]
  assert got["environment"]["canvas_size"] == 16 and got["environment"]["grid_size"] == 8


@pytest.mark.subprocess
def test_a_serving_predict_request_round_trips_through_the_paint_signature(exported):
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from tensorflow_serving.apis import predict_pb2  # pylint: disable=g-import-not-at-top
  model = tf.saved_model.load(exported[1]["saved_model"])
  image = np.ones((1, 16, 16, 1), np.float32)
  image[0, 8, 2:14] = 0.0
  request = predict_pb2.PredictRequest()
  request.model_spec.name = "spiral"
  request.model_spec.signature_name = "paint"
  request.inputs["target"].CopyFrom(tf.make_tensor_proto(image))
  request = predict_pb2.PredictRequest.FromString(request.SerializeToString())  # over the wire
  signature = model.signatures[request.model_spec.signature_name]
  outputs = signature(**{k: tf.constant(tf.make_ndarray(v)) for k, v in request.inputs.items()})
  response = predict_pb2.PredictResponse()
  for name, value in outputs.items():
    response.outputs[name].CopyFrom(tf.make_tensor_proto(value.numpy()))
  response = predict_pb2.PredictResponse.FromString(response.SerializeToString())
  final = tf.make_ndarray(response.outputs["final_canvas"])
  np.testing.assert_array_equal(final, outputs["final_canvas"].numpy())
  assert tf.make_ndarray(response.outputs["action_end"]).shape == (1, 3)


@pytest.mark.subprocess
def test_litert_runs_greedy_episodes_with_libmypaint_like_the_trained_policy(run_dir, exported):
  """The host loop of the README: LiteRT chooses, libmypaint paints; same programs as the policy."""
  from ai_edge_litert import interpreter as litert  # pylint: disable=g-import-not-at-top
  from spiral_tf.eval import reconstruction  # pylint: disable=g-import-not-at-top
  from spiral_tf.training import builder  # pylint: disable=g-import-not-at-top
  from spiral_tf.training import trained_agent  # pylint: disable=g-import-not-at-top
  trained = trained_agent.load(run_dir)
  targets = builder.load_images(trained.config, "test", 4)
  expected = reconstruction.Evaluator(trained.make_env, trained.policy, 4).run(targets)
  step = litert.Interpreter(model_path=exported[1]["tflite"]).get_signature_runner("step")
  programs = []
  for target in targets:
    env = trained.make_env(targets=[target])
    obs = env.reset().observation
    state_h = state_c = np.zeros((1, 32), np.float32)
    program = []
    for _ in range(env.episode_length):
      inputs = {k: np.asarray(v)[None] for k, v in obs.items()}
      inputs.update(state_h=state_h, state_c=state_c)
      inputs.update({f"gumbel_{c}": np.zeros((1, n), np.float32)
                     for c, n in env.action_counts.items()})
      out = step(**inputs)
      action = {c: int(out[f"action_{c}"][0]) for c in env.action_counts}
      state_h, state_c = out["state_h"], out["state_c"]
      program.append(action)
      obs = env.step(action).observation
    programs.append(program)
  assert programs == expected["programs"]


def write_images(folder):
  """A colour RGBA PNG sketch, a grey white-on-black JPEG, and a wide RGB PNG."""
  folder.mkdir(exist_ok=True)
  rgba = np.zeros((60, 60, 4), np.uint8)  # transparent...
  rgba[10:50, 28:32] = (200, 0, 0, 255)    # ...with a red bar
  Image.fromarray(rgba, "RGBA").save(folder / "bar.png")
  grey = np.zeros((28, 28), np.uint8)
  grey[6:22, 12:16] = 255
  Image.fromarray(grey, "L").save(folder / "digit.jpg", quality=95)
  wide = np.full((40, 120, 3), 255, np.uint8)
  wide[14:26, 10:110] = 0
  Image.fromarray(wide, "RGB").save(folder / "wide.png")
  return [str(folder / n) for n in ("bar.png", "digit.jpg", "wide.png")]


@pytest.mark.subprocess
@pytest.mark.parametrize("source", ["run", "model"])
def test_paint_writes_every_view_of_each_image(run_dir, exported, tmp_path, source):
  images = write_images(tmp_path / "in")
  where = ["--run-dir", run_dir] if source == "run" else ["--model", exported[1]["saved_model"]]
  out = tmp_path / "out"
  sheet = str(out / "sheet.png")
  stdout, _ = run_tool("paint", *images, *where, "--out", str(out), "--scale", "3",
                       "--sheet", sheet)
  report = json.loads(stdout.strip().splitlines()[-1])
  assert len(report["images"]) == 3
  # Rows: input, reconstruction, stroke order at 3x, and the program re-painted 3x larger.
  assert report["sheet"] == sheet
  assert np.asarray(Image.open(sheet)).shape == (3 * 48 + 2 * 4, 4 * 48 + 3 * 4, 3)
  for item in report["images"]:
    name = os.path.splitext(os.path.basename(item["input"]))[0]
    assert item["reconstruction"] == str(out / f"{name}.png")
    canvas = np.asarray(Image.open(item["reconstruction"]), np.float32) / 255.0
    assert canvas.shape == (16, 16)
    program = json.load(open(item["program"]))
    assert len(program) == 3 and set(program[0]) == {"flag", "end", "control", "size"}
    painted = sum(a["flag"] == 1 for a in program)
    assert item["strokes_painted"] == painted
    svg = ET.parse(item["svg"]).getroot()
    assert svg.get("width") == "48"
    assert len(svg.findall("{http://www.w3.org/2000/svg}path")) == painted
    gif = Image.open(item["gif"])
    assert gif.n_frames == 4 and gif.size == (48, 48 + 3), "T + 1 frames, a step bar below"
    assert np.asarray(Image.open(item["strokes"])).shape == (16, 16, 3)
    assert 0.0 <= item["l2"] < 1.0
  assert abs(report["mean_l2"] - np.mean([i["l2"] for i in report["images"]])) < 1e-9


@pytest.mark.subprocess
def test_evaluate_paints_the_held_out_images_with_either_renderer_alike(run_dir):
  """tools/evaluate.py --renderer tf: the transfer measurement's instrument (issue 10)."""
  reports = {}
  for renderer in ("libmypaint", "tf"):
    stdout, _ = run_tool("evaluate", "--run-dir", run_dir, "--images", "16", "--renderer", renderer)
    reports[renderer] = json.loads(stdout.strip().splitlines()[-1])
    folder = "eval" if renderer == "libmypaint" else "eval_tf"
    with open(os.path.join(run_dir, folder, "eval.json")) as f:
      assert json.load(f) == reports[renderer]
  lib, tfr = reports["libmypaint"], reports["tf"]
  assert (lib["renderer"], tfr["renderer"]) == ("libmypaint", "tf")
  assert lib["blank_l2"] == tfr["blank_l2"] and lib["images"] == tfr["images"] == 16
  assert abs(tfr["strokes_per_image"] - lib["strokes_per_image"]) <= 0.5
  ratio = lib["eval_l2_vs_blank"]
  assert abs(tfr["eval_l2_vs_blank"] - ratio) <= 0.1 * ratio, reports
  programs = {}
  for folder in ("eval", "eval_tf"):
    with open(os.path.join(run_dir, folder, "programs.json")) as f:
      programs[folder] = json.load(f)
  # Greedy, same targets, same blank canvas: the first actions are the same.
  assert [p[0] for p in programs["eval"]] == [p[0] for p in programs["eval_tf"]]


def test_user_images_are_read_the_training_way():
  from spiral_tf.eval import painting  # pylint: disable=g-import-not-at-top
  import tempfile  # pylint: disable=g-import-not-at-top
  import pathlib  # pylint: disable=g-import-not-at-top
  folder = pathlib.Path(tempfile.mkdtemp())
  bar, digit, wide = write_images(folder)
  red = painting.load_user_image(bar, 16, 1)
  assert red.shape == (16, 16, 1)
  assert red[0, 0, 0] == pytest.approx(1.0, abs=0.01), "transparency is white paper"
  assert red[8].min() < 0.6, "the red bar is dark ink in grey"
  ink = painting.load_user_image(digit, 16, 1)
  assert ink[0, 0, 0] > 0.95 and ink[8, 7:9].mean() < 0.3, "white-on-black is inverted"
  kept = painting.load_user_image(digit, 16, 1, invert="no")
  assert kept[0, 0, 0] < 0.05
  line = painting.load_user_image(wide, 16, 3)
  assert line.shape == (16, 16, 3)
  assert line[0].min() > 0.95 and line[-1].min() > 0.95, "padded square with paper, not stretched"
  assert line[7:9].min() < 0.5


@pytest.mark.subprocess
def test_bad_inputs_name_the_file_and_write_nothing(run_dir, exported, tmp_path, capsys):
  images = write_images(tmp_path / "in")
  empty = tmp_path / "empty.png"
  empty.write_bytes(b"")
  text = tmp_path / "notes.png"
  text.write_text("not an image")
  gif = tmp_path / "anim.gif"
  Image.new("L", (8, 8)).save(gif)
  out = tmp_path / "out"
  for k, (bad, says) in enumerate(((empty, "is empty"), (text, "not a readable PNG or JPEG"),
                                   (gif, "is a GIF file"), (tmp_path / "in", "is a folder"),
                                   (tmp_path / "missing.png", "does not exist"))):
    run = run_tool if k == 0 else functools.partial(call_tool, capsys)  # one as a user runs it
    _, stderr = run("paint", images[0], str(bad), "--run-dir", run_dir, "--out", str(out),
                    expect=2)
    assert str(bad) in stderr and says in stderr, stderr[-500:]
    last = stderr.strip().splitlines()[-1]
    assert "Traceback" not in stderr and last.startswith("error: ") and str(bad) in last, stderr
    assert not out.exists(), "nothing written when an input is bad"
  _, stderr = call_tool(capsys, "paint", images[0], "--model", str(tmp_path / "in"), "--out",
                        str(out), expect=2)
  assert "is not a SavedModel" in stderr and not out.exists()
  _, stderr = call_tool(capsys, "export", "--run-dir", str(tmp_path / "in"), "--out", str(out),
                        expect=2)
  assert "config.json" in stderr and not out.exists()


@pytest.mark.subprocess
def test_paint_refuses_models_of_the_wrong_kind(tmp_path, capsys):
  """An unconditional painter draws from noise; a SavedModel without 'paint' cannot paint."""
  from spiral_tf.agents import export  # pylint: disable=g-import-not-at-top
  from test_graph_episode import make  # pylint: disable=g-import-not-at-top
  image = write_images(tmp_path / "in")[0]
  env, policy, episode = make(conditional=False)
  unconditional = str(tmp_path / "unconditional")
  export.export_saved_model(export.ExportedAgent(policy, env.action_rules, episode.renderer, 4,
                                                 environment={"canvas_size": 16}), unconditional)
  step_only = str(tmp_path / "step_only")
  export.export_saved_model(export.ExportedAgent(policy, rules=None), step_only)
  out = tmp_path / "out"
  for model, says in ((unconditional, "unconditional agent"), (step_only, "no 'paint' signature")):
    _, stderr = call_tool(capsys, "paint", image, "--model", model, "--out", str(out), expect=2)
    assert model in stderr and says in stderr, stderr[-500:]
    assert not out.exists()
