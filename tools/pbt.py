"""Population-based training with Ray Tune: python tools/pbt.py --config C --population N.

  python tools/pbt.py --config configs/default.json --population 4 [--ray-address auto|HOST:PORT]
      [--cpus-per-member C] [--gpus-per-member G]

N members train at once, each an ordinary run folder RUN/members/member-KK
(config.json, checkpoints/, metrics.json: tools/evaluate.py --run-dir reads
it). After every pbt.interval_minutes of training (pbt.interval_agent_steps
when set) the members are ranked on validation images: the first
pbt.validation_images of the train split, which no member trains on (and
not the test images results are reported on), by held-out l2 over the blank
canvas' (unconditional MNIST configs: the Fréchet distance of samples to
the validation digits over the random policy's, in a digit classifier's
features; spiral_tf/training/pbt_fitness.py). The bottom
pbt.quantile_fraction copy a member of the top one, whole checkpoint and
all, and explore the values pbt.explore declares (replace that dict with
--set 'pbt.explore={"train.entropy_cost": [0.001, 0.1]}'); the rules are in
spiral_tf/training/pbt.py. RUN/pbt.json lists every member's rounds (parent,
values, training, fitness) and RUN/pbt.png plots them; the same command
again resumes the population. RUN defaults to runs/<config name>-<profile>-pbt.
Without --ray-address a Ray instance is started here for the run; on a
cluster, RUN must be on a file system every node mounts at the same path.
Each member's learner gets --cpus-per-member CPUs (default: the cluster's
CPUs shared among the members, whose actor processes run beside their
learner; 1 with actors.engine=ray, whose actors Ray places on any node) and
--gpus-per-member GPUs (default 0: members never see a GPU). --shared-critic
trains one critic for the whole population on every member's renders (a
named Ray actor, saved in RUN/shared_critic/; spiral_tf/training/shared_critic.py).
"""
import argparse
import json
import os
import shutil

import numpy as np

import spiral_tf  # noqa: F401  (selects Keras 2 before TensorFlow loads)
from spiral_tf import cli

# Before TensorFlow and Ray load: their start-up lines go to RUN/pbt.log, not the console.
LIBRARY_OUTPUT = cli.LibraryOutput().capture() if __name__ == "__main__" else None

from spiral_tf import config as config_lib  # noqa: E402  pylint: disable=g-import-not-at-top
from spiral_tf import files  # noqa: E402  pylint: disable=g-import-not-at-top
from spiral_tf.training import pbt as pbt_lib  # noqa: E402  pylint: disable=g-import-not-at-top
from spiral_tf.training import pbt_fitness  # noqa: E402  pylint: disable=g-import-not-at-top
from spiral_tf.training import run_folder  # noqa: E402  pylint: disable=g-import-not-at-top

CLUSTER_EXTRA = "pip install -e '.[cluster]'"


def import_tune():
  """Ray Tune's module, or a user error naming the extra to install.

  Ray Train's v2 API, which Tune imports by default, needs pydantic 2, and
  pydantic 2 cannot be installed beside tf-agents 0.19 (setup.cfg, extra
  'cluster'); Tune's function trainables run on the v1 API, which needs none.
  """
  os.environ.setdefault("RAY_TRAIN_V2_ENABLED", "0")  # trial processes inherit it from Tune
  os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")  # with verbose=0: no tables, our lines only
  try:
    from ray import tune  # pylint: disable=g-import-not-at-top
    from ray.tune import schedulers  # noqa: F401  pylint: disable=g-import-not-at-top
  except ImportError as e:
    raise cli.UserError(f"tools/pbt.py needs Ray Tune, which does not import here ({e}): "
                        f"{CLUSTER_EXTRA}") from e
  return tune


def member_name(trial) -> str:
  """A trial's name and folder: the member it was created as (an exploit keeps it)."""
  return f"member-{trial.config['member']:02d}"


class Explorer:
  """Tune's custom_explore_fn: pbt_lib.explore on a copied config's values, seeded."""

  def __init__(self, cfg: config_lib.Config, stream: int):
    self.pbt, self.kinds = cfg.pbt, pbt_lib.numeric_keys(cfg)
    self.seed, self.stream, self.count = cfg.train.seed, stream, 0

  def __call__(self, config: dict) -> dict:
    self.count += 1
    rng = np.random.default_rng([self.seed, self.stream, self.count])
    return {"values": pbt_lib.explore(config["values"], self.pbt, rng, self.kinds)}


def member_resources(cfg: config_lib.Config, population: int, cluster_cpus: float,
                     cpus: float = 0.0, gpus: float = 0.0) -> dict:
  """What Tune reserves for each member: {'cpu': ..., 'gpu': ...} (no 'gpu' without GPUs)."""
  if not cpus:
    cpus = 1.0 if cfg.actors.engine == "ray" else cluster_cpus / population
  return dict(cpu=cpus, **({"gpu": gpus} if gpus else {}))


