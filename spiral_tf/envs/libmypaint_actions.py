"""The painting domain's action space, declared once.

Both renderers of the painting domain read it: ``libmypaint_env.LibMyPaintEnv``
(libmypaint) and ``tf_renderer.TFRenderer`` (TensorFlow), so the two cannot
drift apart. It holds the components and their counts, what a pressure or a
colour bin means, the brush sizes of the released agents and the options
both renderers check. No TensorFlow and no libmypaint here: the evaluation
tools (SVGs, stroke order) read it too.
"""
import collections
from typing import Dict, Sequence, Tuple, Union

import numpy as np

from spiral_tf.envs import specs

MOVE, PAINT = 0, 1  # values of ``flag``
SPATIAL_COMPONENTS = ("end", "control")
# After a move only the end point and the flag matter.
MOVE_COMPONENTS = ("flag", "end")
PRESSURE_LEVELS = 10
COLOR_BINS = 20
# Brush sizes (radii in pixels) of the released agents.
BRUSH_SIZES = (1.0, 2.0, 4.0, 8.0, 12.0, 24.0)


def _read_only(values: np.ndarray) -> np.ndarray:
  values.setflags(write=False)  # shared by every renderer: nobody may change a bin
  return values


# What a bin means: pressure bin i paints with PRESSURES[i], colour bin i is
# the channel value COLORS[i]. float64; the TF renderer casts to float32.
PRESSURES = _read_only(np.linspace(0.1, 1.0, PRESSURE_LEVELS))
COLORS = _read_only(np.linspace(0.0, 1.0, COLOR_BINS))

_NAMED_BACKGROUNDS = {"white": (1.0, 1.0, 1.0), "black": (0.0, 0.0, 0.0)}


def action_counts(grid_size: int, num_brush_sizes: int, use_pressure: bool,
                  use_color: bool) -> Dict[str, int]:
  """Component -> number of values, in the order the agent samples them (paper section 4.2)."""
  counts = collections.OrderedDict(flag=2, end=grid_size ** 2, control=grid_size ** 2,
                                   size=num_brush_sizes)
  if use_pressure:
    counts["pressure"] = PRESSURE_LEVELS
  if use_color:
    counts.update(red=COLOR_BINS, green=COLOR_BINS, blue=COLOR_BINS)
  return counts


def canvas_and_grid(canvas_size, grid_size) -> Tuple[int, int]:
  """(canvas_size, grid_size) as ints; ValueError naming the option when one is wrong."""
  canvas = specs.whole_number("canvas_size", canvas_size, 2)
  grid = specs.whole_number("grid_size", grid_size, 2)
  if grid > canvas:
    raise ValueError(f"grid_size must be in [2, canvas_size={canvas_size}], got {grid_size}")
  return canvas, grid


def background_rgb(background: Union[str, Sequence[float]]) -> Tuple[float, float, float]:
  """'white', 'black' or an RGB triple in [0, 1] -> the RGB triple; ValueError otherwise."""
  if isinstance(background, str):
    if background not in _NAMED_BACKGROUNDS:
      raise ValueError(f"background {background!r} is not one of {sorted(_NAMED_BACKGROUNDS)} "
                       "or an RGB triple")
    return _NAMED_BACKGROUNDS[background]
  rgb = tuple(float(v) for v in background)
  if len(rgb) != 3 or min(rgb) < 0 or max(rgb) > 1:
    raise ValueError(f"background must be an RGB triple in [0, 1], got {background!r}")
  return rgb
