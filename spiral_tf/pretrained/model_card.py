"""The format of a shipped agent's folder: its card, its README, its index, its size limits.

``card.json`` (written by tools/make_pretrained.py) holds:

  name, description
  kind              'conditional' (paints a given image) or 'unconditional' (draws from noise)
  data              {name, licence}: the data set it was trained on
  config            {name, file, profile}: the config and profile it was trained with
  command           the training command
  agent_steps, learner_updates, training_minutes: the run's counters at its checkpoint
  machine, git_commit: where and from which code it was trained
  heldout           the greedy policy's numbers on held-out images, as
                    tools/evaluate.py names them (``NUMBERS``), the ``renderer``
                    that painted them, and ``images``: {data, split, first,
                    seed}: the first N images of the split (seed: the data
                    set's generator seed, data.options.seed; null: its default,
                    or files in a fixed order)
  check             the same on the first ``CHECK_IMAGES`` of them; the tests
                    measure these again
                    (unconditional MNIST agents, ``kind`` 'unconditional': both hold
                    tools/score_samples.py's numbers (``SAMPLE_NUMBERS``) of the
                    greedy policy, the sampling policy and the random policy,
                    each on ``samples.count`` canvases from noise seeded
                    ``samples.seed``, against the digits ``samples`` names)
  line_drawings     painting agents: tools/paint.py on the line drawings of
                    tools/make_line_drawings.py (DRAWING_SIZE px, DRAWING_WIDTHS),
                    which no agent trained on, with --frame auto and none:
                    l2 against the blank canvas', painting actions per image,
                    and how many drawings got at most one
  checkpoint        the policy's checkpoint in the folder; checkpoint_bytes: its size

No TensorFlow here: the package's import reads cards.
"""
import os
from typing import Any, Dict

# pip carries these as package data: each folder at most 5 MB, all at most 20 MB.
MAX_AGENT_BYTES = 5 * 2 ** 20
MAX_TOTAL_BYTES = 20 * 2 ** 20
# Held-out images of the card's ``check`` entry: few enough for a test to paint in seconds.
CHECK_IMAGES = 64
# tools/evaluate.py's numbers a card records (spiral_tf/eval/reconstruction.py names them).
NUMBERS = ("eval_l2", "blank_l2", "eval_l2_vs_blank", "random_policy_l2", "strokes_per_image")
# tools/score_samples.py's numbers an unconditional agent's card records, per policy.
SAMPLE_NUMBERS = ("frechet_painted_vs_random", "frechet_vs_random", "frechet_painted", "frechet",
                  "classes", "mean_top_probability", "strokes_per_image")
SAMPLE_POLICIES = ("greedy_policy", "sampling_policy", "random_policy")
# The line drawings of a card: their size in pixels and line widths (a marker's, a pen's).
DRAWING_SIZE = 128
DRAWING_WIDTHS = (9, 3)
# Config keys that hold paths or addresses of the trainer's machine, and their empty values.
MACHINE_KEYS = {("data", "path"): None, ("train", "init_policy_from"): "",
                ("actors", "ray_address"): ""}


def shipped_config(config: Dict[str, Any]) -> Dict[str, Any]:
  """A copy of a run's config (a dict) without the trainer's paths (``MACHINE_KEYS``)."""
  out = {key: dict(value) if isinstance(value, dict) else value for key, value in config.items()}
  for (section, key), empty in MACHINE_KEYS.items():
    if isinstance(out.get(section), dict) and key in out[section]:
      out[section][key] = empty
  return out


def checkpoint_index(prefix: str) -> str:
  """The ``checkpoints/checkpoint`` file naming ``prefix`` (e.g. 'ckpt-500'), relative.

  TensorFlow joins a relative path to the folder the index is in
  (``tf.train.get_checkpoint_state``), so the folder can move.
  """
  if os.path.isabs(prefix) or os.sep in prefix:
    raise ValueError(f"the index must name a file of its own folder, got {prefix!r}")
  return f'model_checkpoint_path: "{prefix}"\nall_model_checkpoint_paths: "{prefix}"\n'


def folder_bytes(path: str) -> int:
  """The size of every file under ``path``, in bytes."""
  return sum(os.path.getsize(os.path.join(parent, name))
             for parent, _, names in os.walk(path) for name in names)


def _numbers_row(label: str, entry: Dict[str, Any]) -> str:
  cells = [label] + [f"{entry[k]:.4f}" if isinstance(entry.get(k), float) else str(entry.get(k))
                     for k in NUMBERS]
  return "| " + " | ".join(cells) + " |"


def _images_label(images: Dict[str, Any]) -> str:
  seed = f", seed {images['seed']}" if images.get("seed") is not None else ""
  return f"first {images['first']} of {images['data']} {images['split']}{seed}"


def _drawings_lines(entry) -> list:
  """The README's part on line drawings (none for agents that do not paint strokes)."""
  if not entry:
    return []
  rows = [f"| `--frame {frame}` ({entry[frame]['frame'] or 'as drawn'}) | "
          f"{entry[frame]['l2_vs_blank']:.3f} | {entry[frame]['painting_actions_per_image']:.1f} | "
          f"{entry[frame]['one_action_or_none']} of {entry['drawings']} |"
          for frame in ("auto", "none")]
  return ["## Line drawings no agent trained on", "",
          f"`tools/paint.py` on the {entry['drawings']} drawings of `tools/make_line_drawings.py` "
          f"({entry['size']} px; lines {' and '.join(str(w) for w in entry['widths'])} px wide), "
          "as a user's own drawings are painted:", "",
          "| preparation | l2 / blank | painting actions per image | drawings with at most one |",
          "|---|---:|---:|---:|", *rows, ""]


