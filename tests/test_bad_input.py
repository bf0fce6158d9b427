"""Bad data files and command-line mistakes end in one clear error naming the problem.

The data files are made in tmp_path; the command-line probes run the tools as
subprocesses (each imports TensorFlow: a few seconds, no training).
"""
import gzip
import json
import io
import os
import subprocess
import sys
import zipfile
import zlib

import numpy as np
import pytest
from PIL import Image

from spiral_tf import cli
from spiral_tf import config as config_lib
from spiral_tf import data
from spiral_tf.data import folder
from spiral_tf.data import images as images_lib

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def png_bytes(seed=0, size=24) -> bytes:
  pixels = np.random.default_rng(seed).integers(0, 256, (size, size, 3), np.uint8)
  out = io.BytesIO()
  Image.fromarray(pixels).save(out, format="PNG")
  return out.getvalue()


def jpeg_bytes(seed=0, size=48) -> bytes:
  pixels = np.random.default_rng(seed).integers(0, 256, (size, size, 3), np.uint8)
  out = io.BytesIO()
  Image.fromarray(pixels).save(out, format="JPEG")
  return out.getvalue()


BAD_IMAGES = {
    "text named .png": ("png", b"this is not an image\n"),
    "truncated PNG": ("png", png_bytes()[:len(png_bytes()) // 2]),
    "truncated JPEG": ("jpg", jpeg_bytes()[:len(jpeg_bytes()) * 2 // 3]),
}


def name_in_split(split: str, ext: str, start: int = 0) -> str:
  """A file name whose hash puts it in ``split`` of the folder loader."""
  lo, hi = folder.TEST_BUCKETS
  for i in range(start, start + 10_000):
    name = f"image_{i:05d}.{ext}"
    if (lo <= images_lib.hash_bucket(name) < hi) == (split == "test"):
      return name
  raise AssertionError("no name found")


@pytest.mark.parametrize("kind", sorted(BAD_IMAGES))
@pytest.mark.parametrize("split", ["train", "test"])
def test_bad_image_in_a_folder_is_a_data_error_naming_it_in_either_split(tmp_path, kind, split):
  for s in ("train", "test"):  # good images in both splits
    for k in range(2):
      (tmp_path / name_in_split(s, "png", 100 * k + (0 if s == "train" else 50))).write_bytes(
          png_bytes(k))
  ext, content = BAD_IMAGES[kind]
  bad = tmp_path / name_in_split(split, ext, 5000)
  bad.write_bytes(content)
  with pytest.raises(data.DataError) as err:
    data.load("folder", str(tmp_path), split=split, size=16)
  assert str(bad) in str(err.value) and "replace or remove" in str(err.value)


@pytest.mark.parametrize("kind", sorted(BAD_IMAGES))
def test_large_folders_still_name_a_bad_image_from_its_header_or_tail(tmp_path, monkeypatch,
                                                                      kind):
  monkeypatch.setattr(folder, "FULL_CHECK_LIMIT", 1)
  for k in range(3):
    (tmp_path / f"good_{k}.png").write_bytes(png_bytes(k))
  ext, content = BAD_IMAGES[kind]
  (tmp_path / f"bad.{ext}").write_bytes(content)
  with pytest.raises(data.DataError, match=rf"{tmp_path / f'bad.{ext}'}: "):
    data.load("folder", str(tmp_path), split="all", size=16)


def test_empty_image_folder_is_a_data_error_saying_what_it_expects(tmp_path):
  (tmp_path / "notes.txt").write_text("no images here")
  with pytest.raises(data.DataError, match=rf"{tmp_path}: no images; expected PNG/JPEG"):
    data.load("folder", str(tmp_path))


def idx_images(count=4) -> bytes:
  header = b"\0\0\x08\x03" + b"".join(d.to_bytes(4, "big") for d in (count, 28, 28))
  # Few distinct values, so deflate codes them (random bytes would be stored verbatim).
  return header + np.random.default_rng(0).integers(0, 4, count * 784, np.uint8).tobytes()


def corrupt_deflate(gz: bytes) -> bytes:
  """``gz`` with one byte changed so that zlib itself fails (not only the CRC check)."""
  for i in range(20, len(gz) - 8):
    bad = bytearray(gz)
    bad[i] ^= 0x55
    try:
      gzip.decompress(bytes(bad))
    except zlib.error:
      return bytes(bad)
    except (OSError, EOFError):
      pass
  raise AssertionError("no corrupting byte found")


@pytest.mark.parametrize("damage", ["corrupt deflate data", "bad CRC", "truncated", "not gzip"])
def test_damaged_mnist_gzip_is_a_data_error_naming_the_file(tmp_path, damage):
  gz = gzip.compress(idx_images())
  content = {
      "corrupt deflate data": lambda: corrupt_deflate(gz),
      "bad CRC": lambda: gz[:-8] + bytes(8),
      "truncated": lambda: gz[:len(gz) // 2],
      "not gzip": lambda: b"<html>404 not found</html>",
  }[damage]()
  path = tmp_path / "t10k-images-idx3-ubyte.gz"
  path.write_bytes(content)
  (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(
      b"\0\0\x08\x01" + (4).to_bytes(4, "big") + bytes(4))
  with pytest.raises(data.DataError) as err:
    data.load("mnist", str(tmp_path))
  assert str(path) in str(err.value) and "download it again" in str(err.value)


def test_random_bytes_named_like_an_omniglot_zip_are_a_data_error(tmp_path):
  path = tmp_path / "images_background.zip"
  path.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, np.uint8).tobytes())
  with pytest.raises(data.DataError, match=rf"{path}: not a readable zip archive"):
    data.load("omniglot", str(tmp_path))


def test_truncated_png_inside_an_omniglot_zip_is_named(tmp_path):
  path = tmp_path / "images_background.zip"
  with zipfile.ZipFile(path, "w") as archive:
    archive.writestr("Latin/character01/0001_01.png", png_bytes(1))
    archive.writestr("Latin/character01/0001_02.png", png_bytes(2)[:200])
  with pytest.raises(data.DataError, match=r"0001_02\.png: truncated PNG"):
    data.load("omniglot", str(tmp_path), split="all")


@pytest.mark.parametrize("name", ["mnist", "omniglot", "folder"])
def test_empty_data_folder_names_the_folder_and_what_belongs_in_it(tmp_path, name):
  with pytest.raises(data.DataError) as err:
    data.load(name, str(tmp_path), split="all")
  assert str(tmp_path) in str(err.value) and "expected" in str(err.value)


# --- the command line ----------------------------------------------------------------
def run_tool(tool, *args, timeout=120):
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
  return subprocess.run([sys.executable, os.path.join(REPO, "tools", tool), *args],
                        capture_output=True, text=True, timeout=timeout, cwd=REPO, env=env)


def assert_one_error_line(proc, *expected):
  assert proc.returncode == cli.USER_ERROR, (proc.returncode, proc.stderr[-2000:])
  assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
  errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
  assert len(errors) == 1 and proc.stderr.rstrip().endswith(errors[0]), proc.stderr[-2000:]
  for text in expected:
    assert text in errors[0], errors[0]


@pytest.mark.subprocess
def test_train_with_a_missing_data_folder_prints_one_error_line(tmp_path):
  proc = run_tool("train.py", "--config", "configs/mnist_conditional.json",
                  "--set", f"data.path={tmp_path / 'no_mnist'}", "--run-dir", str(tmp_path / "run"))
  assert_one_error_line(proc, str(tmp_path / "no_mnist"), "is not a folder")


@pytest.mark.subprocess
def test_train_with_a_file_as_run_dir_prints_one_error_line(tmp_path):
  run_dir = tmp_path / "a_file"
  run_dir.write_text("")
  proc = run_tool("train.py", "--run-dir", str(run_dir))
  assert_one_error_line(proc, str(run_dir), "not a folder")


@pytest.mark.subprocess
def test_train_with_a_bad_config_value_prints_one_error_line_and_debug_shows_the_traceback(
    tmp_path):
  args = ("--set", "train.max_minutes=abc", "--run-dir", str(tmp_path / "run"))
  assert_one_error_line(run_tool("train.py", *args), "train.max_minutes must be a number")
  assert not (tmp_path / "run").exists(), "nothing is written for a bad config"
  debug = run_tool("train.py", "--debug", *args)
  assert debug.returncode == cli.USER_ERROR and "Traceback" in debug.stderr


@pytest.mark.subprocess
@pytest.mark.parametrize("images", ["0", "-3"])
def test_evaluate_with_no_images_is_an_argparse_error(tmp_path, images):
  proc = run_tool("evaluate.py", "--run-dir", str(tmp_path), "--images", images)
  assert proc.returncode == 2 and "Traceback" not in proc.stderr
  assert f"argument --images: must be at least 1, got {images}" in proc.stderr


@pytest.mark.subprocess
def test_evaluate_with_the_tf_renderer_refuses_a_mujoco_run_before_loading_it(tmp_path):
  from spiral_tf.training import builder  # pylint: disable=g-import-not-at-top
  cfg = config_lib.load(os.path.join(REPO, "configs", "mujoco_scenes_conditional.json"))
  (tmp_path / "config.json").write_text(json.dumps(builder.config_dict(cfg)))
  proc = run_tool("evaluate.py", "--run-dir", str(tmp_path), "--renderer", "tf")
  assert proc.returncode == cli.USER_ERROR and "Traceback" not in proc.stderr, proc.stderr[-2000:]
  assert "--renderer tf paints strokes" in proc.stderr and "not a libmypaint run" in proc.stderr
  assert not (tmp_path / "eval_tf").exists()


# --- cli.run in process ----------------------------------------------------------------
def test_cli_run_turns_user_errors_into_one_line_and_logs_the_traceback(tmp_path, capsys):
  log = tmp_path / "train.log"
  cli.set_log_file(str(log))
  try:
    def main(argv):
      raise data.DataError("mnist: '/x' is not a folder")
    with pytest.raises(SystemExit) as exit_:
      cli.run(main, [])
  finally:
    cli.set_log_file(None)
  assert exit_.value.code == cli.USER_ERROR
  assert capsys.readouterr().err == "error: mnist: '/x' is not a folder\n"
  assert "Traceback" in log.read_text() and "DataError" in log.read_text()


def test_cli_run_lets_bugs_show_their_traceback_and_logs_it(tmp_path):
  def main(argv):
    return {}["missing"]
  cli.set_log_file(str(tmp_path / "train.log"))
  try:
    with pytest.raises(KeyError):
      cli.run(main, [])
  finally:
    cli.set_log_file(None)
  assert "KeyError: 'missing'" in (tmp_path / "train.log").read_text()
  with pytest.raises(ModuleNotFoundError):
    cli.run(lambda argv: __import__("spiral_tf.no_such_module"), [])


# A tool whose main raises what argv[1] names: a bug or one of our errors.
RAISING_TOOL = """
import sys
from spiral_tf import cli
from spiral_tf import config_checks

def main(argv=None):
  if sys.argv[1] == "bug":
    raise ValueError("Shapes (2, 3) and (3, 2) are incompatible")  # as TensorFlow raises them
  raise config_checks.ConfigError("train.batch_size must be >= 1, got 0")

cli.run(main)
"""


@pytest.mark.subprocess
@pytest.mark.parametrize("raised, code", [("bug", 1), ("config", cli.USER_ERROR)])
def test_cli_run_shows_a_plain_value_error_as_a_bug_and_a_config_error_as_one_line(raised, code):
  proc = subprocess.run([sys.executable, "-c", RAISING_TOOL, raised], capture_output=True,
                        text=True, timeout=120, cwd=REPO)
  if raised == "bug":
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert "Traceback" in proc.stderr and "error: " not in proc.stderr
    assert proc.stderr.rstrip().endswith("ValueError: Shapes (2, 3) and (3, 2) are incompatible")
  else:
    assert_one_error_line(proc, "train.batch_size must be >= 1, got 0")


def test_truncated_celeba_face_is_a_data_error_naming_it(tmp_path):
  faces = tmp_path / "img_align_celeba"
  faces.mkdir()
  for i in range(1, 4):
    pixels = np.random.default_rng(i).integers(0, 256, (218, 178, 3), np.uint8)
    Image.fromarray(pixels).save(faces / f"{i:06d}.jpg", quality=90)
  data.load("celeba", str(tmp_path), split="all")  # complete files load
  whole = (faces / "000002.jpg").read_bytes()
  (faces / "000002.jpg").write_bytes(whole[:len(whole) // 2])
  with pytest.raises(data.DataError, match=r"000002\.jpg: truncated image"):
    data.load("celeba", str(tmp_path), split="all")


@pytest.mark.parametrize("options, message", [
    (dict(num_images=-5), "num_images must be >= 1"),
    (dict(seed=-1), "seed >= 0"),
    (dict(max_brush_radius=0.0), "max_brush_radius must be > 0"),
    (dict(strokes=(3, 1)), "min_strokes <= max_strokes"),
])
def test_bad_synthetic_options_name_the_option(options, message):
  with pytest.raises(ValueError, match=message):
    data.load("synthetic", size=16, grid_size=8, episode_length=6, **options)


def test_truncated_mujoco_scenes_image_is_a_data_error_naming_it(tmp_path):
  from spiral_tf.data import mujoco_scenes as scenes_data  # pylint: disable=g-import-not-at-top
  from spiral_tf.envs import mujoco_scenes  # noqa: F401  (loads OSMesa the safe way first)
  root = str(tmp_path / "scenes")
  scenes_data.generate_dataset(root, num_train=3, num_test=2, image_size=16, shard_size=4)
  bad = scenes_data.list_scenes(root, "test")[1].path
  with open(bad, "rb") as f:
    whole = f.read()
  with open(bad, "wb") as f:
    f.write(whole[:len(whole) // 2])
  data.load("mujoco_scenes", root, split="train", size=16)  # the other split is intact
  with pytest.raises(data.DataError, match=rf"{bad}: truncated image"):
    data.load("mujoco_scenes", root, split="test", size=16)
