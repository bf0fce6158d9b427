"""The SPIRAL painting environment: a tf-agents PyEnvironment over libmypaint.

One action = (flag, end, control, size, pressure, red, green, blue), sampled
in that order by the agent (paper section 4.2, docs/design.md). ``flag`` 0 moves
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
from typing import Callable, Iterable, Optional, Sequence, Union

import numpy as np
from spiral_tf.envs import brushes
from spiral_tf.envs import canvas as canvas_lib
from spiral_tf.envs import libmypaint_actions
from spiral_tf.envs import program_env
from spiral_tf.envs import specs
# The action space's facts are declared in libmypaint_actions (the TF renderer
# reads them too) and re-exported here, where callers have always found them.
from spiral_tf.envs.libmypaint_actions import (  # noqa: F401  pylint: disable=g-importing-member
    BRUSH_SIZES, COLOR_BINS, MOVE, MOVE_COMPONENTS, PAINT, PRESSURE_LEVELS, SPATIAL_COMPONENTS)


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
    self.canvas_size, self.grid_size = libmypaint_actions.canvas_and_grid(canvas_size, grid_size)
    self.brush_sizes = specs.positive_reals("brush_sizes", brush_sizes)  # radii in pixels
    if not isinstance(brush, str):
      raise ValueError(f"brush must be a brush name or a .myb path, got {brush!r}")
    if not 0.0 <= fixed_pressure <= 1.0:
      raise ValueError(f"fixed_pressure must be in [0, 1], got {fixed_pressure!r}")
    self.use_color = bool(use_color)
    self.use_pressure = bool(use_pressure)
    self.fixed_pressure = float(fixed_pressure)
    self.channels = 3 if self.use_color else 1
    self.background = libmypaint_actions.background_rgb(background)  # RGB in [0, 1]
    counts = libmypaint_actions.action_counts(self.grid_size, len(self.brush_sizes),
                                              self.use_pressure, self.use_color)
    super().__init__(counts, "flag", {MOVE: MOVE_COMPONENTS},
                     (self.canvas_size, self.canvas_size, self.channels), episode_length,
                     targets, conditional, final_reward_fn,
                     spatial_components=SPATIAL_COMPONENTS, draws_strokes=True)
    self.brush = brush
    self._canvas = canvas_lib.Canvas(self.canvas_size, brush, self.background)

  @property
  def brush_json(self) -> bytes:
    """The .myb file the canvas paints with, as loaded (what the TF renderer models)."""
    return self._canvas.brush_json

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
      colors = libmypaint_actions.COLORS
      rgb = (colors[act["red"]], colors[act["green"]], colors[act["blue"]])
    else:
      rgb = (0.0, 0.0, 0.0)
    pressure = (libmypaint_actions.PRESSURES[act["pressure"]] if self.use_pressure
                else self.fixed_pressure)
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


def random_action(env: LibMyPaintEnv, rng: np.random.Generator,
                  paint_probability: float = 0.5) -> dict:
  """A uniformly random action (the flag drawn with ``paint_probability``)."""
  act = {name: int(rng.integers(n)) for name, n in env.action_counts.items()}
  act["flag"] = int(rng.random() < paint_probability)
  return act

