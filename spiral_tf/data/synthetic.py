"""Synthetic targets painted by random programs in the painting environment itself.

Each image is 1 to 3 (configurable) strokes, each a move to a random grid
point followed by one random Bézier paint action, so every target is
reachable by the agent within the episode and its program is known. Images
are rendered once per configuration, kept in memory, and are bit-identical
for a given seed (libmypaint's brush randomness restarts at every reset).

Split rule: by position, the first 90% of the images are 'train', the last
10% 'test'; 'all' is everything. The programs of a split are found through
``with_index=True``, which yields (image, index into ``programs``).
"""
import dataclasses
import functools
from typing import NamedTuple, Optional, Sequence, Tuple

import numpy as np
import tensorflow as tf

from spiral_tf.data import images as images_lib
from spiral_tf.envs import libmypaint_env

SPLITS = ("train", "test", "all")
HOLDOUT_FRACTION = 0.1
Program = Tuple[dict, ...]  # Action dicts as the environment's step() takes them.


@dataclasses.dataclass(frozen=True)
class SyntheticConfig:
  """Everything that determines the images (and the cache key)."""
  num_images: int = 1000
  canvas_size: int = 64
  grid_size: int = 32
  episode_length: int = 20
  min_strokes: int = 1
  max_strokes: int = 3
  use_color: bool = False
  # Radius cap of the random brushes, default canvas_size / 8: a 24-pixel brush
  # on a 32-pixel canvas paints a blob, not a shape.
  max_brush_radius: Optional[float] = None
  seed: int = 0
  # Extra LibMyPaintEnv arguments (brush, brush_sizes, use_pressure), as
  # sorted (name, value) pairs so the config stays hashable; they must match
  # the agent's environment for the programs to be valid actions there.
  env_kwargs: Tuple[Tuple[str, object], ...] = ()

  def make_env(self) -> libmypaint_env.LibMyPaintEnv:
    """The environment that paints (and re-renders) these programs."""
    return libmypaint_env.LibMyPaintEnv(
        canvas_size=self.canvas_size, grid_size=self.grid_size,
        episode_length=self.episode_length, use_color=self.use_color, **dict(self.env_kwargs))


class SyntheticData(NamedTuple):
  """Rendered images float32 [N, S, S, C] and the programs that painted them."""
  images: np.ndarray
  programs: Tuple[Program, ...]
  config: SyntheticConfig

  def indices(self, split: str) -> np.ndarray:
    """Image indices of ``split``."""
    images_lib.check_split(split, SPLITS, "synthetic")
    n = len(self.images)
    cut = n - int(round(n * HOLDOUT_FRACTION))
    return np.arange(n)[{"train": slice(None, cut), "test": slice(cut, None),
                         "all": slice(None)}[split]]


def _random_program(env, rng: np.random.Generator, config: SyntheticConfig,
                    sizes: Sequence[int]) -> Program:
  program = []
  for _ in range(int(rng.integers(config.min_strokes, config.max_strokes + 1))):
    move = libmypaint_env.random_action(env, rng, paint_probability=0.0)
    paint = libmypaint_env.random_action(env, rng, paint_probability=1.0)
    paint["size"] = int(sizes[rng.integers(len(sizes))])
    program += [move, paint]
  return tuple(program)


def render(env: libmypaint_env.LibMyPaintEnv, program: Sequence[dict]) -> np.ndarray:
  """Paints ``program`` from a blank canvas; float32 [S, S, C]."""
  env.reset()
  for action in program:
    env.step(action)
  return env.canvas()


@functools.lru_cache(maxsize=4)
def _generate(config: SyntheticConfig) -> SyntheticData:
  if config.num_images < 1 or config.seed < 0:
    raise ValueError(f"synthetic: num_images must be >= 1 and seed >= 0, got "
                     f"{config.num_images} and {config.seed}")
  if config.max_brush_radius is not None and not config.max_brush_radius > 0:
    raise ValueError(f"synthetic: max_brush_radius must be > 0, got {config.max_brush_radius}")
  if not 1 <= config.min_strokes <= config.max_strokes:
    raise ValueError(f"strokes must satisfy 1 <= min_strokes <= max_strokes, got "
                     f"{config.min_strokes}, {config.max_strokes}")
  if 2 * config.max_strokes > config.episode_length:
    raise ValueError(f"{config.max_strokes} strokes need {2 * config.max_strokes} steps "
                     f"(a move and a paint each); episode_length is {config.episode_length}")
  env = config.make_env()
  cap = config.max_brush_radius or config.canvas_size / 8
  sizes = [i for i, radius in enumerate(env.brush_sizes) if radius <= cap]
  if not sizes:
    raise ValueError(f"no brush radius <= max_brush_radius={cap} in {env.brush_sizes}")
  rng = np.random.default_rng(config.seed)
  images = np.empty((config.num_images, config.canvas_size, config.canvas_size, env.channels),
                    np.float32)
  programs = []
  for i in range(config.num_images):
    programs.append(_random_program(env, rng, config, sizes))
    images[i] = render(env, programs[-1])
  env.close()
  images.setflags(write=False)  # Shared by every caller of the cache.
  return SyntheticData(images, tuple(programs), config)


def generate(num_images: int = 1000, canvas_size: int = 64, grid_size: int = 32,
             episode_length: int = 20, strokes: Tuple[int, int] = (1, 3),
             use_color: bool = False, max_brush_radius: Optional[float] = None,
             seed: int = 0, env_kwargs: Optional[dict] = None) -> SyntheticData:
  """Renders (or returns the cached) synthetic data set; ``strokes`` is an inclusive range."""
  config = SyntheticConfig(
      num_images=int(num_images), canvas_size=int(canvas_size), grid_size=int(grid_size),
      episode_length=int(episode_length), min_strokes=int(strokes[0]),
      max_strokes=int(strokes[1]), use_color=bool(use_color),
      max_brush_radius=max_brush_radius, seed=int(seed),
      env_kwargs=tuple(sorted((k, tuple(v) if isinstance(v, list) else v)
                              for k, v in (env_kwargs or {}).items())))
  return _generate(config)


def clear_cache():
  """Forgets every rendered data set."""
  _generate.cache_clear()


def load(path: Optional[str] = None, split: str = "train", size: int = 64,
         channels: Optional[int] = None, with_index: bool = False,
         **kwargs) -> tf.data.Dataset:
  """Synthetic images ``[size, size, channels]``; ``size`` is the canvas size.

  ``kwargs`` go to ``generate``; ``path`` is unused (nothing is read from disk).
  """
  del path
  data = generate(canvas_size=size, **kwargs)
  channels = images_lib.check_channels(channels, data.images.shape[-1])
  index = data.indices(split)
  images_lib.require_nonempty(len(index), "synthetic", split, "the generated set")
  ds = tf.data.Dataset.from_tensor_slices((data.images[index], index.astype(np.int64)))

  def prepare(image, i):
    image = images_lib.convert_channels(image, channels)
    return (image, i) if with_index else image

  return ds.map(prepare, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
