"""The MuJoCo Scenes data set: renders of 1-5 random primitives (paper 4.1).

Scenes are drawn uniformly (object count, then each object's type, grid
location, size and colour bins) and rendered by the environment's own
``SceneRenderer``, so an agent that emits the right ``add`` actions can
reproduce a data set image exactly. Scene ``i`` of a split is drawn from
``np.random.default_rng([seed, split_id, i])``: generation is deterministic
by seed, independent of sharding, and can resume after an interruption.

Layout on disk (PNG, so images can be looked at)::

  root/metadata.json                 written last: sizes, seed, splits
  root/<split>/shard-00000/scenes.json   [{"index", "file", "objects": [...]}]
  root/<split>/shard-00000/00000000.png  uint8 RGB, image_size x image_size

A shard is written into ``shard-XXXXX.tmp-<pid>`` and renamed when complete,
and ``metadata.json`` appears only when every shard is there, so readers
never see half-written data. Generation needs only NumPy, Pillow and MuJoCo
(plus TensorFlow, which the renderer loads before OSMesa); loading returns a
``tf.data.Dataset``. ``load`` has the signature of the ``spiral_tf.data``
registry's loaders.
"""
import collections
import json
import os
import shutil
from typing import Callable, Dict, List, Optional

import numpy as np
from PIL import Image

from spiral_tf import files
from spiral_tf.data import images as images_lib

FORMAT = "spiral_tf.mujoco_scenes/1"
SPLIT_IDS = {"train": 0, "test": 1}
METADATA = "metadata.json"
SCENES = "scenes.json"
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_PNG_END = b"IEND\xaeB`\x82"  # last 8 bytes of every complete PNG
_PNG_LEVEL = 1  # zlib level: files ~10% larger than level 6, written faster

SceneRecord = collections.namedtuple("SceneRecord", ["index", "path", "objects"])


class MujocoScenesDataError(images_lib.DataError):
  """The data set on disk is missing, incomplete or malformed (names the file)."""


def random_scene(rng: np.random.Generator, min_objects: int = 1, max_objects: int = 5) -> List[dict]:
  """A scene of ``min_objects``..``max_objects`` uniformly random objects."""
  from spiral_tf.envs import mujoco_scenes as env_lib  # pylint: disable=g-import-not-at-top
  count = int(rng.integers(min_objects, max_objects + 1))
  return [env_lib.random_object(rng) for _ in range(count)]


def scene_rng(seed: int, split: str, index: int) -> np.random.Generator:
  """The generator of scene ``index`` of ``split``."""
  return np.random.default_rng([seed, SPLIT_IDS[split], index])


