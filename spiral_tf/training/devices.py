"""Where TensorFlow runs in each process: thread budgets, GPUs, tf.distribute strategies."""
import tensorflow as tf


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


def make_strategy(name: str) -> tf.distribute.Strategy:
  """'default' (one device), 'mirrored' (all GPUs) or 'cpu:N' (N logical CPUs, for tests)."""
  if name == "default":
    return tf.distribute.get_strategy()
  if name == "mirrored":
    return tf.distribute.MirroredStrategy()
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
  raise ValueError(f"train.strategy {name!r} is not 'default', 'mirrored' or 'cpu:N'")
