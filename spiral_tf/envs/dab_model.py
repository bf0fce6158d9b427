"""libmypaint's dab model in TensorFlow ops: one action's stroke, its dabs, their coverage.

The model follows libmypaint 1.5/1.6 as the environment drives it (facts read
from libmypaint's source and checked against the library by experiment; see
docs/design.md, "libmypaint's dab model"):
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
  log-transmittance.
Each dab touches only a window around itself (its brush size's bound), so the
cost is that of the dabs, not of the canvas. Random numbers come from a
counter-based hash of (seed, batch row, step, dab), so a canvas is exactly
reproducible from its seed and does not depend on how the dabs were chunked.

``tf_renderer.TFRenderer`` turns actions into the arguments of these
functions and composites their coverage onto its canvases.
"""
import math
from typing import Dict, NamedTuple

import numpy as np
import tensorflow as tf

from spiral_tf.envs import canvas as canvas_lib
from spiral_tf.envs import dab_shape
from spiral_tf.envs import tf_random
from spiral_tf.envs.brush_model import BrushModel

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


class Stroke(NamedTuple):
  """One action's stroke per batch row: where its dabs fall and what the brush carries on."""
  verts: tf.Tensor       # [B, N+1, 2] (y, x): the tracked points, the start first
  dab_u: tf.Tensor       # [B, N+1] dabs placed by each vertex (the carried fraction first)
  pressure: tf.Tensor    # [B, N+1] pressure at each vertex
  log_radius: tf.Tensor  # [B, N] log of the actual radius along each segment
  speed_end: tf.Tensor   # [B, N] the brush's slow speed after each segment
  r_actual: tf.Tensor    # [B, N] the actual radius along each segment


