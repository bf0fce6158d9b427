"""Writes the Colab notebooks (colab/*.ipynb) from the cells below: edit here, not there.

  python tools/make_notebooks.py [FOLDER]   # default: colab/

The four notebooks (quickstart, paint_your_image, export, unconditional_mnist)
share their parameter, set-up and training cells; keeping them in one script
keeps them in step. tests/test_notebooks.py checks that colab/ holds exactly
what this script writes, and runs every notebook with tools/run_notebook.py
on short settings.
"""
import argparse
import json
import os

from spiral_tf import cli

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def md(text):
  return {"cell_type": "markdown", "metadata": {}, "source": text.strip("\n").splitlines(True)}


def code(text, tags=None):
  meta = {"tags": tags} if tags else {}
  return {"cell_type": "code", "execution_count": None, "metadata": meta, "outputs": [],
          "source": text.strip("\n").splitlines(True)}


PARAMS_COMMON = '''
# Parameters (CI shortens them; see tools/run_notebook.py)
REPO_URL = "https://github.com/YOUR-ACCOUNT/spiral_tf"  # your copy of the repository
RUN_DIR = "runs/colab_quickstart"   # where the agent trains (and is read back from)
TRAIN_MINUTES = 10                  # the CPU-sized default experiment shows learning in minutes
EXTRA_SETTINGS = []                 # more config overrides, e.g. ["train.eval_every_minutes=1"]
'''

SETUP = '''
# Set-up, the Colab way: the system libraries with apt, the package with pip, into this runtime.
import json, os, subprocess, sys
IN_COLAB = "google.colab" in sys.modules

def sh(command):
    """Runs a shell command, prints its output and returns it; stops the notebook if it fails."""
    print("$", command)
    done = subprocess.run(command, shell=True, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    print(done.stdout[-3000:])
    if done.returncode != 0:
        raise RuntimeError(f"command failed with exit code {done.returncode}: {command}")
    return done.stdout

if IN_COLAB:
    if not os.path.exists("spiral_tf"):
        sh(f"git clone -q {REPO_URL} spiral_tf")
    os.chdir("spiral_tf")
    sh("apt-get -qq update && apt-get -qq install -y --no-install-recommends libmypaint-1.5-1 mypaint-brushes libosmesa6")
    sh("pip install -q -e '.[mujoco,export]'")

import spiral_tf  # first: selects Keras 2 before TensorFlow loads
import tensorflow as tf
GPU = bool(tf.config.list_physical_devices("GPU"))
# On a GPU runtime the in-graph actor plays whole episodes with the TF renderer on the GPU.
SETTINGS = (["env.renderer=tf"] if GPU else []) + list(EXTRA_SETTINGS)
PYTHON = sys.executable
print("GPU:", GPU, "| settings:", SETTINGS)
'''

TRAIN_IF_NEEDED = '''
# Train the default experiment briefly unless RUN_DIR already holds a trained agent.
if not globals().get("AGENT") and not os.path.exists(os.path.join(RUN_DIR, "checkpoints", "checkpoint")):
    sets = " ".join(f"--set {s}" for s in SETTINGS)
    sh(f"{PYTHON} tools/train.py --config configs/default.json --profile cpu --run-dir {RUN_DIR} "
       f"--set train.max_minutes={TRAIN_MINUTES} {sets}")
'''

SHOW = '''
import matplotlib.pyplot as plt
from PIL import Image

def show(paths, width=5):
    """Shows image files side by side (matplotlib: works in Colab and headless)."""
    fig, axes = plt.subplots(1, len(paths), figsize=(width * len(paths), width), squeeze=False)
    for ax, path in zip(axes[0], paths):
        ax.imshow(Image.open(path).convert("RGB"))
        ax.set_title(os.path.basename(path))
        ax.axis("off")
    plt.show()
'''