def lineage_figure(entries, unit: str, title: str, conditional: bool = True):
  """Fitness against training per member; a dashed line where a member copied its parent."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  x_key = "training_minutes" if unit == "minutes" else "agent_steps"
  at = {(e["member"], e["round"]): (e[x_key], e[pbt_lib.FITNESS]) for e in entries}
  fig, ax = plt.subplots(figsize=(7, 4))
  for member in sorted({e["member"] for e in entries}):
    own = sorted((e for e in entries if e["member"] == member), key=lambda e: e["round"])
    line, = ax.plot([e[x_key] for e in own], [e[pbt_lib.FITNESS] for e in own], "o-",
                    label=member)
    for e in own:
      if e["parent"] and (e["parent"], e["round"] - 1) in at:
        (x0, y0), (x1, y1) = at[e["parent"], e["round"] - 1], at[member, e["round"]]
        ax.plot([x0, x1], [y0, y1], "--", color=line.get_color(), alpha=0.6)
  ax.axhline(1.0, linestyle=":", color="gray", label=pbt_fitness.BASELINE[conditional])
  ax.set_xlabel("training minutes" if unit == "minutes" else "agent steps (frames)")
  ax.set_ylabel(pbt_fitness.axis_label(conditional))
  ax.set_title(f"{title}: population-based training (dashed: copied from)")
  ax.legend(fontsize="small")
  fig.tight_layout()
  return fig


def lineage_callback(tune, run_dir: str, record: dict, log, words: str):
  """A Tune callback (in this process) that records each member's round in pbt.json and pbt.png."""

  class Lineage(tune.Callback):
    def on_trial_result(self, iteration, trials, trial, result, **info):
      entry = {k: result.get(k) for k in pbt_lib.RESULT_KEYS}
      rounds = [e for e in record["rounds"] if (e["member"], e["round"]) !=
                (entry["member"], entry["round"])]
      record["rounds"] = sorted(rounds + [entry], key=lambda e: (e["round"], e["member"]))
      write_lineage(run_dir, record)
      copied = f" (copied {entry['parent']})" if entry["parent"] else ""
      log(f"round {entry['round']} {entry['member']}{copied}: {entry[pbt_lib.FITNESS]:.3f}"
          f"{words}")

  return Lineage()


def write_lineage(run_dir: str, record: dict):
  """RUN/pbt.json and RUN/pbt.png, each written atomically."""
  files.write_json(os.path.join(run_dir, "pbt.json"), record)
  if record["rounds"]:
    fig = lineage_figure(record["rounds"], record["unit"], record["config"]["name"],
                         record["config"]["train"]["conditional"])
    files.write_figure(os.path.join(run_dir, "pbt.png"), fig)


def resume_point(cfg: config_lib.Config, run_dir: str, population: int):
  """(rounds every member has finished, each member's values) from the members' folders."""
  done, starts = [], []
  for index in range(population):
    state = pbt_lib.read_state(pbt_lib.member_dir(run_dir, f"member-{index:02d}"))
    done.append(0 if state is None else state["round"] - (not state["result"]))
    starts.append(state["values"] if state else pbt_lib.initial_values(cfg, index))
  return min(done), starts


def load_record(run_dir: str, config: dict, population: int, unit: str) -> dict:
  """pbt.json, refusing a population of another size or config; a new record for a new RUN."""
  path = os.path.join(run_dir, "pbt.json")
  if not os.path.exists(path):
    return dict(config=config, population=population, unit=unit, rounds=[])
  with open(path) as f:
    record = json.load(f)
  changed = run_folder.config_differences(record["config"], config)
  if record["population"] != population or changed:
    what = (f"{record['population']} members" if record["population"] != population
            else f"another config ({'; '.join(changed)})")
    raise run_folder.RunFolderError(
        f"population {run_dir} was trained with {what}; resume it with the same command, or "
        "choose another --run-dir")
  return dict(record, config=config, unit=unit)


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  cli.add_debug_flag(parser)
  cli.add_config_flags(parser, example="pbt.interval_minutes=5")
  parser.add_argument("--population", type=cli.positive_int, required=True,
                      help="members trained at once (at least 2)")
  parser.add_argument("--ray-address", default="", metavar="auto|HOST:PORT",
                      help="run the members on this Ray cluster (absent: start Ray here)")
  parser.add_argument("--cpus-per-member", type=cli.non_negative_float, default=0.0,
                      help="CPUs Ray reserves for each member's learner (0 or absent: see above)")
  parser.add_argument("--gpus-per-member", type=cli.non_negative_float, default=0.0,
                      help="GPUs for each member's learner (e.g. 2 with train.strategy=mirrored)")
  parser.add_argument("--shared-critic", action="store_true",
                      help="one critic for the population, trained on every member's renders "
                      "(pbt.shared_critic)")
  args = parser.parse_args(argv)
  sets = args.set + ["pbt.hold_out_validation=true"]
  cfg = config_lib.load(args.config, args.profile,
                        sets + ["pbt.shared_critic=true"] if args.shared_critic else sets)
  pbt_lib.check_population(cfg, args.population)
  run_dir = os.path.abspath(args.run_dir or os.path.join("runs", f"{cfg.name}-{args.profile}-pbt"))
  tune = import_tune()
  folder = run_folder.RunFolder(run_dir)
  folder.lock()  # one tools/pbt.py per population
  try:
    if LIBRARY_OUTPUT is not None:
      LIBRARY_OUTPUT.to_log(os.path.join(run_dir, "pbt.log"))
    return train_population(tune, cfg, run_dir, args.population, args.ray_address,
                            f"{cfg.name!r} ({args.profile})",
                            cpus=args.cpus_per_member, gpus=args.gpus_per_member)
  finally:
    folder.release()


