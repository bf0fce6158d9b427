"""The SPIRAL painting environment: a tf-agents PyEnvironment over libmypaint.

One action = (flag, end, control, size, pressure, red, green, blue), sampled
in that order by the agent (paper section 4.2, DESIGN.md). ``flag`` 0 moves
the brush to ``end`` without painting; 1 paints a quadratic Bézier from the
current point through ``control`` to ``end``. Spatial components are flat
indices on a ``grid x grid`` lattice; a cell (row, col) is the canvas point
(y, x) = (row, col) * canvas / grid. The brush starts at the top-left.

Observations: ``canvas`` (float32 in [0, 1], white background, 3 channels
with colour, 1 without), ``action_mask`` and ``prev_action`` (which components
of the previous action mattered, and their values; zeros at the start),
``step`` (steps taken) and, in conditional mode, ``target``. The reward is 0
except at the last step, where ``final_reward_fn(canvas, target)`` is used if
given: SPIRAL's rewards come from the learner's critic, not the renderer.
"""
import collections
from typing import Callable, Iterable, Optional, Sequence, Union

import numpy as np
from spiral_tf.envs import brushes
from spiral_tf.envs import canvas as canvas_lib
from spiral_tf.envs import program_env
from spiral_tf.envs import specs

MOVE, PAINT = 0, 1
SPATIAL_COMPONENTS = ("end", "control")
# After a move only the end point and the flag matter.
MOVE_COMPONENTS = ("flag", "end")
PRESSURE_LEVELS = 10
COLOR_BINS = 20
# Brush sizes (radii in pixels) of the released agents.
BRUSH_SIZES = (1.0, 2.0, 4.0, 8.0, 12.0, 24.0)


class LibMyPaintEnv(program_env.ProgramEnvironment):
  """Paints strokes chosen by the agent on a libmypaint canvas."""

  def __init__(self,
               canvas_size: int = 64,
               grid_size: int = 32,
               episode_length: int = 20,
               brush: str = brushes.DEFAULT_BRUSH,
               brush_sizes: Sequence[float] = BRUSH_SIZES,
               use_color: bool = False,
               use_pressure: bool = True,
               fixed_pressure: float = 0.8,
               background: Union[str, Sequence[float]] = "white",
               targets: Optional[Union[Iterable[np.ndarray], Callable[[], np.ndarray]]] = None,
               conditional: Optional[bool] = None,
               final_reward_fn: Optional[Callable[[np.ndarray, Optional[np.ndarray]], float]] = None):
    """Creates the environment.

    Args:
      canvas_size: canvas side in pixels.
      grid_size: side of the lattice of spatial actions.
      episode_length: steps per episode (N).
      brush: brush name under the mypaint-brushes folders, or a .myb path.
      brush_sizes: brush radii in pixels, one per value of ``size``.
      use_color: with colour, actions have red/green/blue and the canvas 3 channels.
      use_pressure: without it the action has no ``pressure``; ``fixed_pressure`` is used.
      fixed_pressure: pressure when ``use_pressure`` is False.
      background: 'white', 'black' or an RGB triple in [0, 1].
      targets: conditional mode: an iterable of images, or a callable returning
        one, drawn at every reset (float32 [size, size, channels] in [0, 1]).
      conditional: add ``target`` to observations; defaults to ``targets is not None``.
      final_reward_fn: optional reward at the last step, from (canvas, target).
    """
    self.canvas_size = specs.whole_number("canvas_size", canvas_size, 2)
    self.grid_size = specs.whole_number("grid_size", grid_size, 2)
    if self.grid_size > self.canvas_size:
      raise ValueError(f"grid_size must be in [2, canvas_size={canvas_size}], got {grid_size}")
    self.brush_sizes = specs.positive_reals("brush_sizes", brush_sizes)  # radii in pixels
    if not isinstance(brush, str):
      raise ValueError(f"brush must be a brush name or a .myb path, got {brush!r}")
    if not 0.0 <= fixed_pressure <= 1.0:
      raise ValueError(f"fixed_pressure must be in [0, 1], got {fixed_pressure!r}")
    self.use_color = bool(use_color)
    self.use_pressure = bool(use_pressure)
    self.fixed_pressure = float(fixed_pressure)
    self.channels = 3 if self.use_color else 1
    counts = collections.OrderedDict(flag=2, end=grid_size ** 2, control=grid_size ** 2,
                                     size=len(self.brush_sizes))
    if self.use_pressure:
      counts["pressure"] = PRESSURE_LEVELS
    if self.use_color:
      counts.update(red=COLOR_BINS, green=COLOR_BINS, blue=COLOR_BINS)
    super().__init__(counts, "flag", {MOVE: MOVE_COMPONENTS},
                     (self.canvas_size, self.canvas_size, self.channels), episode_length,
                     targets, conditional, final_reward_fn,
                     spatial_components=SPATIAL_COMPONENTS, draws_strokes=True)
    self._canvas = canvas_lib.Canvas(self.canvas_size, brush, _background_rgb(background))
    self._pressures = np.linspace(0.1, 1.0, PRESSURE_LEVELS)
    self._colors = np.linspace(0.0, 1.0, COLOR_BINS)

  def _clear(self):
    self._canvas.reset()

  def apply(self, act):
    """Renders one validated action (a dict of ints) on the canvas."""
    end = specs.grid_to_canvas(act["end"], self.grid_size, self.canvas_size)
    if act["flag"] == MOVE:
      self._canvas.move_to(*end)
      return
    control = specs.grid_to_canvas(act["control"], self.grid_size, self.canvas_size)
    if self.use_color:
      rgb = (self._colors[act["red"]], self._colors[act["green"]], self._colors[act["blue"]])
    else:
      rgb = (0.0, 0.0, 0.0)
    pressure = self._pressures[act["pressure"]] if self.use_pressure else self.fixed_pressure
    self._canvas.set_brush(self.brush_sizes[act["size"]], rgb)
    self._canvas.bezier_to(control, end, pressure)

  def random_action(self, rng: np.random.Generator) -> dict:
    """A uniformly random action, painting or moving with probability 1/2."""
    return random_action(self, rng, 0.5)

  def canvas(self) -> np.ndarray:
    """The current canvas, float32 [size, size, channels] in [0, 1]."""
    # Without colour every stroke is black (see apply()).
    return self._canvas.rgb() if self.use_color else self._canvas.gray_black_ink()

  def close(self):
    self._canvas.close()


def _background_rgb(background):
  named = {"white": (1.0, 1.0, 1.0), "black": (0.0, 0.0, 0.0)}
  if isinstance(background, str):
    if background not in named:
      raise ValueError(f"background {background!r} is not one of {sorted(named)} "
                       "or an RGB triple")
    return named[background]
  rgb = tuple(float(v) for v in background)
  if len(rgb) != 3 or min(rgb) < 0 or max(rgb) > 1:
    raise ValueError(f"background must be an RGB triple in [0, 1], got {background!r}")
  return rgb


def random_action(env: LibMyPaintEnv, rng: np.random.Generator,
                  paint_probability: float = 0.5) -> dict:
  """A uniformly random action (the flag drawn with ``paint_probability``)."""
  act = {name: int(rng.integers(n)) for name, n in env.action_counts.items()}
  act["flag"] = int(rng.random() < paint_probability)
  return act

