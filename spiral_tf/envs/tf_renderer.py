"""The painting environment's renderer in TensorFlow ops: libmypaint's dab model, batched.

``TFRenderer`` paints the actions of ``LibMyPaintEnv`` (same components, same
meaning: quadratic Bézier from the pen through ``control`` to ``end`` as 50
``stroke_to`` segments, pressure interpolated along them, brush size and
colour, move vs paint, the grid-to-canvas mapping, the pen starting at the
top-left) onto float canvases [B, S, S, C], inside one graph that XLA can
compile, on a CPU or an accelerator. Both read the action space from
``libmypaint_actions`` and check actions with ``specs.validate_action``.

This module holds the renderer: its options, its state between actions, the
checks and compilation of actions and their compositing ("over", in order).
The dab model it paints with (how libmypaint places and shapes dabs) is
``dab_model``.
"""
import collections
import functools
from typing import TYPE_CHECKING, Mapping, NamedTuple, Optional, Sequence, Union

import numpy as np
import tensorflow as tf

from spiral_tf.envs import brushes
from spiral_tf.envs import dab_model
from spiral_tf.envs import libmypaint_actions
from spiral_tf.envs import specs
from spiral_tf.envs import tf_random
from spiral_tf.envs.brush_model import BrushModel  # noqa: F401  (re-exported)

if TYPE_CHECKING:
  from spiral_tf.envs import libmypaint_env  # pylint: disable=g-import-not-at-top

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
               brush_sizes: Sequence[float] = libmypaint_actions.BRUSH_SIZES,
               use_color: bool = False,
               use_pressure: bool = True,
               fixed_pressure: float = 0.8,
               background: Union[str, Sequence[float]] = "white",
               brush: Union[str, bytes] = brushes.DEFAULT_BRUSH,
               action_counts: Optional[Mapping[str, int]] = None):
    """Takes LibMyPaintEnv's keyword arguments; ``from_env`` reads them off an environment.

    ``brush`` may also be a .myb file's JSON bytes. ``action_counts``
    (component -> number of values) defaults to the environment's layout
    for these options.
    """
    self.canvas_size, self.grid_size = libmypaint_actions.canvas_and_grid(canvas_size, grid_size)
    self.brush_sizes = specs.positive_reals("brush_sizes", brush_sizes)  # radii in pixels
    self.use_color = bool(use_color)
    self.use_pressure = bool(use_pressure)
    self.fixed_pressure = float(fixed_pressure)
    self.channels = 3 if self.use_color else 1
    self.background = np.asarray(libmypaint_actions.background_rgb(background), np.float32)
    self.brush = BrushModel.from_myb(brush)
    if action_counts is None:
      action_counts = libmypaint_actions.action_counts(
          self.grid_size, len(self.brush_sizes), self.use_pressure, self.use_color)
    self.action_counts = collections.OrderedDict(action_counts)
    self._pressures = libmypaint_actions.PRESSURES.astype(np.float32)
    self._colors = libmypaint_actions.COLORS.astype(np.float32)
    self._classes = [dab_model.size_class(self.brush, r, self.canvas_size)
                     for r in self.brush_sizes]
    self._tracking = dab_model.tracking_filters(self.brush)
    self._compiled = {}

  @classmethod
  def from_env(cls, env: "libmypaint_env.LibMyPaintEnv") -> "TFRenderer":
    """A renderer with ``env``'s canvas, grid, brush, sizes, colour, pressure and background."""
    return cls(canvas_size=env.canvas_size, grid_size=env.grid_size,
               brush_sizes=env.brush_sizes, use_color=env.use_color,
               use_pressure=env.use_pressure, fixed_pressure=env.fixed_pressure,
               background=env.background, brush=env.brush_json,
               action_counts=env.action_counts)

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

  def _check(self, actions, ndim):
    """Validates concrete actions (raising InvalidActionError naming the component) and casts.

    Inside a caller's tf.function the values are not known yet: only the
    components are checked here, the values by _step's graph assertions.
    """
    specs.check_components(actions, self.action_counts)
    if all(not tf.is_tensor(v) or hasattr(v, "numpy") for v in actions.values()):
      specs.validate_action(actions, self.action_counts, batch_dims=ndim)
    return {name: tf.cast(actions[name], tf.int32) for name in self.action_counts}

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
    counts = self.action_counts
    checks = [tf.debugging.assert_less(tf.cast(actions[c], tf.int32), counts[c],
                                       message=f"action component {c!r} must be < {counts[c]}")
              for c in counts]
    checks += [tf.debugging.assert_non_negative(tf.cast(actions[c], tf.int32),
                                                message=f"action component {c!r} must be >= 0")
               for c in counts]
    with tf.control_dependencies(checks):
      flag = tf.identity(tf.cast(actions["flag"], tf.int32))          # [B]
    paint = tf.equal(flag, libmypaint_actions.PAINT)                # [B]
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

    line = dab_model.stroke(self.brush, self._tracking, state, control, end, size, pressure)
    total = line.dab_u[:, -1]                                         # [B]
    num_dabs = tf.where(paint, tf.cast(tf.floor(total), tf.int32), 0)  # [B]
    strokes = dict(verts=line.verts, dab_u=line.dab_u, pressure=line.pressure,
                   log_radius=line.log_radius, size=size,
                   key=tf_random.stroke_keys(seed, state.step))
    log_t = tf.zeros([tf.shape(flag)[0] * self.canvas_size * self.canvas_size])
    for index, cls in enumerate(self._classes):
      n_c = tf.where(tf.equal(size_index, index), num_dabs, 0)
      log_t = dab_model.paint_class(self.brush, cls, self.canvas_size, n_c, strokes, log_t, xla)
    s = self.canvas_size
    cover = 1.0 - tf.exp(tf.reshape(log_t, [-1, s, s, 1]))           # [B, S, S, 1]
    canvas = tf.clip_by_value(ink[:, None, None, :] * cover + (1.0 - cover) * state.canvas,
                              0.0, 1.0)
    keep = lambda new, old: tf.where(paint, new, old)  # noqa: E731
    return PaintState(
        canvas=canvas, position=end,
        brush_position=tf.where(paint[:, None], line.verts[:, -1], state.brush_position),
        pressure=keep(pressure, state.pressure),
        partial_dabs=keep(total - tf.floor(total), state.partial_dabs),
        speed=keep(line.speed_end[:, -1], state.speed),
        radius=keep(line.r_actual[:, -1], state.radius),
        stroke_open=paint, step=state.step + 1)