def train_population(tune, cfg: config_lib.Config, run_dir: str, population: int,
                     ray_address: str, title: str, cpus: float = 0.0, gpus: float = 0.0) -> int:
  """Trains (or resumes) the population of RUN on Ray Tune; see the module docstring."""
  import ray  # pylint: disable=g-import-not-at-top
  from ray.tune.schedulers import PopulationBasedTraining  # pylint: disable=g-import-not-at-top
  from spiral_tf.training import builder  # pylint: disable=g-import-not-at-top
  from spiral_tf.training import ray_actors  # pylint: disable=g-import-not-at-top
  from spiral_tf.training import shared_critic  # pylint: disable=g-import-not-at-top
  schedule, config = pbt_lib.rounds(cfg), builder.config_dict(cfg)
  record = load_record(run_dir, config, population, schedule.unit)
  start_round, starts = resume_point(cfg, run_dir, population)
  if start_round >= schedule.count:
    write_lineage(run_dir, record)
    print(f"the population in {run_dir} has trained its {schedule.count} rounds; raise "
          f"train.max_{schedule.unit} to train it on")
    return 0
  log = lambda message: print(message, flush=True)
  log(f"training {population} members of {title} into {run_dir}: rounds {start_round + 1} to "
      f"{schedule.count} of {schedule.interval:g} {schedule.unit.replace('_', ' ')}")
  # Tune's own experiment folder is scratch: the population lives in pbt.json and the members.
  shutil.rmtree(os.path.join(run_dir, "tune"), ignore_errors=True)
  write_lineage(run_dir, record)
  pbt_fitness.prepare(cfg, run_dir, log)  # an unconditional population's digit classifier
  started = ray_actors.connect(ray_address, os.cpu_count() or 1, log)
  try:
    if cfg.pbt.shared_critic:  # lives as long as this process; members find it by name
      server = shared_critic.start(ray, config, run_dir)
      log(f"shared critic: {ray.get(server.update_count.remote())} updates so far, saved in "
          f"{os.path.join(run_dir, shared_critic.FOLDER)}")
    resources = member_resources(cfg, population, ray.cluster_resources().get("CPU", 1.0),
                                 cpus, gpus)  # every member at once
    trainable = tune.with_resources(tune.with_parameters(
        pbt_lib.train_member,
        population=pbt_lib.Population(run_dir, config, start_round, gpus)), resources)
    scheduler = PopulationBasedTraining(
        time_attr="training_iteration", perturbation_interval=1, synch=True, log_config=False,
        quantile_fraction=cfg.pbt.quantile_fraction,
        custom_explore_fn=Explorer(cfg, stream=start_round + 1))
    results = tune.Tuner(
        trainable,
        param_space={"member": tune.grid_search(list(range(population))),
                     "values": tune.sample_from(lambda spec: starts[spec.config.member])},
        tune_config=tune.TuneConfig(
            scheduler=scheduler, metric=pbt_lib.FITNESS, mode="min", reuse_actors=True,
            trial_name_creator=member_name, trial_dirname_creator=member_name),
        run_config=tune.RunConfig(
            name="tune", storage_path=run_dir, verbose=0,
            stop={"training_iteration": schedule.count - start_round},
            checkpoint_config=tune.CheckpointConfig(num_to_keep=4),
            failure_config=tune.FailureConfig(max_failures=0),
            callbacks=[lineage_callback(tune, run_dir, record, log,
                                        pbt_fitness.describe(cfg))])).fit()
  finally:
    if started:
      ray.shutdown()
  failed = [r for r in results if r.error is not None]
  if failed:
    member = os.path.basename(failed[0].path)
    log_path = os.path.join(pbt_lib.member_dir(run_dir, member), "train.log")
    raise cli.UserError(f"{member} failed ({' '.join(str(failed[0].error).split())[-300:]}); "
                        f"its log: {log_path}")
  last = [e for e in record["rounds"] if e["round"] == schedule.count]
  if last:
    best = min(last, key=lambda e: e[pbt_lib.FITNESS])
    log(f"best: {best['member']}, {best[pbt_lib.FITNESS]:.3f}{pbt_fitness.describe(cfg)} "
        f"({pbt_lib.member_dir(run_dir, best['member'])})")
  print(f"outputs in {run_dir}: pbt.json, pbt.png, members/")
  return 0

if __name__ == "__main__":
  cli.stop_cleanly_on_signals()
  cli.run(main)
