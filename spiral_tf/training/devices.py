"""Where TensorFlow runs in each process: thread budgets, GPUs, tf.distribute strategies.

Learners on several machines (``train.strategy = "multiworker"``) run
MultiWorkerMirroredStrategy: every machine runs the same command with its own
``TF_CONFIG`` (the cluster's addresses and this worker's place in it); the
first worker (or the ``chief`` task, if the cluster names one) is the chief.
"""
import json
import os
from typing import NamedTuple

import tensorflow as tf

from spiral_tf.config_checks import ConfigError


def set_threads(threads: int, log=print):
  """Gives TensorFlow in this process a thread budget (2 cores drown otherwise).

  TensorFlow fixes its thread pools when it runs its first op; later calls
  (e.g. a second Trainer in one process) keep the pools it has.
  """
  try:
    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)
  except RuntimeError:
    if tf.config.threading.get_intra_op_parallelism_threads() != threads:
      log(f"note: TensorFlow already started with its own thread pools; asked for {threads}")


def hide_gpus():
  """Keeps this process off every GPU (actor processes: the learner owns the GPUs)."""
  try:
    tf.config.set_visible_devices([], "GPU")
  except RuntimeError:  # devices already initialised: CUDA_VISIBLE_DEVICES=-1 did it
    pass


class WorkerRole(NamedTuple):
  """This process's place among the learner workers (one worker: index 0 of 1, chief)."""
  index: int  # 0 for the chief, then the workers in TF_CONFIG's order
  count: int
  is_chief: bool


SOLE_WORKER = WorkerRole(0, 1, True)
_TF_CONFIG_HELP = ("set it on every machine to the cluster's addresses and this worker's "
                   'task, e.g. {"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
                   '"task": {"type": "worker", "index": 0}}')


def worker_role(strategy_name: str) -> WorkerRole:
  """Where this process stands among the learner workers of ``train.strategy``.

  Read from the ``TF_CONFIG`` environment variable for 'multiworker' (the
  same variable MultiWorkerMirroredStrategy reads); every other strategy has
  one worker. A missing or malformed TF_CONFIG is a ConfigError naming it.
  """
  if strategy_name != "multiworker":
    return SOLE_WORKER
  text = os.environ.get("TF_CONFIG", "")
  if not text:
    raise ConfigError(f"train.strategy 'multiworker' needs the TF_CONFIG environment variable: "
                      f"{_TF_CONFIG_HELP}")
  try:
    tf_config = json.loads(text)
    cluster, task = tf_config["cluster"], tf_config["task"]
    kind, index = task["type"], int(task["index"])
    chiefs, workers = list(cluster.get("chief", [])), list(cluster.get("worker", []))
    members = {"chief": chiefs, "worker": workers}[kind]
    if not 0 <= index < len(members) or len(chiefs) > 1:
      raise ValueError(f"task {kind} {index} is not in the cluster")
  except (ValueError, KeyError, TypeError, AttributeError) as e:
    raise ConfigError(f"TF_CONFIG is not a cluster description this worker is part of ({e}): "
                      f"{_TF_CONFIG_HELP}") from e
  position = index if kind == "chief" else index + len(chiefs)
  return WorkerRole(position, len(chiefs) + len(workers), position == 0)


# Learner worker i > 0 plays and samples with seed + i * WORKER_SEED_STRIDE, so
# the workers' batches differ; MultiWorkerMirroredStrategy gives every worker
# the chief's initial weights whatever its seed.
WORKER_SEED_STRIDE = 10007


def worker_seed(seed: int, role: WorkerRole) -> int:
  """The seed of the worker's actors, targets and replay (the chief's is the config's)."""
  return seed + role.index * WORKER_SEED_STRIDE


def make_strategy(name: str) -> tf.distribute.Strategy:
  """'default' (one device), 'mirrored' (all GPUs), 'multiworker' (from TF_CONFIG) or
  'cpu:N' (N logical CPUs, for tests)."""
  if name == "default":
    return tf.distribute.get_strategy()
  if name == "mirrored":
    return tf.distribute.MirroredStrategy()
  if name == "multiworker":
    worker_role(name)  # a missing or malformed TF_CONFIG: one line, before TensorFlow's
    return tf.distribute.MultiWorkerMirroredStrategy()
  if name.startswith("cpu:"):
    n = int(name.split(":", 1)[1])
    cpu = tf.config.list_physical_devices("CPU")[0]
    if len(tf.config.get_logical_device_configuration(cpu) or []) != n:
      try:
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * n)
      except RuntimeError as e:
        raise ValueError(
            f"train.strategy {name!r} needs {n} logical CPUs, but TensorFlow already "
            "initialised its devices in this process; choose the strategy before any "
            "TensorFlow op runs (e.g. from tools/train.py)") from e
    return tf.distribute.MirroredStrategy([f"/cpu:{i}" for i in range(n)])
  raise ValueError(f"train.strategy {name!r} is not 'default', 'mirrored', 'multiworker' "
                   "or 'cpu:N'")


def worker_max(strategy: tf.distribute.Strategy):
  """A function ``values -> values``: each the largest any worker gave (one worker: as given).

  Every worker must call it at the same point, as with any collective. With
  booleans it is agreement: a flag True on any worker is True on every one,
  so the workers take the same decisions (stop, evaluate, checkpoint) at the
  same learner update though each measures its own time; collective updates
  deadlock when one worker takes a step the others do not.
  """
  if worker_count(strategy) == 1:
    return lambda values: tuple(float(v) for v in values)

  @tf.function
  def largest(values):  # tf.distribute reduces by SUM or MEAN only: gather, then max
    per_replica = strategy.run(lambda: tf.expand_dims(values, 0))
    return tf.reduce_max(strategy.gather(per_replica, axis=0), axis=0)

  return lambda values: tuple(float(v) for v in largest(
      tf.constant([float(v) for v in values], tf.float32)).numpy())


def worker_count(strategy: tf.distribute.Strategy) -> int:
  """How many machines' learners the strategy spans (1 but for multiworker)."""
  resolver = getattr(strategy, "cluster_resolver", None)
  if resolver is None or not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
    return 1
  return max(1, sum(len(v) for k, v in resolver.cluster_spec().as_dict().items()
                    if k in ("chief", "worker")))
