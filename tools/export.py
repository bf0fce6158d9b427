"""Exports a trained agent for TF Serving (SavedModel) and, optionally, LiteRT.

  python tools/export.py --run-dir runs/mnist_conditional-cpu --out exported [--tflite]
  python tools/export.py --pretrained mnist --out exported   # an agent shipped with the package

Writes DIR/saved_model/ (signatures ``paint`` = ``serving_default``: a whole
greedy episode rendered by the TF renderer; ``step``: one policy step with
Gumbel-max sampling; ``initial_state``; see spiral_tf/agents/export.py) and,
with --tflite, DIR/policy_step.tflite: the ``step`` signature converted with
built-in ops only, checked against TensorFlow on random inputs. The last
line is JSON: saved_model, tflite, tflite_max_abs_diff, signatures.
Each file is written beside its place and renamed into it, so an
interrupted export leaves the previous one (or nothing) behind.
"""
import argparse
import json
import os

import spiral_tf  # noqa: F401  (selects Keras 2 before TensorFlow loads)
from spiral_tf import cli


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  cli.add_debug_flag(parser)
  source = parser.add_mutually_exclusive_group(required=True)
  source.add_argument("--run-dir", help="a run folder of tools/train.py")
  source.add_argument("--pretrained", metavar="NAME",
                      help="a trained agent shipped with the package (spiral_tf.pretrained.list())")
  parser.add_argument("--out", required=True, help="folder for saved_model/ and policy_step.tflite")
  parser.add_argument("--tflite", action="store_true", help="also convert the step to LiteRT")
  args = parser.parse_args(argv)
  if os.path.exists(args.out) and not os.path.isdir(args.out):
    raise cli.UserError(f"--out {args.out!r} is a file; give a folder for the export")
  run_dir = args.run_dir
  if args.pretrained:
    from spiral_tf import pretrained  # pylint: disable=g-import-not-at-top
    run_dir = pretrained.folder(args.pretrained)  # an unknown name lists the names
  from spiral_tf.agents import export  # pylint: disable=g-import-not-at-top
  from spiral_tf.training import checkpointing  # pylint: disable=g-import-not-at-top
  from spiral_tf.training import trained_agent  # pylint: disable=g-import-not-at-top
  try:
    trained = trained_agent.load(run_dir)
  except checkpointing.CheckpointError as e:  # none yet, or none that restores: the user's to fix
    raise cli.UserError(str(e)) from e
  agent = trained_agent.exported(trained)
  saved_model = export.export_saved_model(agent, os.path.join(args.out, "saved_model"))
  report = {"run_dir": run_dir, "pretrained": args.pretrained, "checkpoint": trained.checkpoint,
            "learner_step": trained.learner_step, "saved_model": saved_model,
            "tflite": None, "tflite_max_abs_diff": None,
            "signatures": sorted(agent.signatures())}
  if args.tflite:
    path = export.convert_step_to_tflite(saved_model, os.path.join(args.out, "policy_step.tflite"))
    report["tflite"] = path
    report["tflite_max_abs_diff"] = export.compare_tflite(trained.policy, agent, path)
  print(json.dumps(report))
  return 0


if __name__ == "__main__":
  cli.run(main)