quickstart = [
  md('''
# spiral_tf quickstart

Trains the default SPIRAL experiment (reconstructing targets painted by random 1–3 stroke programs, ℓ2 reward)
on this runtime, evaluates the greedy agent on held-out targets against the blank canvas, and shows its
reconstructions and stroke order. The CPU-sized config takes 30 minutes for 0.42× blank on 2 cores;
`TRAIN_MINUTES = 10` gives a first look. On a GPU runtime training uses the in-graph actor (`env.renderer=tf`).
'''),
  code(PARAMS_COMMON, ["parameters"]),
  code(SETUP),
  code('''
# Trained agents ship with the package: paint with one at once (colab/paint_your_image.ipynb).
from spiral_tf import pretrained
for name in pretrained.list():
    card = pretrained.card(name)
    print(f"{name}: {card['description']}; {card['heldout']['eval_l2_vs_blank']:.2f}x blank on "
          f"{card['heldout']['images']['first']} held-out images after {card['agent_steps']:,} agent steps")
'''),
  code(TRAIN_IF_NEEDED),
  code('''
# Evaluate the greedy policy on held-out targets: l2 against the blank canvas and a random policy.
sh(f"{PYTHON} tools/evaluate.py --run-dir {RUN_DIR}")
with open(os.path.join(RUN_DIR, "eval", "eval.json")) as f:
    report = json.load(f)
print(f"held-out l2: {report['eval_l2_vs_blank']:.2f}x the blank canvas, "
      f"{report['strokes_per_image']:.1f} strokes per image "
      f"(random policy {report['random_policy_l2'] / report['blank_l2']:.2f}x)")
'''),
  code(SHOW + '''
show([os.path.join(RUN_DIR, "eval", n) for n in ("reconstructions.png", "strokes.png")])
show([os.path.join(RUN_DIR, "eval", "curves.png")], width=7)
'''),
  md('''
Next: `colab/paint_your_image.ipynb` (paint your own picture, as SVG and GIF) and `colab/export.ipynb`
(SavedModel for TF Serving, LiteRT). Other experiments: `configs/mnist_conditional.json` (point
`data.path` at the MNIST IDX files), `configs/mnist_unconditional.json`, `configs/omniglot_conditional.json`,
`configs/celeba_conditional.json`; `--profile paper` for the paper's sizes on a GPU.
'''),
]

paint = [
  md('''
# Paint your own image

Upload a PNG or JPEG (any size, grey or colour); a trained conditional agent paints it and
`tools/paint.py` writes the reconstruction, the stroke order, the program (JSON), the strokes as an SVG
(quadratic Bézier paths, any resolution) and a GIF of the painting. Without an upload (or outside Colab)
a sketch drawn here is painted. `AGENT` names a trained agent shipped with the package (no training:
`spiral_tf.pretrained.list()` names them); set it to `""` to train the default experiment in `RUN_DIR`
and paint with that. A drawing is framed as the agent's data set frames its images (MNIST: the ink in
the middle 20/28, at MNIST's stroke width) unless `FRAME = "none"`.
'''),
  code(PARAMS_COMMON + '''IMAGES = []                         # image files to paint; empty: upload (Colab) or a drawn sketch
OUT_DIR = "painted"
AGENT = "mnist"                     # a shipped trained agent; "": train one in RUN_DIR
FRAME = "auto"                      # "auto": frame drawings as the agent's data set; "none": as drawn
''', ["parameters"]),
  code(SETUP),
  code(TRAIN_IF_NEEDED),
  code('''
# The images: uploaded in Colab, else a sketch drawn with PIL.
from PIL import Image, ImageDraw
images = list(IMAGES)
if not images and IN_COLAB:
    from google.colab import files
    for name, data in files.upload().items():
        with open(name, "wb") as f:
            f.write(data)
        images.append(name)
if not images:
    sketch = Image.new("RGB", (240, 240), "white")
    draw = ImageDraw.Draw(sketch)
    draw.line([(40, 200), (120, 40), (200, 200)], fill="black", width=18)
    draw.line([(80, 130), (160, 130)], fill="black", width=18)
    os.makedirs(OUT_DIR, exist_ok=True)
    sketch.save(os.path.join(OUT_DIR, "sketch_input.png"))
    images = [os.path.join(OUT_DIR, "sketch_input.png")]
print(images)
'''),
  code('''
agent = f"--pretrained {AGENT}" if AGENT else f"--run-dir {RUN_DIR}"
out = sh(f"{PYTHON} tools/paint.py {' '.join(images)} {agent} --frame {FRAME} --out {OUT_DIR}")
painted = json.loads(out.strip().splitlines()[-1])
for item in painted["images"]:
    print(item["input"], "-> l2", round(item["l2"], 4), f"({item['l2'] / item['blank_l2']:.2f}x blank) |",
          item["strokes_painted"], "painting actions")
'''),
  code(SHOW + '''
for item in painted["images"]:
    show([item["input"], item["reconstruction"], item["strokes"]], width=3)
    with open(item["svg"]) as f:
        svg = f.read()
    print(svg[:400])
    if IN_COLAB:
        from IPython.display import SVG, Image as GIF, display
        display(SVG(svg), GIF(item["gif"]))
'''),
]

