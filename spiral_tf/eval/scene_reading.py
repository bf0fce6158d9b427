"""Does a MuJoCo Scenes agent read its target? Where and what it places, against the scene.

A reconstruction's ℓ2 can sit at the blank level for two different reasons: the
agent places the right objects slightly wrong, or it places the same objects
whatever the target shows (an early critic agent in RESULTS.md: one grey
capsule in one cell for every scene). These pure functions tell the two
apart from the programs alone (the ``programs.json`` of tools/evaluate.py) and the held-out scenes'
descriptions, each number beside what a target-blind placement would score.

Objects are dicts of ``type, location, size, red, green, blue`` (ints);
``location`` is a flat index on a ``grid_size`` x ``grid_size`` grid.
"""
from typing import Dict, List, Mapping, Sequence

import numpy as np

# The scene's own names and sizes; mujoco_render imports MuJoCo only when it
# renders, so these functions stay plain NumPy.
from spiral_tf.envs.mujoco_render import COLOR_BINS, GRID_SIZE, OBJECT_RANGES, OBJECT_TYPES

# The environment's ``kind`` values (envs/mujoco_scenes.py, which needs
# tf-agents to import).
ADD, CHANGE, SKIP = 0, 1, 2
ATTRIBUTES = tuple(OBJECT_RANGES)
COLOURS = ("red", "green", "blue")


def _key(obj: Mapping[str, int]) -> tuple:
  return tuple(obj[a] for a in ATTRIBUTES)


def final_objects(program: Sequence[Mapping[str, int]]) -> List[Dict[str, int]]:
  """The scene a program leaves: add appends, change replaces the last (adds when none), skip nothing."""
  objects: List[Dict[str, int]] = []
  for act in program:
    if act["kind"] == SKIP:
      continue
    obj = {name: int(act[name]) for name in ATTRIBUTES}
    if act["kind"] == ADD or not objects:
      objects.append(obj)
    else:
      objects[-1] = obj
  return objects


def _cell(location: int, grid_size: int) -> np.ndarray:
  return np.array(divmod(int(location), grid_size))


def near_cells(targets: Sequence[Mapping[str, int]], grid_size: int, radius: int) -> np.ndarray:
  """[grid_size, grid_size] bool: cells within ``radius`` (Chebyshev) of a target object's cell."""
  near = np.zeros((grid_size, grid_size), bool)
  for obj in targets:
    row, col = _cell(obj["location"], grid_size)
    near[max(row - radius, 0):row + radius + 1, max(col - radius, 0):col + radius + 1] = True
  return near


def _nearest(obj: Mapping[str, int], targets: Sequence[Mapping[str, int]], grid_size: int):
  """The target object whose cell is nearest to obj's (Chebyshev).

  Ties (scenes may stack objects in one cell) go to the target with the most
  attributes in common, so that a copy of the scene is matched with itself.
  """
  here = _cell(obj["location"], grid_size)
  keys = [(np.abs(_cell(t["location"], grid_size) - here).max(),
           sum(obj[a] != t[a] for a in ATTRIBUTES)) for t in targets]
  return targets[min(range(len(targets)), key=keys.__getitem__)]


def _blind_colour_error(colour: int, bins: int) -> float:
  """E|U - colour| for U uniform on the bins: a blind guess's error on one channel."""
  return float(np.mean(np.abs(np.arange(bins) - colour)))


def placement_report(programs: Sequence[Sequence[Mapping[str, int]]],
                     target_scenes: Sequence[Sequence[Mapping[str, int]]],
                     grid_size: int = GRID_SIZE, colour_bins: int = COLOR_BINS,
                     num_types: int = len(OBJECT_TYPES),
                     radius: int = 1) -> Dict[str, float]:
  """Placement statistics of N programs against their N target scenes.

  location_hit: fraction of placed objects within ``radius`` cells of a target
    object; location_hit_blind: the same for a cell drawn uniformly (the
    fraction of the grid that is near a target object, per scene).
  type_match / colour_error (mean |bin difference| per channel) against the
    target object nearest to each placed one; *_blind: a uniform guess.
  distinct_objects / distinct_scenes: how many different objects, and
    different final scenes, the agent made over all targets (1 and 1: blind).
  """
  if len(programs) != len(target_scenes):
    raise ValueError(f"{len(programs)} programs for {len(target_scenes)} target scenes: "
                     "pass the scenes the programs were painted for, in the same order")
  placed, hits, hits_blind, types, colour_err, colour_err_blind = 0, [], [], [], [], []
  distinct_objects, distinct_scenes = set(), set()
  for program, targets in zip(programs, target_scenes):
    objects = final_objects(program)
    distinct_scenes.add(tuple(_key(o) for o in objects))
    if not targets:
      continue
    near = near_cells(targets, grid_size, radius)
    for obj in objects:
      placed += 1
      distinct_objects.add(_key(obj))
      row, col = _cell(obj["location"], grid_size)
      hits.append(float(near[row, col]))
      hits_blind.append(float(near.mean()))
      nearest = _nearest(obj, targets, grid_size)
      types.append(float(obj["type"] == nearest["type"]))
      colour_err.append(np.mean([abs(obj[c] - nearest[c]) for c in COLOURS]))
      colour_err_blind.append(np.mean([_blind_colour_error(nearest[c], colour_bins)
                                       for c in COLOURS]))
  mean = lambda values: float(np.mean(values)) if values else float("nan")
  return {
      "scenes": len(programs), "objects_per_scene": placed / max(len(programs), 1),
      "distinct_objects": len(distinct_objects), "distinct_scenes": len(distinct_scenes),
      "location_hit": mean(hits), "location_hit_blind": mean(hits_blind),
      "type_match": mean(types), "type_match_blind": 1.0 / num_types,
      "colour_error": mean(colour_err), "colour_error_blind": mean(colour_err_blind),
  }