def _format(value) -> str:
  if isinstance(value, float):
    return f"{value:.3f}"
  return "–" if value is None else str(value)


def _samples_lines(card: Dict[str, Any]) -> list:
  """The README's held-out part for an unconditional agent: its samples' scores."""
  name, heldout, check = card["name"], card["heldout"], card["check"]
  rows = []
  for entry, label in ((heldout, ""), (check, " (the tests' check)")):
    for policy in SAMPLE_POLICIES:
      rows.append(f"| {entry['samples']['count']}{label} | {policy.replace('_', ' ')} | "
                  + " | ".join(_format(entry[policy].get(k)) for k in SAMPLE_NUMBERS) + " |")
  samples = heldout["samples"]
  return [
      "## Samples, scored",
      "",
      f"Canvases painted from fresh noise (seed {samples['seed']}), scored by "
      "`tools/score_samples.py` with a small digit classifier (held-out accuracy "
      f"{samples['classifier_test_accuracy']:.3f}): Fréchet distances in its features to "
      f"{samples['reference_digits']} held-out {samples['data']} {samples['split']} digits "
      "('frechet') and to the ink oracle's tracings of them ('frechet_painted', what this "
      "brush can paint), each also over the random policy's; lower is better.",
      "",
      "| samples | policy | " + " | ".join(f"`{k}`" for k in SAMPLE_NUMBERS) + " |",
      "|---" * (len(SAMPLE_NUMBERS) + 2) + "|",
      *rows,
      "",
      "![the check's first samples of the sampling policy](heldout.png)",
      "",
      "Measure them again (the MNIST IDX files at DIR, see docs/data.md):",
      "",
      "```bash",
      f"python tools/score_samples.py --pretrained {name} --mnist-path DIR "
      f"--samples {samples['count']} --seed {samples['seed']}",
      "```",
      "",
  ]


def _heldout_lines(card: Dict[str, Any]) -> list:
  """The README's held-out part for a conditional agent: its reconstructions' numbers."""
  name, data, heldout, check = card["name"], card["data"], card["heldout"], card["check"]
  data_flag = "" if data["name"] == "synthetic" else " --data-path DIR"  # made, not read
  return [
      "## Held-out numbers",
      "",
      "The greedy policy on held-out images, painted by its own environment and measured "
      "by `tools/evaluate.py` (ℓ2: mean squared pixel distance to the target; "
      "`eval_l2_vs_blank` below 1 is better than the blank canvas):",
      "",
      "| images | " + " | ".join(f"`{k}`" for k in NUMBERS) + " |",
      "|---" * (len(NUMBERS) + 1) + "|",
      _numbers_row(_images_label(heldout["images"]), heldout),
      _numbers_row(_images_label(check["images"]) + " (the tests' check)", check),
      "",
      f"![the first {check['images']['first']} held-out images (rows of targets) above their "
      "reconstructions](heldout.png)",
      "",
      "Measure them again" + (" (the data set's files at DIR, see docs/data.md):" if data_flag
                              else ":"),
      "",
      "```bash",
      f"python tools/evaluate.py --pretrained {name}{data_flag} "
      f"--images {heldout['images']['first']} --out eval_{name}",
      "```",
      "",
  ]


def render(card: Dict[str, Any]) -> str:
  """The folder's README.md: the card for people."""
  name, data, config = card["name"], card["data"], card["config"]
  unconditional = card.get("kind") == "unconditional"
  use = (f"draw samples with `python tools/score_samples.py --pretrained {name} --mnist-path DIR "
         "--sheet samples.png`, or export it with `python tools/export.py --pretrained "
         f"{name} --out exported`" if unconditional else
         f"paint an image with `python tools/paint.py IMAGE --pretrained {name} --out painted`")
  lines = [
      f"# `{name}`: {card['description']}",
      "",
      "A trained SPIRAL agent shipped with spiral_tf. Load it with "
      f"`spiral_tf.pretrained.load(\"{name}\")`; {use}.",
      "",
      "| | |",
      "|---|---|",
      f"| data | `{data['name']}`: {data['licence']} |",
      f"| config | `{config['name']}` (`{config['file']}`), profile `{config['profile']}` |",
      f"| training command | `{card['command']}` |",
      f"| agent steps | {card['agent_steps']:,} |",
      f"| learner updates | {card['learner_updates']:,} |",
      f"| training minutes | {card['training_minutes']:.1f} |",
      f"| machine | {card['machine']} |",
      f"| git commit | `{card['git_commit'] or 'unknown'}` |",
      f"| checkpoint | `{card['checkpoint']}`, {card['checkpoint_bytes'] / 2 ** 20:.2f} MB |",
      "",
      *(_samples_lines(card) if unconditional else _heldout_lines(card)),
      *_drawings_lines(card.get("line_drawings")),
      f"The data set's licence is its owners' ({data['licence']}); check it before you "
      "publish what this agent paints.",
      "",
  ]
  return "\n".join(lines)
