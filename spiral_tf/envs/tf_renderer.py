"""The painting environment's renderer in TensorFlow ops: libmypaint's dab model, batched.

``TFRenderer`` paints the actions of ``LibMyPaintEnv`` (same components, same
meaning: quadratic Bézier from the pen through ``control`` to ``end`` as 50
``stroke_to`` segments, pressure interpolated along them, brush size and
colour, move vs paint, the grid-to-canvas mapping, the pen starting at the
top-left) onto float canvases [B, S, S, C], inside one graph that XLA can
compile, on a CPU or an accelerator.

The model follows libmypaint 1.5/1.6 as the environment drives it (facts read
from libmypaint's source and checked against the library by experiment; see
DESIGN.md, "libmypaint's dab model"):
* the brush tracks the pen with a lag (``slow_tracking``), one low-pass step
  per ``stroke_to``; dabs lie on the straight segments between the tracked
  points, one every 1 / (dabs_per_actual_radius / r_actual +
  dabs_per_basic_radius / r_basic) pixels, the fraction left over carried to
  the next action of the same stroke;
* r_actual = size * exp(f(speed)): the brush's slow ("gross") speed, in pixels
  per second, enters ``radius_logarithmic`` through its speed2 mapping;
* per dab: position jitter (``offset_by_random``) and log-radius jitter
  (``radius_by_random``, opacity scaled down when the radius grew), both with
  libmypaint's Gaussian (a scaled sum of 4 uniforms); opacity from pressure;
  the hardness profile of rr = (d / r)^2 at pixel centres, and libmypaint's
  anti-aliased rr for radii below 3 pixels.
* one action's dabs share one colour, so its coverage 1 - prod(1 - a_d) does
  not depend on their order: all dabs are computed in parallel and summed as
  log-transmittance; actions are composited in order ("over").
Each dab touches only a window around itself (its brush size's bound), so the
cost is that of the dabs, not of the canvas. Random numbers come from a
counter-based hash of (seed, batch row, step, dab), so a canvas is exactly
reproducible from its seed and does not depend on how the dabs were chunked.
"""
import collections
import functools
import math
from typing import Mapping, NamedTuple, Optional, Sequence, Tuple, Union

import numpy as np
import tensorflow as tf

from spiral_tf.envs import brushes
from spiral_tf.envs import canvas as canvas_lib
from spiral_tf.envs import dab_shape
from spiral_tf.envs.brush_model import BrushModel  # noqa: F401  (re-exported)
from spiral_tf.envs import libmypaint_env
from spiral_tf.envs import specs
from spiral_tf.envs import tf_random

# libmypaint's clamp of every dab radius (ACTUAL_RADIUS_MIN/MAX).
_RADIUS_MIN, _RADIUS_MAX = 0.2, 1000.0
# Below this radius (pixels) libmypaint measures rr with its anti-aliasing.
_AA_RADIUS = 3.0
# Dab-pixel pairs per chunk of dabs: big enough to amortise the loop, small
# enough that a chunk's temporaries stay a few MB. Without XLA every chunk
# also adds a whole [B*S*S] buffer (segment sums), so its chunks are larger.
_PAIRS_PER_CHUNK = {True: 1 << 17, False: 1 << 20}
# A dab's opacity is capped so log(1 - a) stays finite; 1 - 1e-6 is below
# libmypaint's 15-bit resolution (3e-5).
_MAX_DAB_ALPHA = 1.0 - 1e-6


class PaintState(NamedTuple):
  """A batch of canvases and their brushes between actions."""
  canvas: tf.Tensor          # [B, S, S, C] float32, composited over the background
  position: tf.Tensor        # [B, 2] float32 (y, x): the pen, where the last action ended
  brush_position: tf.Tensor  # [B, 2] float32 (y, x): libmypaint's tracked (lagging) point
  pressure: tf.Tensor        # [B] float32: pressure at the end of the last paint
  partial_dabs: tf.Tensor    # [B] float32: fraction of a dab carried into the next paint
  speed: tf.Tensor           # [B] float32: the brush's slow speed, pixels per second
  radius: tf.Tensor          # [B] float32: the brush's actual radius at the last segment
  stroke_open: tf.Tensor     # [B] bool: the last action painted, so a paint continues it
  step: tf.Tensor            # [B] int32: actions taken; keys the random sequence


