"""Times MujocoScenesEnv steps against bare in-place edits + renders of the same scenes.

  python tools/bench_mujoco.py [--episodes 50] [--rounds 3] [--shadows]

The bare loop applies the same per-step edits (geom type, size, position,
colour; precomputed) to its own copy of the scene model and renders, with no
environment, validation or observation around it. The two are timed in
alternating rounds in one process so that load from other processes hits
both alike. Every step renders: by default no ``skip`` actions (a skip
renders nothing). The last line printed is a JSON object with
env_steps_per_s, raw_renders_per_s and ratio (bar: ratio >= 0.5 without
shadows).
"""
import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import spiral_tf  # noqa: E402,F401  pylint: disable=g-import-not-at-top,unused-import
from spiral_tf import cli  # noqa: E402  pylint: disable=g-import-not-at-top
import numpy as np  # noqa: E402  pylint: disable=g-import-not-at-top

from spiral_tf.envs import mujoco_scenes as env_lib  # noqa: E402  pylint: disable=g-import-not-at-top


def episodes_of_actions(num_episodes, length, skip_prob, seed):
  rng = np.random.default_rng(seed)
  probs = (0.75 * (1 - skip_prob), 0.25 * (1 - skip_prob), skip_prob)
  return [[env_lib.random_action(rng, probs) for _ in range(length)] for _ in range(num_episodes)]


def raw_edits(episodes, geom_types):
  """Per episode, per rendering step: (slot, geom type, size, pos, rgba), as the env would do."""
  out = []
  for actions in episodes:
    count, edits = 0, []
    for a in actions:
      if a["kind"] == env_lib.SKIP:
        continue
      if a["kind"] == env_lib.ADD or count == 0:
        count += 1
      name, size, pos, rgba = env_lib.object_geometry(a)
      edits.append((count - 1, geom_types[env_lib.OBJECT_TYPES.index(name)],
                    np.array(size), np.array(pos), np.array(rgba)))
    out.append(edits)
  return out


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  cli.add_debug_flag(parser)
  parser.add_argument("--episodes", type=int, default=50, help="episodes per round")
  parser.add_argument("--episode-length", type=int, default=20)
  parser.add_argument("--rounds", type=int, default=3)
  parser.add_argument("--image-size", type=int, default=64)
  parser.add_argument("--skip-prob", type=float, default=0.0)
  parser.add_argument("--shadows", action="store_true")
  parser.add_argument("--gl-backend", choices=["osmesa", "egl", "glfw"], default=None)
  parser.add_argument("--seed", type=int, default=0)
  args = parser.parse_args(argv)

  env = env_lib.MujocoScenesEnv(image_size=args.image_size, episode_length=args.episode_length,
                                shadows=args.shadows, gl_backend=args.gl_backend)
  mujoco = env_lib.import_mujoco(args.gl_backend)
  model = mujoco.MjModel.from_xml_string(
      env_lib.scene_xml(args.image_size, args.episode_length, args.shadows))
  data = mujoco.MjData(model)
  mujoco.mj_forward(model, data)
  renderer = mujoco.Renderer(model, args.image_size, args.image_size)
  first = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_GEOM, "slot0")
  camera = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_CAMERA, "view")
  slots = slice(first, first + args.episode_length)
  episodes = episodes_of_actions(args.episodes, args.episode_length, args.skip_prob, args.seed)
  edits = raw_edits(episodes, env._renderer.geom_types)  # pylint: disable=protected-access
  num_steps = args.episodes * args.episode_length
  num_renders = sum(len(e) for e in edits)

  def run_env():
    for actions in episodes:
      env.reset()
      for action in actions:
        env.step(action)

  def run_raw():
    for episode in edits:
      model.geom_rgba[slots, 3] = 0.0
      for slot, geom_type, size, pos, rgba in episode:
        g = first + slot
        model.geom_type[g] = geom_type
        model.geom_size[g] = size
        model.geom_pos[g] = pos
        model.geom_rgba[g] = rgba
        mujoco.mj_kinematics(model, data)
        renderer.update_scene(data, camera=camera)
        renderer.render()

  run_env(), run_raw()  # warm-up
  env_time = raw_time = 0.0
  for r in range(args.rounds):
    t = time.perf_counter()
    run_env()
    env_round = time.perf_counter() - t
    t = time.perf_counter()
    run_raw()
    raw_round = time.perf_counter() - t
    env_time, raw_time = env_time + env_round, raw_time + raw_round
    print(f"round {r}: env {num_steps / env_round:.0f} steps/s, raw {num_renders / raw_round:.0f} "
          "renders/s", file=sys.stderr)
  env.close()
  renderer.close()
  env_rate = args.rounds * num_steps / env_time
  raw_rate = args.rounds * num_renders / raw_time
  print(json.dumps(dict(env_steps_per_s=round(env_rate, 1), raw_renders_per_s=round(raw_rate, 1),
                        ratio=round(env_rate / raw_rate, 3), image_size=args.image_size,
                        shadows=args.shadows, skip_prob=args.skip_prob,
                        gl_backend=os.environ.get("MUJOCO_GL"))))


if __name__ == "__main__":
  cli.run(main)
