"""Command-line tools that need no training: comparing runs, sample sheets."""
import json
import os
import sys

import numpy as np
from PIL import Image

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "tools"))

import compare_runs  # noqa: E402  pylint: disable=g-import-not-at-top
import render_samples  # noqa: E402  pylint: disable=g-import-not-at-top


def fake_run(folder, l2s, levels=None):
  os.makedirs(folder)
  history = [dict(frames=1000 * i, minutes=float(i), eval_l2=v, strokes_per_image=2.0)
             for i, v in enumerate(l2s)]
  levels = levels or {"blank_l2": 0.1, "random_policy_l2": 0.2}
  with open(os.path.join(folder, "metrics.json"), "w") as f:
    json.dump(dict(history=history, levels=levels), f)


def test_compare_runs_plots_every_run_and_tabulates_the_last_point_against_blank(tmp_path, capsys):
  fake_run(tmp_path / "a", [0.1, 0.08, 0.05])
  fake_run(tmp_path / "b", [0.1, 0.1, 0.1])
  out = tmp_path / "cmp.png"
  assert compare_runs.main([str(tmp_path / "a"), str(tmp_path / "b"), "--labels", "l2", "critic",
                            "--out", str(out)]) == 0
  assert Image.open(out).size[0] > 100
  table = capsys.readouterr().out.splitlines()
  assert table[1].split()[:5] == ["l2", "2.0", "2000", "0.0500", "0.500"]
  assert table[2].split()[4] == "1.000"


def test_compare_runs_reads_run_folders_written_under_the_old_level_names(tmp_path, capsys):
  """metrics.json levels were once keyed "blank canvas" and "random policy"."""
  fake_run(tmp_path / "old", [0.1, 0.04], levels={"blank canvas": 0.08, "random policy": 0.2})
  assert compare_runs.levels_of({"levels": {"blank canvas": 0.08, "random policy": 0.2}}) == {
      "blank_l2": 0.08, "random_policy_l2": 0.2}
  assert compare_runs.main([str(tmp_path / "old"), "--out", str(tmp_path / "cmp.png")]) == 0
  assert capsys.readouterr().out.splitlines()[1].split()[3:5] == ["0.0400", "0.500"]


def test_render_samples_paints_a_sheet_of_distinct_programs(tmp_path):
  out = tmp_path / "sheet.png"
  assert render_samples.main(["--out", str(out), "--rows", "1", "--cols", "3", "--steps", "4"]) == 0
  sheet = np.asarray(Image.open(out), np.float32) / 255.0
  assert sheet.min() < 0.3, "strokes were painted"
  assert sheet.shape[1] > 3 * 64


def test_atomically_written_files_get_the_mode_a_plain_open_gives(tmp_path):
  import stat  # pylint: disable=g-import-not-at-top
  from spiral_tf import files  # pylint: disable=g-import-not-at-top
  path = tmp_path / "metrics.json"
  files.write_json(str(path), {"a": 1})
  umask = os.umask(0)
  os.umask(umask)
  assert stat.S_IMODE(os.stat(path).st_mode) == 0o666 & ~umask
