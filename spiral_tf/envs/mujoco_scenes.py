"""MuJoCo Scenes: the agent builds a 3D scene object by object (paper 4.2, 4.6).

A square grey platform seen by a fixed camera from 45 degrees above its front
edge. One action = (kind, type, location, size, red, green, blue), sampled in
that order: ``kind`` 0 adds a new object, 1 changes the most recently added
one (with no object yet it adds one: there is nothing to change), 2 skips.
``location`` is a flat index on a 16 x 16 grid over the platform; cell (row,
col) is seen at the image point of the same (row, col) in perspective, row 0
at the far edge. Colours are 4 bins per channel in [0, 1].

Rendering and the GL backend: see ``mujoco_render``; its public names are
re-exported here.
"""
import collections
from typing import Callable, Iterable, List, Mapping, Optional, Sequence, Union

import numpy as np
from spiral_tf.envs import program_env
from spiral_tf.envs import specs
# pylint: disable=unused-import
from spiral_tf.envs.mujoco_render import (  # noqa: F401  (re-exported)
    COLOR_BINS, GLBackendError, GRID_SIZE, OBJECT_RANGES, OBJECT_SIZES, OBJECT_TYPES,
    SceneRenderer, choose_gl_backend, import_mujoco, load_gl_library, location_to_world,
    object_geometry, render_scene, scene_xml, validate_object)
# pylint: enable=unused-import

ADD, CHANGE, SKIP = 0, 1, 2
ACTION_RANGES = collections.OrderedDict(kind=3, **OBJECT_RANGES)


# --- environment ----------------------------------------------------------------
class MujocoScenesEnv(program_env.ProgramEnvironment):
  """Builds a scene from add / change-last / skip commands, one per step."""

  def __init__(self,
               image_size: int = 64,
               episode_length: int = 20,
               max_objects: Optional[int] = None,
               shadows: bool = False,
               gl_backend: Optional[str] = None,
               targets: Optional[Union[Iterable[np.ndarray], Callable[[], np.ndarray]]] = None,
               conditional: Optional[bool] = None,
               final_reward_fn: Optional[Callable[[np.ndarray, Optional[np.ndarray]], float]] = None):
    """Creates the environment.

    Args:
      image_size: side of the rendered canvas in pixels.
      episode_length: steps per episode (N; 20 in the paper).
      max_objects: object slots; defaults to ``episode_length`` (each step adds at most one).
      shadows: let the light cast shadows (about 8x slower on a CPU).
      gl_backend: 'osmesa', 'egl' or 'glfw'; default: $MUJOCO_GL, else auto (module doc).
      targets: conditional mode: an iterable of images, or a callable returning one,
        drawn at every reset (float32 [S, S, 3] in [0, 1]).
      conditional: add ``target`` to observations; defaults to ``targets is not None``.
      final_reward_fn: optional reward at the last step, from (canvas, target).
    """
    episode_length = specs.whole_number("episode_length", episode_length, 1)
    max_objects = episode_length if max_objects is None else specs.whole_number(
        "max_objects", max_objects, 1)
    if max_objects < episode_length:
      raise ValueError(f"max_objects={max_objects} < episode_length={episode_length}: "
                       "an episode may add one object per step")
    self.image_size = specs.whole_number("image_size", image_size, 1)
    self.max_objects = max_objects
    super().__init__(ACTION_RANGES, "kind", {SKIP: ("kind",)},  # after a skip only kind mattered
                     (self.image_size, self.image_size, 3), episode_length, targets,
                     conditional, final_reward_fn, spatial_components=("location",))
    self._renderer = SceneRenderer(self.image_size, max_objects, shadows, gl_backend)
    self._empty = self._renderer.render_scene([])  # the canvas after every reset
    self._objects: List[dict] = []
    self._canvas = self._empty

  def _clear(self):
    self._renderer.clear()
    self._objects = []
    self._canvas = self._empty

  def apply(self, act: Mapping):
    """Applies one validated action (dict of ints) to the scene and re-renders it."""
    if act["kind"] == SKIP:
      return  # the canvas is unchanged: no render
    obj = {name: act[name] for name in OBJECT_RANGES}
    if act["kind"] == ADD or not self._objects:
      if len(self._objects) >= self.max_objects:
        raise ValueError(f"scene already holds max_objects={self.max_objects} objects")
      self._objects.append(obj)
    else:
      self._objects[-1] = obj
    self._renderer.set_object(len(self._objects) - 1, obj)
    self._canvas = self._renderer.render().astype(np.float32) / 255.0

  def objects(self) -> List[dict]:
    """The scene's description: the objects added so far, oldest first."""
    return [dict(o) for o in self._objects]

  def canvas(self) -> np.ndarray:
    """The current render, float32 [S, S, 3] in [0, 1]."""
    return self._canvas

  def random_action(self, rng: np.random.Generator) -> dict:
    """A random action: add half of the time, change or skip a quarter each."""
    return random_action(rng)

  def close(self):
    self._renderer.close()


def scene_to_actions(objects: Sequence[Mapping]) -> List[dict]:
  """The actions that build a scene description: one ``add`` per object."""
  return [dict(kind=ADD, **validate_object(o)) for o in objects]


def random_object(rng: np.random.Generator) -> dict:
  """An object with every attribute drawn uniformly."""
  return {name: int(rng.integers(n)) for name, n in OBJECT_RANGES.items()}


def random_action(rng: np.random.Generator, kind_probs=(0.5, 0.25, 0.25)) -> dict:
  """A random action: ``kind`` drawn from ``kind_probs``, the rest uniformly."""
  return dict(kind=int(rng.choice(3, p=kind_probs)), **random_object(rng))