class TFRenderer:
  """Renders LibMyPaintEnv actions with TensorFlow ops (see the module docstring)."""

  def __init__(self,
               canvas_size: int = 64,
               grid_size: int = 32,
               brush_sizes: Sequence[float] = libmypaint_env.BRUSH_SIZES,
               use_color: bool = False,
               use_pressure: bool = True,
               fixed_pressure: float = 0.8,
               background: Union[str, Sequence[float]] = "white",
               brush: Union[str, bytes] = brushes.DEFAULT_BRUSH,
               action_counts: Optional[Mapping[str, int]] = None):
    """Takes LibMyPaintEnv's keyword arguments; ``from_env`` reads them off an environment.

    ``action_counts`` (component -> number of values) defaults to the
    environment's layout for these options.
    """
    if grid_size < 2 or grid_size > canvas_size:
      raise ValueError(f"grid_size must be in [2, canvas_size={canvas_size}], got {grid_size}")
    if not brush_sizes or min(brush_sizes) <= 0:
      raise ValueError(f"brush_sizes must be positive radii, got {brush_sizes}")
    self.canvas_size = int(canvas_size)
    self.grid_size = int(grid_size)
    self.brush_sizes = tuple(float(s) for s in brush_sizes)
    self.use_color = bool(use_color)
    self.use_pressure = bool(use_pressure)
    self.fixed_pressure = float(fixed_pressure)
    self.channels = 3 if self.use_color else 1
    # The helper is the environment's own: the same names, the same errors.
    self.background = np.asarray(libmypaint_env._background_rgb(background), np.float32)  # pylint: disable=protected-access
    self.brush = BrushModel.from_myb(brush)
    if action_counts is None:
      action_counts = collections.OrderedDict(
          flag=2, end=self.grid_size ** 2, control=self.grid_size ** 2,
          size=len(self.brush_sizes))
      if self.use_pressure:
        action_counts["pressure"] = libmypaint_env.PRESSURE_LEVELS
      if self.use_color:
        action_counts.update(red=libmypaint_env.COLOR_BINS, green=libmypaint_env.COLOR_BINS,
                             blue=libmypaint_env.COLOR_BINS)
    self.action_counts = collections.OrderedDict(action_counts)
    self._pressures = np.linspace(0.1, 1.0, libmypaint_env.PRESSURE_LEVELS).astype(np.float32)
    self._colors = np.linspace(0.0, 1.0, libmypaint_env.COLOR_BINS).astype(np.float32)
    self._classes = [self._size_class(r) for r in self.brush_sizes]
    self._tracking = self._filters()
    self._compiled = {}

  @classmethod
  def from_env(cls, env: "libmypaint_env.LibMyPaintEnv") -> "TFRenderer":
    """A renderer with ``env``'s canvas, grid, brush, sizes, colour, pressure and background."""
    canvas = env._canvas  # pylint: disable=protected-access
    return cls(canvas_size=env.canvas_size, grid_size=env.grid_size,
               brush_sizes=env.brush_sizes, use_color=env.use_color,
               use_pressure=env.use_pressure, fixed_pressure=env.fixed_pressure,
               background=tuple(float(v) for v in canvas.background),
               brush=canvas._brush_json,  # pylint: disable=protected-access
               action_counts=env.action_counts)

  # --- static facts ---------------------------------------------------------------
  def _size_class(self, size):
    """Static window and chunk sizes for the dabs of one brush size."""
    b = self.brush
    r_basic = min(max(size, _RADIUS_MIN), _RADIUS_MAX)
    # Extreme speeds: 0 and the fastest segment (a Bézier's speed is at most
    # twice its longest control leg, the canvas diagonal).
    fastest = 2.0 * math.sqrt(2.0) * self.canvas_size / canvas_lib.STROKES_PER_STEP / canvas_lib.DTIME
    logs = [math.log(size) + b.radius_by_speed2[0] + b.radius_by_speed2[1] * b.speed2_input(v)
            for v in (0.0, fastest)]
    jitter = b.radius_by_random * tf_random.GAUSS_BOUND
    r_max = min(math.exp(max(logs) + jitter), _RADIUS_MAX)
    r_min = max(math.exp(min(logs) - jitter), _RADIUS_MIN)
    # A dab touches pixels [floor(c - r), floor(c + r)] on each axis (the
    # anti-aliased rr reaches the pixel's nearest point, so not beyond r).
    window = min(int(math.floor(2.0 * r_max)) + 2, self.canvas_size)
    chunk = {xla: max(1, pairs // (window * window)) for xla, pairs in _PAIRS_PER_CHUNK.items()}
    aa = "always" if r_max < _AA_RADIUS else ("never" if r_min >= _AA_RADIUS else "mixed")
    return dict(size=size, r_basic=r_basic, radius=r_max, window=window, chunk=chunk, aa=aa)

  def _filters(self):
    """[N, N] matrices of libmypaint's per-stroke_to low-pass filters, N = 50.

    Tracking: x_i = x_{i-1} + (target_i - x_{i-1}) * f with f = 1 - exp(-100
    dtime / slow_tracking); speed: s_i = s_{i-1} + (v_i - s_{i-1}) * g with
    g = 1 - exp(-dtime / speed2_slowness). Unrolled: x = M @ target + d * x_0.
    """
    n, dt, b = canvas_lib.STROKES_PER_STEP, canvas_lib.DTIME, self.brush

    def lowpass(gain):
      i = np.arange(n)
      lag = np.clip(i[:, None] - i[None, :], 0, None)
      m = np.where(i[:, None] >= i[None, :], gain * (1.0 - gain) ** lag, 0.0)
      return m.astype(np.float32), ((1.0 - gain) ** (i + 1)).astype(np.float32)

    f = 1.0 - math.exp(-100.0 * dt / b.slow_tracking) if b.slow_tracking > 0.001 else 1.0
    g = 1.0 - math.exp(-dt / b.speed2_slowness) if b.speed2_slowness > 0.001 else 1.0
    track_m, track_d = lowpass(f)
    speed_m, speed_d = lowpass(g)
    # Dabs in a segment see the speed part-way through it: take its middle.
    g_half = 1.0 - math.exp(-0.5 * dt / b.speed2_slowness) if b.speed2_slowness > 0.001 else 1.0
    return dict(f=f, track_m=track_m, track_d=track_d, speed_m=speed_m, speed_d=speed_d,
                g_half=g_half)

  # --- public API -----------------------------------------------------------------
  def initial_state(self, batch: int) -> PaintState:
    """Blank canvases, the pen at the top-left, fresh brushes: the state after env.reset()."""
    bg = self.background if self.use_color else self.background.mean(keepdims=True)
    s = self.canvas_size
    return PaintState(
        canvas=tf.broadcast_to(tf.constant(bg, tf.float32), [batch, s, s, self.channels]),
        position=tf.zeros([batch, 2]), brush_position=tf.zeros([batch, 2]),
        pressure=tf.zeros([batch]), partial_dabs=tf.zeros([batch]), speed=tf.zeros([batch]),
        radius=tf.zeros([batch]),
        stroke_open=tf.zeros([batch], tf.bool), step=tf.zeros([batch], tf.int32))

  def step(self, state: PaintState, actions: Mapping[str, tf.Tensor], seed,
           jit_compile: bool = True) -> PaintState:
    """Applies one action per row: ``actions`` maps each component to int32 [B]."""
    actions = self._check(actions, ndim=1)
    return self._function("step", jit_compile)(state, actions, tf_random.seed_pair(seed))

  def render_programs(self, actions: Mapping[str, tf.Tensor], seed,
                      jit_compile: bool = True) -> tf.Tensor:
    """Final canvases [B, S, S, C] of whole programs: ``actions`` maps components to int32 [B, T]."""
    actions = self._check(actions, ndim=2)
    return self._function("programs", jit_compile)(actions, tf_random.seed_pair(seed))

  def paint_step(self, state: PaintState, actions: Mapping[str, tf.Tensor],
                 seed: tf.Tensor, xla: bool = True) -> PaintState:
    """The step as graph ops, for a caller's own tf.function; ``xla``: whether it is jit-compiled.

    Actions are checked by graph assertions (XLA drops them) instead of in Python.
    """
    return self._step(state, actions, seed, xla=xla)

  # --- checks and compilation -----------------------------------------------------
  def _check(self, actions, ndim):
    """Validates concrete actions (raising InvalidActionError naming the component) and casts."""
    if not isinstance(actions, Mapping):
      raise specs.InvalidActionError(
          f"actions must be a dict with components {list(self.action_counts)}, got "
          f"{type(actions).__name__}")
    unknown = set(actions) - set(self.action_counts)
    if unknown:
      raise specs.InvalidActionError(
          f"unknown action component(s) {sorted(unknown)}; valid: {list(self.action_counts)}")
    out = {}
    shape = None
    for name, count in self.action_counts.items():
      if name not in actions:
        raise specs.InvalidActionError(
            f"action component {name!r} is missing; it must be an integer in [0, {count - 1}] "
            f"(components: {list(self.action_counts)})")
      value = actions[name]
      if not tf.is_tensor(value) or hasattr(value, "numpy"):
        array = np.asarray(value)
        if array.ndim != ndim:
          raise specs.InvalidActionError(
              f"action component {name!r} has shape {array.shape}; expected {ndim} dimension(s)")
        if array.size and (not np.issubdtype(array.dtype, np.integer)
                           or array.min() < 0 or array.max() >= count):
          bad = array
          if np.issubdtype(array.dtype, np.number):
            wrong = (array < 0) | (array >= count) | (array != np.floor(array))
            bad = array.flat[np.flatnonzero(wrong)[0]].item() if wrong.any() else array.dtype
          raise specs.InvalidActionError(
              f"action component {name!r} = {bad!r} is out of range; it must be an integer "
              f"in [0, {count - 1}]")
        if shape is not None and array.shape != shape:
          raise specs.InvalidActionError(
              f"action component {name!r} has shape {array.shape}; the others have {shape}")
        shape = array.shape
      out[name] = tf.cast(value, tf.int32)
    return out

  def _function(self, kind, jit_compile):
    key = (kind, bool(jit_compile))
    if key not in self._compiled:
      body = self._step if kind == "step" else self._programs
      self._compiled[key] = tf.function(functools.partial(body, xla=bool(jit_compile)),
                                        jit_compile=bool(jit_compile), reduce_retracing=True,
                                        autograph=False)
    return self._compiled[key]

  def _programs(self, actions, seed, xla):
    """[B, T] actions -> [B, S, S, C] canvases, one step per action."""
    flag = actions["flag"]
    state = self.initial_state(tf.shape(flag)[0])
    steps = tf.shape(flag)[1]

    def body(t, state):
      return t + 1, self._step(state, {k: v[:, t] for k, v in actions.items()}, seed, xla)

    _, state = tf.while_loop(lambda t, _: t < steps, body, (tf.constant(0), state))
    return state.canvas

  # --- one action -----------------------------------------------------------------
  def _grid_point(self, index):
    """Flat grid index [B] -> canvas point (y, x) [B, 2]: (row, col) * canvas / grid."""
    scale = self.canvas_size / self.grid_size
    return tf.cast(tf.stack([index // self.grid_size, index % self.grid_size], -1),
                   tf.float32) * scale

  def _step(self, state: PaintState, actions, seed, xla: bool) -> PaintState:
    """One action per row (the pure function under step(); shapes in comments).

    ``xla`` picks how dab windows are summed into the canvas: an in-place
    scatter under XLA, segment sums (a far faster kernel) without it.
    """
    b, n = self.brush, canvas_lib.STROKES_PER_STEP
    counts = self.action_counts
    checks = [tf.debugging.assert_less(tf.cast(actions[c], tf.int32), counts[c],
                                       message=f"action component {c!r} must be < {counts[c]}")
              for c in counts]
    checks += [tf.debugging.assert_non_negative(tf.cast(actions[c], tf.int32),
                                                message=f"action component {c!r} must be >= 0")
               for c in counts]
    with tf.control_dependencies(checks):
      flag = tf.identity(tf.cast(actions["flag"], tf.int32))          # [B]
    paint = tf.equal(flag, libmypaint_env.PAINT)                    # [B]
    end = self._grid_point(tf.cast(actions["end"], tf.int32))        # [B, 2]
    control = self._grid_point(tf.cast(actions["control"], tf.int32))
    size_index = tf.cast(actions["size"], tf.int32)                   # [B]
    size = tf.gather(tf.constant(self.brush_sizes, tf.float32), size_index)
    if self.use_pressure:
      pressure = tf.gather(self._pressures, tf.cast(actions["pressure"], tf.int32))
    else:
      pressure = tf.fill(tf.shape(flag), self.fixed_pressure)       # [B]
    if self.use_color:
      ink = tf.gather(self._colors, tf.stack(
          [tf.cast(actions[c], tf.int32) for c in ("red", "green", "blue")], -1))  # [B, 3]
    else:
      ink = tf.zeros([tf.shape(flag)[0], 1])  # without colour every stroke is black

    # The 50 stroke_to targets along the Bézier, then the brush's lagging track.
    open_ = state.stroke_open                                         # [B]
    t = tf.range(1, n + 1, dtype=tf.float32) / n                      # [N]
    w0, w1, w2 = [w[None, :, None] for w in ((1 - t) ** 2, 2 * (1 - t) * t, t * t)]
    p0 = state.position
    targets = w0 * p0[:, None] + w1 * control[:, None] + w2 * end[:, None]  # [B, N, 2]
    # A new stroke starts with a reset stroke_to at the pen: the tracking
    # filter still pulls it towards where the brush last was.
    start = tf.where(open_[:, None], state.brush_position,
                     state.brush_position + (p0 - state.brush_position) * self._tracking["f"])
    tracked = (tf.einsum("ij,bjc->bic", self._tracking["track_m"], targets)
               + self._tracking["track_d"][None, :, None] * start[:, None])  # [B, N, 2]
    verts = tf.concat([start[:, None], tracked], 1)                  # [B, N+1, 2]
    length = tf.norm(verts[:, 1:] - verts[:, :-1], axis=-1)           # [B, N]

    # Slow speed (pixels per second) -> actual radius, per segment.
    velocity = length / canvas_lib.DTIME                              # [B, N]
    speed0 = tf.where(open_, state.speed, 0.0)                        # [B]
    speed_end = (tf.einsum("ij,bj->bi", self._tracking["speed_m"], velocity)
                 + self._tracking["speed_d"][None] * speed0[:, None])  # [B, N]
    speed_before = tf.concat([speed0[:, None], speed_end[:, :-1]], 1)
    speed_mid = speed_before + (velocity - speed_before) * self._tracking["g_half"]
    log_radius = (tf.math.log(size)[:, None] + b.radius_by_speed2[0]
                  + b.radius_by_speed2[1] * b.speed2_input(speed_mid))  # [B, N]
    r_actual = tf.clip_by_value(tf.exp(log_radius), _RADIUS_MIN, _RADIUS_MAX)
    r_basic = tf.clip_by_value(size, _RADIUS_MIN, _RADIUS_MAX)
    density = b.dabs_per_actual_radius / r_actual + b.dabs_per_basic_radius / r_basic[:, None]
    # A continued stroke places its first dab with the radius the brush had
    # (libmypaint updates it only at that dab): convert the carried fraction
    # so the first dab lands where it would, the rest follow the new radius.
    density_then = (b.dabs_per_actual_radius / tf.maximum(state.radius, _RADIUS_MIN)
                    + b.dabs_per_basic_radius / r_basic)
    partial0 = tf.where(open_, 1.0 - (1.0 - state.partial_dabs) * density[:, 0] / density_then,
                        0.0)                                          # [B]
    dab_u = tf.concat([partial0[:, None], partial0[:, None]
                       + tf.cumsum(length * density, axis=1)], 1)    # [B, N+1] dabs so far
    total = dab_u[:, -1]
    num_dabs = tf.where(paint, tf.cast(tf.floor(total), tf.int32), 0)  # [B]

    # Pressure at each vertex: the reset stroke_to has pressure 0.
    p_from = tf.where(open_, state.pressure, pressure)
    ramp = tf.range(n + 1, dtype=tf.float32) / n                      # [N+1]
    vert_pressure = p_from[:, None] + (pressure - p_from)[:, None] * ramp[None]
    vert_pressure = tf.concat([tf.where(open_, state.pressure, 0.0)[:, None],
                               vert_pressure[:, 1:]], 1)              # [B, N+1]

    strokes = dict(verts=verts, dab_u=dab_u, pressure=vert_pressure, log_radius=log_radius,
                   size=size, key=tf_random.stroke_keys(seed, state.step))
    log_t = tf.zeros([tf.shape(flag)[0] * self.canvas_size * self.canvas_size])
    for index, cls in enumerate(self._classes):
      n_c = tf.where(tf.equal(size_index, index), num_dabs, 0)
      log_t = self._paint_class(cls, n_c, strokes, log_t, xla)
    s = self.canvas_size
    cover = 1.0 - tf.exp(tf.reshape(log_t, [-1, s, s, 1]))           # [B, S, S, 1]
    canvas = tf.clip_by_value(ink[:, None, None, :] * cover + (1.0 - cover) * state.canvas,
                              0.0, 1.0)
    keep = lambda new, old: tf.where(paint, new, old)  # noqa: E731
    return PaintState(
        canvas=canvas, position=end,
        brush_position=tf.where(paint[:, None], verts[:, -1], state.brush_position),
        pressure=keep(pressure, state.pressure),
        partial_dabs=keep(total - tf.floor(total), state.partial_dabs),
        speed=keep(speed_end[:, -1], state.speed), radius=keep(r_actual[:, -1], state.radius),
        stroke_open=paint, step=state.step + 1)

  def _paint_class(self, cls, counts, strokes, log_t, xla):
    """Adds log(1 - a) of every dab of strokes of one brush size to log_t [B*S*S]."""
    s, window = self.canvas_size, cls["window"]
    ends = tf.cumsum(counts)                                          # [B] inclusive
    total = ends[-1]
    h = self.brush.hardness

    def body(first, log_t, chunk):
      index = first + tf.range(chunk)                                 # [K] flat dab number
      row = tf.minimum(tf.searchsorted(ends, index, side="right"), tf.size(ends) - 1)  # [K]
      k = tf.cast(index - (tf.gather(ends, row) - tf.gather(counts, row)) + 1, tf.float32)
      y, x, radius, alpha = self._dabs(row, k, strokes)               # [K] each
      alpha = tf.where(index < total, alpha, 0.0)
      # ``first >= 0`` always holds, but XLA cannot fold it away.
      one = tf.cast(first >= 0, tf.float32)
      y, x, radius, alpha = _materialise(one, y, x, radius, alpha)
      offsets = tf.range(window)
      y0 = tf.clip_by_value(tf.cast(tf.floor(y - cls["radius"]), tf.int32), 0, s - window)
      x0 = tf.clip_by_value(tf.cast(tf.floor(x - cls["radius"]), tf.int32), 0, s - window)
      py = y0[:, None] + offsets[None]                                # [K, W]
      px = x0[:, None] + offsets[None]
      rr = self._rr(cls, py, px, y, x, radius)                        # [K, W, W]
      # The hardness profile is two lines in rr meeting at (h, h); for h <= 1/2
      # it is their maximum (min above 1/2), and 0 past rr = 1.
      if h >= 1.0:
        opa = tf.where(rr <= 1.0, 1.0, 0.0)
      else:
        line1, line2 = 1.0 - (1.0 / h - 1.0) * rr, h / (1.0 - h) * (1.0 - rr)
        opa = tf.nn.relu(tf.maximum(line1, line2) if h <= 0.5 else tf.minimum(line1, line2))
        if h > 0.5:
          opa = tf.where(rr > 1.0, 0.0, opa)
      a = tf.minimum(opa * alpha[:, None, None], _MAX_DAB_ALPHA)
      update = tf.reshape(tf.math.log(1.0 - a), [-1])
      ids = tf.reshape(((row[:, None] * s + py) * s)[:, :, None] + px[:, None, :], [-1])
      if xla:
        log_t = tf.tensor_scatter_nd_add(log_t, ids[:, None], update)
      else:
        log_t += tf.math.unsorted_segment_sum(update, ids, tf.size(log_t))
      return first + chunk, log_t

    big = cls["chunk"][xla]
    if not xla:  # shapes may vary: one chunk when the dabs are few
      chunk = tf.minimum(big, tf.maximum(total, 1))
      _, log_t = tf.while_loop(lambda first, _: first < total,
                               lambda first, log_t: body(first, log_t, chunk),
                               (tf.constant(0), log_t))
      return log_t
    # XLA needs static chunks: full big ones, then the rest in small ones, so
    # a small batch does not pay for a big chunk of padding.
    small = max(1, big // 32)
    first, log_t = tf.while_loop(lambda first, _: first + big <= total,
                                 lambda first, log_t: body(first, log_t, big),
                                 (tf.constant(0), log_t))
    _, log_t = tf.while_loop(lambda first, _: first < total,
                             lambda first, log_t: body(first, log_t, small), (first, log_t))
    return log_t

  def _dabs(self, row, k, strokes):
    """Centre (y, x), radius and opacity of dab k (from 1) of stroke ``row``: each [K]."""
    b = self.brush
    dab_u = tf.gather(strokes["dab_u"], row)                          # [K, N+1]
    seg = tf.minimum(tf.reduce_sum(tf.cast(dab_u[:, 1:] < k[:, None], tf.int32), 1),
                     canvas_lib.STROKES_PER_STEP - 1)                 # [K]
    at = tf.stack([row, seg], -1)
    u0 = tf.gather(dab_u, seg, batch_dims=1)
    u1 = tf.gather(dab_u, seg + 1, batch_dims=1)
    frac = tf.clip_by_value((k - u0) / tf.maximum(u1 - u0, 1e-12), 0.0, 1.0)  # [K]
    v0 = tf.gather_nd(strokes["verts"], at)                           # [K, 2]
    v1 = tf.gather_nd(strokes["verts"], at + [0, 1])
    centre = v0 + (v1 - v0) * frac[:, None]
    p0 = tf.gather_nd(strokes["pressure"], at)
    p1 = tf.gather_nd(strokes["pressure"], at + [0, 1])
    pressure = tf.maximum(p0 + (p1 - p0) * frac, 0.0)                 # [K]
    log_radius = tf.gather_nd(strokes["log_radius"], at)
    size = tf.gather(strokes["size"], row)
    gauss = tf_random.gaussians(tf.gather(strokes["key"], row), k)             # [K, 3]
    amp = tf.maximum(b.offset_by_random[0] + b.offset_by_random[1] * pressure, 0.0) * size
    # libmypaint jitters x with the first Gaussian and y with the second.
    y = centre[:, 0] + gauss[:, 1] * amp
    x = centre[:, 1] + gauss[:, 0] * amp
    r_actual = tf.clip_by_value(tf.exp(log_radius), _RADIUS_MIN, _RADIUS_MAX)
    radius = tf.clip_by_value(tf.exp(log_radius + b.radius_by_random * gauss[:, 2]),
                              _RADIUS_MIN, _RADIUS_MAX)
    opaque = tf.maximum(b.opaque[0] + b.opaque[1] * pressure, 0.0)
    opaque = tf.clip_by_value(opaque * (b.opaque_multiply[0] + b.opaque_multiply[1] * pressure),
                              0.0, 1.0)
    # A dab whose radius the jitter grew is fainter, keeping its ink (libmypaint).
    opaque *= tf.minimum(tf.square(r_actual / radius), 1.0)
    return y, x, radius, opaque

  def _rr(self, cls, py, px, y, x, radius):
    """(distance / radius)^2 of pixels [K, W] x [K, W] from dabs [K]: [K, W, W]."""
    inv_r2 = 1.0 / tf.square(radius)                                  # [K]

    def plain():  # measured at pixel centres; separable, so [K, W] parts first
      dy2 = tf.square(tf.cast(py, tf.float32) + 0.5 - y[:, None]) * inv_r2[:, None]
      dx2 = tf.square(tf.cast(px, tf.float32) + 0.5 - x[:, None]) * inv_r2[:, None]
      return dy2[:, :, None] + dx2[:, None, :]

    def antialiased():
      return dab_shape.rr_antialiased(py, px, y, x, radius, inv_r2[:, None, None],
                                      self.brush.dab_angle)

    if cls["aa"] == "never":
      return plain()
    if cls["aa"] == "always":
      return antialiased()
    # Mixed sizes: nearly every chunk is all one kind; compute both only when not.
    small = radius < _AA_RADIUS

    def both():
      return tf.where(small[:, None, None], antialiased(), plain())

    return tf.cond(tf.reduce_all(small), antialiased,
                   lambda: tf.cond(tf.reduce_any(small), both, plain))


def _materialise(one, *values):
  """The [K] per-dab values, computed once before the [K, W, W] pixel loops.

  XLA fuses cheap elementwise producers into their consumers, so each dab's
  chain (gathers, lerps, jitter) ran once per pixel of its window: ~45 ns
  per dab-pixel pair instead of ~5 (measured, XLA on CPU). Its optimisation
  barrier is stripped on CPU, but a division counts as expensive and is not
  duplicated into a broadcasting loop: dividing by a runtime 1 keeps every
  value intact.
  """
  return [v / one for v in values]
