"""A libmypaint canvas with one brush: the renderer ``R`` of the painting domain.

This class knows nothing about actions or specs; it paints quadratic Bézier
strokes in canvas pixels and reads the canvas back as float RGB.
"""
import colorsys
import math
from typing import Sequence, Tuple

import numpy as np

from spiral_tf.envs import brushes
from spiral_tf.envs import libmypaint_ffi

# The released SPIRAL environment paints each action as 50 stroke_to calls.
STROKES_PER_STEP = 50
# Seconds between stroke_to events: the largest float32 below 0.1, not 0.1.
# libmypaint hands each event's time to its dabs in float32 steps while keeping
# the remainder in a double; when a dab lands exactly on an event, the whole
# remainder goes in one step, and float32(0.1) > 0.1 left -1.5e-9 s, so it
# printed "Time is running backwards!" (about once per 150,000 paint actions,
# issue 9 #13) and then used 0.001 s, as it does for a zero remainder: strokes
# were not drawn wrong. With an exact float32 the remainder is exactly zero.
# Staying <= 0.1 matters too: above it libmypaint's tablet workaround
# ("dtime > 0.100" while the pressure is 0) fires at every stroke start and
# changes every render; with this value renders match 0.1's to 2/32768.
DTIME = 0.0999999940395355224609375  # float(np.nextafter(np.float32(0.1), 0))


