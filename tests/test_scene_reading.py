"""Placement statistics of MuJoCo Scenes programs (spiral_tf/eval/scene_reading.py)."""
import itertools

import numpy as np
import pytest

from spiral_tf.eval import scene_reading as sr


def obj(location, type_=0, size=0, red=0, green=0, blue=0):
  return dict(type=type_, location=location, size=size, red=red, green=green, blue=blue)


def add(o):
  return dict(kind=sr.ADD, **o)


def test_final_objects_follows_add_change_and_skip():
  a, b, c = obj(1), obj(2, red=3), obj(3, blue=2)
  program = [dict(kind=sr.CHANGE, **a), dict(kind=sr.SKIP, **c), add(b), dict(kind=sr.CHANGE, **c)]
  # change with nothing placed adds; skip leaves the scene; change replaces the last
  assert sr.final_objects(program) == [a, c]


def test_copying_the_target_scores_every_hit_and_no_colour_error():
  scenes = [[obj(17, 2, 1, 3, 0, 1), obj(200, 3, 2, 0, 2, 2)], [obj(0, 1, 0, 1, 1, 1)]]
  report = sr.placement_report([[add(o) for o in s] for s in scenes], scenes)
  assert report["location_hit"] == 1.0 and report["type_match"] == 1.0
  assert report["colour_error"] == 0.0
  assert report["distinct_objects"] == 3 and report["distinct_scenes"] == 2
  assert report["objects_per_scene"] == 1.5


def test_one_object_for_every_scene_is_one_distinct_object_and_one_scene():
  scenes = [[obj(5 * i + 3, red=i % 4)] for i in range(10)]
  same = obj(133, 3, 0, 1, 2, 2)
  report = sr.placement_report([[add(same), dict(kind=sr.SKIP, **same)]] * 10, scenes)
  assert report["distinct_objects"] == 1 and report["distinct_scenes"] == 1
  assert report["objects_per_scene"] == 1.0


def test_blind_levels_match_a_brute_force_uniform_guess():
  rng = np.random.default_rng(0)
  grid, bins = 16, 4
  scenes = [[obj(int(rng.integers(grid * grid)), red=int(rng.integers(bins)),
                 green=int(rng.integers(bins)), blue=int(rng.integers(bins)))
             for _ in range(int(rng.integers(1, 6)))] for _ in range(20)]
  programs = [[add(obj(int(rng.integers(grid * grid))))] for _ in scenes]
  report = sr.placement_report(programs, scenes, grid_size=grid, colour_bins=bins)
  # reference: every cell and every colour tried, in the paper's plain terms
  hit_levels, colour_levels = [], []
  for program, targets in zip(programs, scenes):
    cells = [(t["location"] // grid, t["location"] % grid) for t in targets]
    near = [any(max(abs(r - tr), abs(c - tc)) <= 1 for tr, tc in cells)
            for r, c in itertools.product(range(grid), range(grid))]
    hit_levels.append(np.mean(near))
    p = sr.final_objects(program)[0]
    pr, pc = p["location"] // grid, p["location"] % grid
    nearest = targets[int(np.argmin([max(abs(pr - tr), abs(pc - tc)) for tr, tc in cells]))]
    colour_levels.append(np.mean([np.mean([abs(g - nearest[ch]) for g in range(bins)])
                                  for ch in ("red", "green", "blue")]))
  assert report["location_hit_blind"] == pytest.approx(np.mean(hit_levels))
  assert report["colour_error_blind"] == pytest.approx(np.mean(colour_levels))
  assert report["type_match_blind"] == 0.25


def test_a_placement_two_cells_away_misses_at_radius_one_and_hits_at_two():
  scenes = [[obj(5 * 16 + 5)]]
  programs = [[add(obj(7 * 16 + 5))]]
  assert sr.placement_report(programs, scenes, radius=1)["location_hit"] == 0.0
  assert sr.placement_report(programs, scenes, radius=2)["location_hit"] == 1.0


def test_programs_and_scenes_of_different_counts_are_refused_naming_both():
  with pytest.raises(ValueError, match="2 programs for 1 target scenes"):
    sr.placement_report([[], []], [[obj(0)]])
