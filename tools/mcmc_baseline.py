"""Blocked Metropolis-Hastings baseline on held-out MuJoCo scenes (paper 4.6, Figure 9).

  python tools/mcmc_baseline.py --data data/mujoco_scenes --num-images 100 \
      --evaluations 2000 --out-dir results/mcmc

Without --data the held-out scenes are regenerated from --seed (identical to
the test split that tools/make_mujoco_scenes.py writes with the same seed).
Writes mcmc_curves.json (l2 against render evaluations, per image and mean),
mcmc_curves.png and mcmc_reconstructions.png (targets over final states).

With --agent-run-dir (a mujoco_scenes run of tools/train.py) the agent's greedy
one-pass reconstructions of the same targets (one render per step) are
scored too and drawn on the same plot (Figure 9), at the run's image size.
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

from spiral_tf.data import mujoco_scenes as data_lib  # noqa: E402  pylint: disable=g-import-not-at-top
from spiral_tf.envs import mujoco_scenes as env_lib  # noqa: E402  pylint: disable=g-import-not-at-top
from spiral_tf import files  # noqa: E402  pylint: disable=g-import-not-at-top
from spiral_tf.eval import mcmc  # noqa: E402  pylint: disable=g-import-not-at-top
from spiral_tf.eval import plots  # noqa: E402  pylint: disable=g-import-not-at-top


def held_out_targets(args, renderer):
  """(indices, target images [N, S, S, 3]) from the data set or regenerated from the seed."""
  if args.data:
    records = data_lib.list_scenes(args.data, args.split)[:args.num_images]
    return [r.index for r in records], np.stack([data_lib.read_image(r.path) for r in records])
  indices = list(range(args.num_images))
  scenes = [data_lib.random_scene(data_lib.scene_rng(args.seed, args.split, i)) for i in indices]
  return indices, np.stack([renderer.render_scene(s) for s in scenes])


def agent_l2(run_dir, targets):
  """(per-image l2, renders per image) of a trained agent's greedy pass over ``targets``."""
  from spiral_tf.eval import reconstruction  # pylint: disable=g-import-not-at-top
  from spiral_tf.training import trained_agent  # pylint: disable=g-import-not-at-top
  agent = trained_agent.load(run_dir)
  cfg = agent.config
  if cfg.env.domain != "mujoco_scenes":
    raise SystemExit(f"error: {run_dir} is a {cfg.env.domain!r} run, not mujoco_scenes")
  evaluator = reconstruction.Evaluator(agent.make_env, agent.policy, 25)
  out = evaluator.run(targets.astype(np.float32))
  return out["l2_per_image"], cfg.env.episode_length, out["canvases"]