def size_class(brush: BrushModel, size: float, canvas_size: int) -> Dict[str, object]:
  """Static window and chunk sizes for the dabs of one brush size."""
  b = brush
  r_basic = min(max(size, _RADIUS_MIN), _RADIUS_MAX)
  # Extreme speeds: 0 and the fastest segment (a Bézier's speed is at most
  # twice its longest control leg, the canvas diagonal).
  fastest = 2.0 * math.sqrt(2.0) * canvas_size / canvas_lib.STROKES_PER_STEP / canvas_lib.DTIME
  logs = [math.log(size) + b.radius_by_speed2[0] + b.radius_by_speed2[1] * b.speed2_input(v)
          for v in (0.0, fastest)]
  jitter = b.radius_by_random * tf_random.GAUSS_BOUND
  r_max = min(math.exp(max(logs) + jitter), _RADIUS_MAX)
  r_min = max(math.exp(min(logs) - jitter), _RADIUS_MIN)
  # A dab touches pixels [floor(c - r), floor(c + r)] on each axis (the
  # anti-aliased rr reaches the pixel's nearest point, so not beyond r).
  window = min(int(math.floor(2.0 * r_max)) + 2, canvas_size)
  chunk = {xla: max(1, pairs // (window * window)) for xla, pairs in _PAIRS_PER_CHUNK.items()}
  aa = "always" if r_max < _AA_RADIUS else ("never" if r_min >= _AA_RADIUS else "mixed")
  return dict(size=size, r_basic=r_basic, radius=r_max, window=window, chunk=chunk, aa=aa)


def tracking_filters(brush: BrushModel) -> Dict[str, object]:
  """[N, N] matrices of libmypaint's per-stroke_to low-pass filters, N = 50.

  Tracking: x_i = x_{i-1} + (target_i - x_{i-1}) * f with f = 1 - exp(-100
  dtime / slow_tracking); speed: s_i = s_{i-1} + (v_i - s_{i-1}) * g with
  g = 1 - exp(-dtime / speed2_slowness). Unrolled: x = M @ target + d * x_0.
  """
  n, dt, b = canvas_lib.STROKES_PER_STEP, canvas_lib.DTIME, brush

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


def stroke(brush: BrushModel, filters: Dict[str, object], state, control: tf.Tensor,
           end: tf.Tensor, size: tf.Tensor, pressure: tf.Tensor) -> Stroke:
  """One action's stroke from the pen through ``control`` [B, 2] to ``end`` [B, 2].

  ``state``: the renderer's ``PaintState`` before the action; ``size`` and
  ``pressure`` [B]: the action's brush radius and pressure.
  """
  b, n = brush, canvas_lib.STROKES_PER_STEP
  # The 50 stroke_to targets along the Bézier, then the brush's lagging track.
  open_ = state.stroke_open                                         # [B]
  t = tf.range(1, n + 1, dtype=tf.float32) / n                      # [N]
  w0, w1, w2 = [w[None, :, None] for w in ((1 - t) ** 2, 2 * (1 - t) * t, t * t)]
  p0 = state.position
  targets = w0 * p0[:, None] + w1 * control[:, None] + w2 * end[:, None]  # [B, N, 2]
  # A new stroke starts with a reset stroke_to at the pen: the tracking
  # filter still pulls it towards where the brush last was.
  start = tf.where(open_[:, None], state.brush_position,
                   state.brush_position + (p0 - state.brush_position) * filters["f"])
  tracked = (tf.einsum("ij,bjc->bic", filters["track_m"], targets)
             + filters["track_d"][None, :, None] * start[:, None])  # [B, N, 2]
  verts = tf.concat([start[:, None], tracked], 1)                  # [B, N+1, 2]
  length = tf.norm(verts[:, 1:] - verts[:, :-1], axis=-1)           # [B, N]

  # Slow speed (pixels per second) -> actual radius, per segment.
  velocity = length / canvas_lib.DTIME                              # [B, N]
  speed0 = tf.where(open_, state.speed, 0.0)                        # [B]
  speed_end = (tf.einsum("ij,bj->bi", filters["speed_m"], velocity)
               + filters["speed_d"][None] * speed0[:, None])        # [B, N]
  speed_before = tf.concat([speed0[:, None], speed_end[:, :-1]], 1)
  speed_mid = speed_before + (velocity - speed_before) * filters["g_half"]
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

  # Pressure at each vertex: the reset stroke_to has pressure 0.
  p_from = tf.where(open_, state.pressure, pressure)
  ramp = tf.range(n + 1, dtype=tf.float32) / n                      # [N+1]
  vert_pressure = p_from[:, None] + (pressure - p_from)[:, None] * ramp[None]
  vert_pressure = tf.concat([tf.where(open_, state.pressure, 0.0)[:, None],
                             vert_pressure[:, 1:]], 1)              # [B, N+1]
  return Stroke(verts=verts, dab_u=dab_u, pressure=vert_pressure, log_radius=log_radius,
                speed_end=speed_end, r_actual=r_actual)


def paint_class(brush: BrushModel, cls, canvas_size: int, counts: tf.Tensor, strokes,
                log_t: tf.Tensor, xla: bool) -> tf.Tensor:
  """Adds log(1 - a) of every dab of strokes of one brush size to log_t [B*S*S].

  ``cls``: the size's ``size_class``; ``counts`` [B]: dabs per row of that
  size; ``strokes``: the ``Stroke``'s verts, dab_u, pressure and log_radius
  plus each row's ``size`` [B] and random ``key``. ``xla`` picks how dab
  windows are summed into the canvas: an in-place scatter under XLA,
  segment sums (a far faster kernel) without it.
  """
  s, window = canvas_size, cls["window"]
  ends = tf.cumsum(counts)                                          # [B] inclusive
  total = ends[-1]
  h = brush.hardness

  def body(first, log_t, chunk):
    index = first + tf.range(chunk)                                 # [K] flat dab number
    row = tf.minimum(tf.searchsorted(ends, index, side="right"), tf.size(ends) - 1)  # [K]
    k = tf.cast(index - (tf.gather(ends, row) - tf.gather(counts, row)) + 1, tf.float32)
    y, x, radius, alpha = _dabs(brush, row, k, strokes)             # [K] each
    alpha = tf.where(index < total, alpha, 0.0)
    # ``first >= 0`` always holds, but XLA cannot fold it away.
    one = tf.cast(first >= 0, tf.float32)
    y, x, radius, alpha = _materialise(one, y, x, radius, alpha)
    offsets = tf.range(window)
    y0 = tf.clip_by_value(tf.cast(tf.floor(y - cls["radius"]), tf.int32), 0, s - window)
    x0 = tf.clip_by_value(tf.cast(tf.floor(x - cls["radius"]), tf.int32), 0, s - window)
    py = y0[:, None] + offsets[None]                                # [K, W]
    px = x0[:, None] + offsets[None]
    rr = _rr(brush, cls, py, px, y, x, radius)                      # [K, W, W]
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


def _dabs(brush, row, k, strokes):
  """Centre (y, x), radius and opacity of dab k (from 1) of stroke ``row``: each [K]."""
  b = brush
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
  gauss = tf_random.gaussians(tf.gather(strokes["key"], row), k)   # [K, 3]
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


def _rr(brush, cls, py, px, y, x, radius):
  """(distance / radius)^2 of pixels [K, W] x [K, W] from dabs [K]: [K, W, W]."""
  inv_r2 = 1.0 / tf.square(radius)                                  # [K]

  def plain():  # measured at pixel centres; separable, so [K, W] parts first
    dy2 = tf.square(tf.cast(py, tf.float32) + 0.5 - y[:, None]) * inv_r2[:, None]
    dx2 = tf.square(tf.cast(px, tf.float32) + 0.5 - x[:, None]) * inv_r2[:, None]
    return dy2[:, :, None] + dx2[:, None, :]

  def antialiased():
    return dab_shape.rr_antialiased(py, px, y, x, radius, inv_r2[:, None, None],
                                    brush.dab_angle)

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
