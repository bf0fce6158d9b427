"""Does a MuJoCo Scenes agent read its targets? Its placements against the held-out scenes.

  python tools/evaluate.py --run-dir runs/mujoco --images 100
  python tools/scene_placements.py --programs runs/mujoco/eval/programs.json --data data/mujoco_scenes

Reads the programs that tools/evaluate.py wrote (painted for the first N
scenes of --split, in order) and those scenes' descriptions, and prints how
often the agent's objects land next to a target object, match its type and
colour, and how many different objects and scenes it made, each beside what a
target-blind placement would score (spiral_tf/eval/scene_reading.py). Last
line JSON.
"""
import argparse
import json

from spiral_tf import cli
from spiral_tf.data import mujoco_scenes as data_lib
from spiral_tf.eval import scene_reading


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  cli.add_debug_flag(parser)
  parser.add_argument("--programs", required=True, help="programs.json of tools/evaluate.py")
  parser.add_argument("--data", required=True, help="the mujoco_scenes folder the run was evaluated on")
  parser.add_argument("--split", default="test")
  parser.add_argument("--radius", type=int, default=1,
                      help="a placement within this many grid cells of a target object is a hit")
  args = parser.parse_args(argv)
  with open(args.programs) as f:
    try:
      programs = json.load(f)
    except json.JSONDecodeError as e:
      raise cli.UserError(f"{args.programs} is not JSON ({e}): pass the programs.json "
                          "that tools/evaluate.py wrote") from e
  info = data_lib.read_metadata(args.data)
  scenes = [r.objects for r in data_lib.list_scenes(args.data, args.split)]
  if not isinstance(programs, list) or len(programs) > len(scenes):
    raise cli.UserError(f"{args.programs} holds {len(programs) if isinstance(programs, list) else 0} "
                        f"programs but {args.data}/{args.split} has {len(scenes)} scenes: evaluate "
                        "the run on this data set's split")
  ranges = info["object_ranges"]
  try:
    report = scene_reading.placement_report(
        programs, scenes[:len(programs)], grid_size=int(round(ranges["location"] ** 0.5)),
        colour_bins=ranges["red"], num_types=ranges["type"], radius=args.radius)
  except (KeyError, TypeError) as e:
    raise cli.UserError(f"{args.programs} is not a list of MuJoCo Scenes programs (missing {e}): "
                        "pass the programs.json of a mujoco_scenes run's evaluation") from e
  for key in ("location_hit", "type_match", "colour_error"):
    print(f"{key:>14}: agent {report[key]:.3f} | target-blind {report[key + '_blind']:.3f}")
  print(f"{report['objects_per_scene']:.2f} objects per scene; {report['distinct_objects']} distinct "
        f"objects and {report['distinct_scenes']} distinct scenes over {report['scenes']} targets")
  print(json.dumps(report))


if __name__ == "__main__":
  cli.run(main)