def plot(path, evaluations, curves, title, agent=None):
  """Mean l2 with the 10-90 percentile band, against evaluations (and the agent's point)."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  from matplotlib import pyplot as plt  # pylint: disable=g-import-not-at-top
  fig, ax = plt.subplots(figsize=(5, 3.5), dpi=120)
  ax.fill_between(evaluations, np.percentile(curves, 10, axis=0), np.percentile(curves, 90, axis=0),
                  alpha=0.25, label="10-90th percentile")
  ax.plot(evaluations, curves.mean(axis=0), label="MCMC mean")
  if agent is not None:
    renders, l2 = agent
    ax.axhline(l2, color="C3", linestyle="--", linewidth=1)
    ax.plot([renders], [l2], "o", color="C3", label=f"agent, one pass ({renders} renders)")
    ax.set_xscale("log")
  ax.set_xlabel("render evaluations")
  ax.set_ylabel("l2 to target (mean squared pixel distance)")
  ax.set_title(title, fontsize=9)
  ax.legend()
  fig.tight_layout()
  files.write_figure(path, fig)
  plt.close(fig)


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  cli.add_debug_flag(parser)
  parser.add_argument("--data", default=None, help="data set folder (default: regenerate)")
  parser.add_argument("--split", default="test", choices=sorted(data_lib.SPLIT_IDS))
  parser.add_argument("--num-images", type=int, default=100)
  parser.add_argument("--evaluations", type=int, default=2000, help="renders per image")
  parser.add_argument("--record-every", type=int, default=10)
  parser.add_argument("--num-slots", type=int, default=mcmc.NUM_SLOTS)
  parser.add_argument("--variance", type=float, default=mcmc.VARIANCE)
  parser.add_argument("--init", choices=["empty", "random"], default="empty")
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--image-size", type=int, default=64)
  parser.add_argument("--gl-backend", choices=["osmesa", "egl", "glfw"], default=None)
  parser.add_argument("--out-dir", default="results/mcmc")
  parser.add_argument("--agent-run-dir", default=None,
                      help="a mujoco_scenes training run to compare on the same targets")
  args = parser.parse_args(argv)
  rng = np.random.default_rng([args.seed, 7])  # distinct from the scene generators
  with env_lib.SceneRenderer(args.image_size, args.num_slots, gl_backend=args.gl_backend) as renderer:
    indices, targets = held_out_targets(args, renderer)
    curves, finals, accepted = [], [], []
    from tf_keras.utils import Progbar  # pylint: disable=g-import-not-at-top
    bar = Progbar(len(targets), interval=0.2 if sys.stdout.isatty() else 10.0,
                  stateful_metrics=["l2 start", "l2 end"], unit_name="image")
    start = time.time()
    for n, target in enumerate(targets):
      result = mcmc.run_mcmc(target, renderer.render_scene, env_lib.OBJECT_RANGES, args.evaluations,
                             rng, args.num_slots, args.variance, args.init, args.record_every)
      curves.append(result.l2)
      finals.append(result.image)
      accepted.append(result.num_accepted / args.evaluations)
      bar.update(n + 1, [("l2 start", result.l2[0]), ("l2 end", result.l2[-1])])
  curves = np.stack(curves)
  evaluations = result.evaluations
  summary = dict(
      config=vars(args), scene_indices=indices,
      l2_definition="mean over all H*W*3 values of (render - target)^2, images in [0, 1]",
      evaluations=evaluations.tolist(), mean_l2=curves.mean(axis=0).tolist(),
      l2_per_image=curves.tolist(), acceptance_rate=accepted,
      final_mean_l2=float(curves[:, -1].mean()), initial_mean_l2=float(curves[:, 0].mean()),
      renders_per_s=len(targets) * args.evaluations / (time.time() - start))
  agent = None
  if args.agent_run_dir:
    per_image, renders, agent_canvases = agent_l2(args.agent_run_dir, targets)
    summary.update(agent_run_dir=args.agent_run_dir, agent_renders=renders,
                   agent_mean_l2=float(np.mean(per_image)), agent_l2_per_image=per_image.tolist(),
                   mcmc_evaluations_to_match_agent=next(
                       (int(e) for e, l in zip(evaluations, curves.mean(axis=0))
                        if l <= np.mean(per_image)), None))
    agent = (renders, float(np.mean(per_image)))
  files.write_json(os.path.join(args.out_dir, "mcmc_curves.json"), summary)
  plot(os.path.join(args.out_dir, "mcmc_curves.png"), evaluations, curves,
       f"Blocked MH on {len(targets)} held-out MuJoCo scenes", agent)
  rows = [targets[:8], np.stack(finals)[:8]]  # targets, final MCMC states (, agent)
  if agent is not None:
    rows.append(agent_canvases[:8])
  files.write_png(os.path.join(args.out_dir, "mcmc_reconstructions.png"), plots.image_grid(rows))
  report = dict(initial_mean_l2=summary["initial_mean_l2"], final_mean_l2=summary["final_mean_l2"],
                mean_acceptance=float(np.mean(accepted)))
  if agent is not None:
    report.update(agent_mean_l2=summary["agent_mean_l2"], agent_renders=renders,
                  mcmc_evaluations_to_match_agent=summary["mcmc_evaluations_to_match_agent"])
  print(json.dumps(report))


if __name__ == "__main__":
  cli.run(main)