class Canvas:
  """A fixed-size libmypaint surface plus a brush loaded from a .myb file."""

  def __init__(self, size: int = 64, brush: str = brushes.DEFAULT_BRUSH,
               background: Sequence[float] = (1.0, 1.0, 1.0)):
    self._ffi, self._lib = libmypaint_ffi.load()
    self.size = int(size)
    self.background = np.asarray(background, np.float32).reshape(3)
    with open(brushes.find_brush(brush), "rb") as f:
      self.brush_json = f.read()
    self._rect = self._ffi.new("MyPaintRectangle *")
    self._setting = {name: self._lib.mypaint_brush_setting_from_cname(name.encode())
                     for name in ("radius_logarithmic", "color_h", "color_s", "color_v")}
    self._surface_fixed = self._lib.mypaint_fixed_tiled_surface_new(self.size, self.size)
    if self._surface_fixed == self._ffi.NULL:
      raise MemoryError(f"libmypaint could not allocate a {size}x{size} surface")
    self._surface = self._lib.mypaint_fixed_tiled_surface_interface(self._surface_fixed)
    self._tiles = self._map_tiles()
    self._brush = None
    self.reset()

  def _map_tiles(self):
    """Maps each tile's buffer once; fixed surfaces never move their memory."""
    n = -(-self.size // libmypaint_ffi.TILE_SIZE)
    tiled = self._ffi.cast("MyPaintTiledSurface *", self._surface_fixed)
    request = self._ffi.new("MyPaintTileRequest *")
    tiles = []
    words = libmypaint_ffi.TILE_SIZE * libmypaint_ffi.TILE_SIZE * 4
    for ty in range(n):
      for tx in range(n):
        self._lib.mypaint_tile_request_init(request, 0, tx, ty, 0)
        self._lib.mypaint_tiled_surface_tile_request_start(tiled, request)
        buf = self._ffi.buffer(request.buffer, words * 2)
        arr = np.frombuffer(buf, dtype=np.uint16).reshape(
            libmypaint_ffi.TILE_SIZE, libmypaint_ffi.TILE_SIZE, 4)
        self._lib.mypaint_tiled_surface_tile_request_end(tiled, request)
        tiles.append((ty, tx, arr))
    return tiles

  def reset(self):
    """Clears the canvas and makes a fresh brush (so its random generator restarts)."""
    for _, _, arr in self._tiles:
      arr.fill(0)
    if self._brush is not None:
      self._lib.mypaint_brush_unref(self._brush)
    self._brush = self._lib.mypaint_brush_new()
    if not self._lib.mypaint_brush_from_string(self._brush, self.brush_json):
      raise ValueError("libmypaint could not parse the brush file")
    self.position = (0.0, 0.0)
    self.pressure = 0.0
    self.stroke_open = False

  def set_brush(self, radius: float, rgb: Tuple[float, float, float]):
    """Sets the brush radius (pixels) and colour (RGB in [0, 1])."""
    h, s, v = colorsys.rgb_to_hsv(*rgb)
    set_value = self._lib.mypaint_brush_set_base_value
    set_value(self._brush, self._setting["radius_logarithmic"], math.log(radius))
    set_value(self._brush, self._setting["color_h"], h)
    set_value(self._brush, self._setting["color_s"], s)
    set_value(self._brush, self._setting["color_v"], v)

  def move_to(self, y: float, x: float):
    """Lifts the brush and moves it without painting; the next paint starts a new stroke."""
    self.position = (float(y), float(x))
    self.stroke_open = False

  def bezier_to(self, control: Tuple[float, float], end: Tuple[float, float],
                pressure: float):
    """Paints a quadratic Bézier from the current point through ``control`` to ``end``.

    Pressure goes linearly from the pressure the stroke arrived with (the new
    pressure for a new disjoint stroke) to ``pressure``.
    """
    lib, brush, surface = self._lib, self._brush, self._surface
    y0, x0 = self.position
    yc, xc = control
    y1, x1 = end
    p0 = self.pressure if self.stroke_open else pressure
    lib.mypaint_surface_begin_atomic(surface)
    if not self.stroke_open:
      lib.mypaint_brush_reset(brush)
      lib.mypaint_brush_new_stroke(brush)
      # One stroke_to at the start point first, so the brush does not drag a
      # line in from wherever it was and pressure starts where it should.
      lib.mypaint_brush_stroke_to(brush, surface, x0, y0, 0.0, 0.0, 0.0, DTIME)
    n = STROKES_PER_STEP
    for i in range(1, n + 1):
      t = i / n
      a, b, c = (1 - t) * (1 - t), 2 * (1 - t) * t, t * t
      lib.mypaint_brush_stroke_to(
          brush, surface, a * x0 + b * xc + c * x1, a * y0 + b * yc + c * y1,
          p0 + (pressure - p0) * t, 0.0, 0.0, DTIME)
    lib.mypaint_surface_end_atomic(surface, self._rect)
    self.position = (float(y1), float(x1))
    self.pressure = float(pressure)
    self.stroke_open = True

  def _raw(self) -> np.ndarray:
    """uint16 [size, size, 4] view (one tile) or copy (several) of the surface."""
    if len(self._tiles) == 1:
      return self._tiles[0][2][:self.size, :self.size]
    t = libmypaint_ffi.TILE_SIZE
    n = -(-self.size // t)
    out = np.empty((n * t, n * t, 4), np.uint16)
    for ty, tx, arr in self._tiles:
      out[ty * t:(ty + 1) * t, tx * t:(tx + 1) * t] = arr
    return out[:self.size, :self.size]

  def rgba(self) -> np.ndarray:
    """The raw canvas: float32 [size, size, 4] premultiplied RGBA in [0, 1]."""
    return self._raw().astype(np.float32) * (1.0 / libmypaint_ffi.FIXED_ONE)

  def rgb(self) -> np.ndarray:
    """The canvas over its background: float32 [size, size, 3] in [0, 1]."""
    raw = self._raw().astype(np.float32)
    # Premultiplied "over": rgb + (1 - alpha) * background, in 15-bit units.
    rgb = raw[..., :3] + (libmypaint_ffi.FIXED_ONE - raw[..., 3:]) * self.background
    rgb *= 1.0 / libmypaint_ffi.FIXED_ONE
    return np.clip(rgb, 0.0, 1.0, out=rgb)

  def gray_black_ink(self) -> np.ndarray:
    """rgb() averaged over channels when every dab was black: float32 [size, size, 1].

    With black paint the premultiplied colour is exactly 0, so the composite
    is (1 - alpha) * background: one pass over the alpha channel.
    """
    gray = self._raw()[..., 3:].astype(np.float32)
    bg = float(self.background.mean())
    gray *= -bg / libmypaint_ffi.FIXED_ONE
    gray += bg
    return np.clip(gray, 0.0, 1.0, out=gray)

  def close(self):
    """Frees the brush and the surface."""
    if self._brush is not None:
      self._lib.mypaint_brush_unref(self._brush)
      self._brush = None
    if self._surface is not None:
      self._tiles = []
      self._lib.mypaint_surface_unref(self._surface)
      self._surface = None

  def __del__(self):
    try:
      self.close()
    except Exception:  # pylint: disable=broad-except
      pass