def generate_dataset(root: str,
                     num_train: int = 50_000,
                     num_test: int = 1_000,
                     seed: int = 0,
                     image_size: int = 64,
                     shard_size: int = 1_000,
                     min_objects: int = 1,
                     max_objects: int = 5,
                     shadows: bool = False,
                     gl_backend: Optional[str] = None,
                     progress: Optional[Callable[[int, int], None]] = None) -> dict:
  """Renders the train and test splits under ``root``; returns the metadata.

  Complete shards already present (same seed, size and settings) are kept, so
  an interrupted run resumes. ``progress(done, total)`` is called per scene.
  """
  from spiral_tf.envs import mujoco_scenes as env_lib  # pylint: disable=g-import-not-at-top
  if not 1 <= min_objects <= max_objects:
    raise ValueError(f"need 1 <= min_objects <= max_objects, got {min_objects}, {max_objects}")
  if shard_size < 1:
    raise ValueError(f"shard_size must be >= 1, got {shard_size}")
  settings = dict(seed=int(seed), image_size=int(image_size), shard_size=int(shard_size),
                  min_objects=int(min_objects), max_objects=int(max_objects), shadows=bool(shadows))
  counts = {"train": int(num_train), "test": int(num_test)}
  total, done = sum(counts.values()), 0
  os.makedirs(root, exist_ok=True)
  splits = {}
  with env_lib.SceneRenderer(image_size, max_objects, shadows, gl_backend) as renderer:
    for split, count in counts.items():
      num_shards = -(-count // shard_size)
      for shard in range(num_shards):
        start, stop = shard * shard_size, min(count, (shard + 1) * shard_size)
        _write_shard(root, split, shard, range(start, stop), settings, renderer,
                     lambda n, base=done: progress and progress(base + n, total))
        done += stop - start
      splits[split] = dict(num_scenes=count, num_shards=num_shards)
  metadata = dict(format=FORMAT, splits=splits, object_types=list(env_lib.OBJECT_TYPES),
                  object_ranges=dict(env_lib.OBJECT_RANGES), **settings)
  files.write_json(os.path.join(root, METADATA), metadata)
  return metadata


def _shard_dir(root, split, shard):
  return os.path.join(root, split, f"shard-{shard:05d}")


def _write_shard(root, split, shard, indices, settings, renderer, progress):
  final = _shard_dir(root, split, shard)
  if os.path.isdir(final):
    _check_existing_shard(final, split, indices, settings)
    progress(len(indices))
    return
  tmp = f"{final}.tmp-{os.getpid()}"
  shutil.rmtree(tmp, ignore_errors=True)
  os.makedirs(tmp)
  try:
    scenes = []
    for index in indices:
      objects = random_scene(scene_rng(settings["seed"], split, index),
                             settings["min_objects"], settings["max_objects"])
      renderer.show(objects)
      name = f"{index:08d}.png"
      Image.fromarray(renderer.render()).save(os.path.join(tmp, name), compress_level=_PNG_LEVEL)
      scenes.append(dict(index=index, file=name, objects=objects))
      progress(len(scenes))
    with open(os.path.join(tmp, SCENES), "w") as f:
      json.dump(dict(split=split, shard=shard, settings=settings, scenes=scenes), f)
    os.rename(tmp, final)
  finally:
    shutil.rmtree(tmp, ignore_errors=True)


def _check_existing_shard(path, split, indices, settings):
  info = _read_json(os.path.join(path, SCENES))
  have = [s.get("index") for s in info.get("scenes", [])]
  if info.get("settings") != settings or have != list(indices):
    raise MujocoScenesDataError(
        f"{path} holds a shard made with other settings ({info.get('settings')}, "
        f"{len(have)} scenes); expected {settings} with scenes {indices.start}..{indices.stop - 1}"
        f" of {split!r}. Use a fresh output folder.")


def _read_json(path):
  try:
    with open(path) as f:
      return json.load(f)
  except FileNotFoundError as e:
    raise MujocoScenesDataError(f"missing file {path}") from e
  except (json.JSONDecodeError, UnicodeDecodeError) as e:
    raise MujocoScenesDataError(f"malformed JSON in {path}: {e}") from e


# --- reading ---------------------------------------------------------------------
def read_metadata(root: str) -> dict:
  """The data set's metadata; raises MujocoScenesDataError naming a missing/bad file."""
  path = os.path.join(root, METADATA)
  if not os.path.exists(path):
    raise MujocoScenesDataError(
        f"missing file {path}: not a MuJoCo Scenes data set, or its generation did not "
        "finish (run tools/make_mujoco_scenes.py)")
  meta = _read_json(path)
  if meta.get("format") != FORMAT or "splits" not in meta:
    raise MujocoScenesDataError(f"malformed {path}: expected format {FORMAT!r}")
  return meta


def list_scenes(root: str, split: str = "train") -> List[SceneRecord]:
  """Every scene of ``split``: (index, PNG path, object descriptions), in index order."""
  meta = read_metadata(root)
  if split not in meta["splits"]:
    raise ValueError(f"split {split!r} not in {root}; available: {sorted(meta['splits'])}")
  info = meta["splits"][split]
  records = []
  for shard in range(info["num_shards"]):
    folder = _shard_dir(root, split, shard)
    scenes = _read_json(os.path.join(folder, SCENES))
    try:
      for scene in scenes["scenes"]:
        path = os.path.join(folder, scene["file"])
        if not os.path.exists(path):
          raise MujocoScenesDataError(f"missing file {path} (listed in {folder}/{SCENES})")
        records.append(SceneRecord(int(scene["index"]), path, scene["objects"]))
    except (KeyError, TypeError) as e:
      raise MujocoScenesDataError(f"malformed {os.path.join(folder, SCENES)}: {e!r}") from e
  if len(records) != info["num_scenes"]:
    raise MujocoScenesDataError(f"{root}/{split} has {len(records)} scenes; "
                                f"{METADATA} says {info['num_scenes']}")
  return records


def load_descriptions(root: str, split: str = "train") -> List[List[dict]]:
  """The object descriptions of every scene of ``split``, in index order."""
  return [r.objects for r in list_scenes(root, split)]


def read_image(path: str) -> np.ndarray:
  """One stored scene as float32 [S, S, 3] in [0, 1]."""
  try:
    with Image.open(path) as image:
      return np.asarray(image.convert("RGB"), np.float32) / 255.0
  except (OSError, ValueError) as e:
    raise MujocoScenesDataError(f"malformed or truncated PNG {path}: {e}") from e


def load_mujoco_scenes(root: str, split: str = "train", size: int = 64):
  """The images of ``split`` as a tf.data.Dataset of float32 [size, size, 3] in [0, 1]."""
  return load(root, split=split, size=size)


def load(path: str, split: str = "train", size: int = 64, channels: Optional[int] = None,
         with_index: bool = False) -> "tf.data.Dataset":
  """Registry loader: images of ``split`` ('train', 'test' or 'all') from folder ``path``.

  Yields float32 [size, size, channels] in [0, 1] (3 channels by default; 1 is
  luminance), or (image, scene index) with ``with_index``. Resized by area
  averaging when ``size`` differs from the stored size.
  """
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  if path is None:
    raise ValueError("mujoco_scenes: pass path= the folder written by tools/make_mujoco_scenes.py")
  channels = images_lib.check_channels(channels, 3)
  meta = read_metadata(path)
  splits = sorted(meta["splits"], key=SPLIT_IDS.get) if split == "all" else [split]
  records = [r for s in splits for r in list_scenes(path, s)]
  images_lib.require_nonempty(len(records), "mujoco_scenes", split, path)
  for record in records:  # a damaged file fails here, naming itself, not inside tf.data
    images_lib.check_complete(record.path)
  stored = int(meta["image_size"])

  def decode(file, index):
    data = tf.io.read_file(file)
    complete = tf.logical_and(tf.equal(tf.strings.substr(data, 0, 8), _PNG_MAGIC),
                              tf.equal(tf.strings.substr(data, -8, 8), _PNG_END))
    with tf.control_dependencies([tf.debugging.Assert(
        complete, ["malformed or truncated PNG in the MuJoCo Scenes data set:", file])]):
      image = tf.io.decode_png(data, channels=3)
    image = tf.ensure_shape(image, [stored, stored, 3])
    image = tf.cast(image, tf.float32) / 255.0  # as the environment: bit-identical images
    if size != stored:
      image = tf.clip_by_value(tf.image.resize(image, [size, size], method="area"), 0.0, 1.0)
    image = images_lib.convert_channels(image, channels)
    return (image, index) if with_index else image

  ds = tf.data.Dataset.from_tensor_slices(
      ([r.path for r in records], np.array([r.index for r in records], np.int64)))
  return ds.map(decode, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


def dataset_info(root: str) -> Dict[str, int]:
  """Number of scenes per split."""
  return {k: v["num_scenes"] for k, v in read_metadata(root)["splits"].items()}
