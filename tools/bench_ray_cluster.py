"""Benchmark: Ray actors on one node against the same actors on two nodes of one machine.

  python tools/bench_ray_cluster.py [--config configs/default.json] [--seconds 120] [--set K=V]

Two layouts of the same CPUs, each measured end to end in its own process
(``ray.cluster_utils.Cluster``, Ray's way of running several nodes, each
with its own raylet and object store, on one machine):
  one_node   one node with actors.count CPUs: every actor on it;
  two_nodes  two nodes with actors.count / 2 CPUs each: the actors spread.
The learner runs in the benchmark's process, outside both. Prints, per
layout, the end-to-end agent steps/s and on which node each actor played;
the last line is JSON with both rates and two_over_one.
Needs the cluster extra (pip install -e '.[cluster]').
"""
import argparse
import json
import os
import subprocess
import sys

import spiral_tf  # noqa: F401  (selects Keras 2 before TensorFlow loads)
from spiral_tf import cli
from spiral_tf import config as config_lib

LAYOUTS = {"one_node": 1, "two_nodes": 2}


def measure(cfg, layout: str, seconds: float) -> dict:
  """End-to-end agent steps/s with the actors on ``layout``'s nodes, and their placements."""
  import ray  # pylint: disable=g-import-not-at-top
  from ray import cluster_utils  # pylint: disable=g-import-not-at-top
  import bench_train  # pylint: disable=g-import-not-at-top
  nodes = LAYOUTS[layout]
  per_node = max(1, cfg.actors.count // nodes)
  cluster = cluster_utils.Cluster(initialize_head=True, head_node_args=dict(
      num_cpus=per_node, object_store_memory=200 * 1024 ** 2, include_dashboard=False))
  for _ in range(nodes - 1):
    cluster.add_node(num_cpus=per_node, object_store_memory=200 * 1024 ** 2)
  cluster.wait_for_nodes()
  ray.init(address=cluster.address, log_to_driver=False, logging_level="ERROR")
  order = [n["NodeID"] for n in ray.nodes()]
  try:
    pools = []
    result = bench_train.measure_end_to_end(cfg, seconds, on_pool=pools.append)
    placements = {i: order.index(node) for i, node in pools[-1].placements.items()}
  finally:
    ray.shutdown()
    cluster.shutdown()
  return dict(layout=layout, nodes=nodes, cpus_per_node=per_node,
              steps_per_s=result["end_to_end_steps_per_s"],
              node_of_actor={str(k): v for k, v in sorted(placements.items())})


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  cli.add_debug_flag(parser)
  parser.add_argument("--config", default="configs/default.json")
  parser.add_argument("--profile", default="cpu")
  parser.add_argument("--set", action="append", default=[])
  parser.add_argument("--seconds", type=float, default=120.0, help="end-to-end run length")
  parser.add_argument("--layout", choices=sorted(LAYOUTS), help=argparse.SUPPRESS)
  args = parser.parse_args(argv)
  overrides = args.set + ["actors.engine=ray"]
  cfg = config_lib.load(args.config, args.profile, overrides)
  if args.layout:  # one layout, in a fresh process with its own Ray cluster
    print(json.dumps(measure(cfg, args.layout, args.seconds)))
    return 0
  results = {}
  for layout in LAYOUTS:
    cmd = [sys.executable, os.path.abspath(__file__), "--layout", layout, "--config",
           args.config, "--profile", args.profile, "--seconds", str(args.seconds)]
    for s in args.set:
      cmd += ["--set", s]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
      print(proc.stderr[-3000:], file=sys.stderr)
      raise SystemExit(f"error: the {layout} layout failed (exit {proc.returncode})")
    results[layout] = json.loads(proc.stdout.strip().splitlines()[-1])
    print(f"{layout}: {results[layout]}", flush=True)
  one, two = results["one_node"]["steps_per_s"], results["two_nodes"]["steps_per_s"]
  print(json.dumps(dict(one_node_steps_per_s=round(one, 1), two_nodes_steps_per_s=round(two, 1),
                        two_over_one=round(two / one, 3),
                        two_nodes_node_of_actor=results["two_nodes"]["node_of_actor"],
                        actors=cfg.actors.count, cores=os.cpu_count())))
  return 0


if __name__ == "__main__":
  sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
  cli.run(main)