export = [
  md('''
# Export: SavedModel for TF Serving, and LiteRT

`tools/export.py` turns a run folder into a SavedModel (signatures `paint` = `serving_default`, a whole
greedy episode rendered by the TF renderer; `step`, one policy step with Gumbel-max sampling;
`initial_state`) and a LiteRT model of the step. This notebook exports the quickstart's agent, paints with
the SavedModel in plain TensorFlow, builds the request TF Serving would receive, and runs the LiteRT step.
'''),
  code(PARAMS_COMMON + '''EXPORT_DIR = "exported"
''', ["parameters"]),
  code(SETUP),
  code(TRAIN_IF_NEEDED),
  code('''
out = sh(f"{PYTHON} tools/export.py --run-dir {RUN_DIR} --out {EXPORT_DIR} --tflite")
report = json.loads(out.strip().splitlines()[-1])
print("signatures:", report["signatures"], "| LiteRT vs TensorFlow:", report["tflite_max_abs_diff"])
'''),
  code('''
# Plain TensorFlow paints with the export: whole episodes in one call.
import numpy as np
model = tf.saved_model.load(report["saved_model"])
environment = json.loads(model.environment.numpy().decode())
size = environment["canvas_size"]
targets = np.ones((4, size, size, 1), np.float32)
for i in range(4):  # four bars, a few pixels wide
    targets[i, 4 + 5 * i: 7 + 5 * i, 4:size - 4] = 0.0
painted = model.signatures["paint"](target=tf.constant(targets))
print({k: v.shape.as_list() for k, v in painted.items()})
import matplotlib.pyplot as plt
fig, axes = plt.subplots(2, 4, figsize=(8, 4))
for i in range(4):
    axes[0, i].imshow(targets[i, ..., 0], cmap="gray", vmin=0, vmax=1); axes[0, i].axis("off")
    axes[1, i].imshow(painted["final_canvas"][i, ..., 0], cmap="gray", vmin=0, vmax=1); axes[1, i].axis("off")
plt.show()
'''),
  code('''
# What TF Serving receives and returns (gRPC PredictRequest / PredictResponse), fed through the signature.
from tensorflow_serving.apis import predict_pb2
request = predict_pb2.PredictRequest()
request.model_spec.name, request.model_spec.signature_name = "spiral", "paint"
request.inputs["target"].CopyFrom(tf.make_tensor_proto(targets[:1]))
outputs = model.signatures["paint"](target=tf.constant(tf.make_ndarray(request.inputs["target"])))
response = predict_pb2.PredictResponse()
for name, value in outputs.items():
    response.outputs[name].CopyFrom(tf.make_tensor_proto(value.numpy()))
print("program:", {k: tf.make_ndarray(v).tolist() for k, v in response.outputs.items() if k.startswith("action_")})
# The REST body for `POST http://HOST:8501/v1/models/spiral:predict`:
body = json.dumps({"signature_name": "paint", "inputs": {"target": targets[:1].tolist()}})
print(body[:120], "...")
'''),
  code('''
# LiteRT: the host program runs the loop; zero Gumbel noise is the greedy policy.
from ai_edge_litert import interpreter as litert
step = litert.Interpreter(model_path=report["tflite"]).get_signature_runner("step")
inputs = {name: np.zeros([1] + [d for d in detail["shape"][1:]], detail["dtype"])
          for name, detail in step.get_input_details().items()}
inputs["canvas"][:] = 1.0
inputs["target"][:] = targets[:1]
result = step(**inputs)
print({k: v.tolist() for k, v in result.items() if k.startswith("action_")})
'''),
]

unconditional = [
  md('''
# Unconditional MNIST: digits from noise

Trains `configs/mnist_unconditional.json` (the critic reward with the paper's stroke and empty-canvas
penalties; RESULTS.md has the CPU runs) and scores its samples with a small MNIST classifier
that `tools/score_samples.py` trains on the same files: mean top-class probability, how many digit classes
appear, and the Fréchet distance to real digits, each beside random strokes and real digits. MNIST is read
from local IDX files (`t10k-images-idx3-ubyte.gz` and its labels): nothing is downloaded.
'''),
  code(PARAMS_COMMON.replace('"runs/colab_quickstart"', '"runs/colab_unconditional"') + '''DATA_PATH = "data/mnist"               # the folder with the MNIST IDX files
SAMPLES = 64
''', ["parameters"]),
  code(SETUP),
  code('''
if not os.path.exists(os.path.join(RUN_DIR, "checkpoints", "checkpoint")):
    sets = " ".join(f"--set {s}" for s in SETTINGS)
    sh(f"{PYTHON} tools/train.py --config configs/mnist_unconditional.json --profile cpu --run-dir {RUN_DIR} "
       f"--set data.path={DATA_PATH} --set train.max_minutes={TRAIN_MINUTES} {sets}")
'''),
  code('''
sheet = os.path.join(RUN_DIR, "samples.png")
out = sh(f"{PYTHON} tools/score_samples.py --run-dir {RUN_DIR} --samples {SAMPLES} --sampling both "
         f"--mnist-path {DATA_PATH} --sheet {sheet}")
scores = json.loads(out.strip().splitlines()[-1])
for name, row in scores["rows"].items():
    print(f"{name:16s} top-class p {row['mean_top_probability']:.2f} | {row['classes']} classes | "
          f"Frechet {row['frechet']:.1f}")
'''),
  code(SHOW + '''
show([sheet], width=7)
'''),
]

NOTEBOOKS = (("quickstart", quickstart), ("paint_your_image", paint), ("export", export),
             ("unconditional_mnist", unconditional))


def notebook(name: str, cells) -> dict:
  """One notebook's .ipynb contents: its cells, each with a stable id, and Colab's metadata."""
  cells = [dict(c, id=f"{name}-{i}") for i, c in enumerate(cells)]
  return {"cells": cells, "metadata": {"accelerator": "GPU", "colab": {"provenance": []},
                                       "kernelspec": {"display_name": "Python 3",
                                                      "name": "python3"},
                                       "language_info": {"name": "python"}},
          "nbformat": 4, "nbformat_minor": 5}


def main(argv=None):
  """Writes every notebook of NOTEBOOKS into FOLDER (default: colab/)."""
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  cli.add_debug_flag(parser)
  parser.add_argument("folder", nargs="?", default=os.path.join(REPO, "colab"),
                      help="where the notebooks are written (default: colab/)")
  args = parser.parse_args(argv)
  for name, cells in NOTEBOOKS:
    with open(os.path.join(args.folder, f"{name}.ipynb"), "w") as f:
      json.dump(notebook(name, cells), f, indent=1)
      f.write("\n")
  return 0


if __name__ == "__main__":
  cli.run(main)
