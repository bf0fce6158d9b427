"""The numbers of a libmypaint brush (.myb) that the TensorFlow dab model uses.

``BrushModel.from_myb`` reads them from the brush file and refuses a brush
that uses a setting the model does not reproduce, naming it.
"""
import json
import math
from typing import NamedTuple, Tuple, Union

import tensorflow as tf

from spiral_tf.envs import brushes


class BrushModel(NamedTuple):
  """The numbers of a .myb brush that the dab model uses.

  Pressure-dependent settings are lines ``c0 + c1 * pressure`` (libmypaint
  extrapolates a two-point mapping linearly on both sides).
  """
  dabs_per_actual_radius: float
  dabs_per_basic_radius: float
  hardness: float
  opaque: Tuple[float, float]
  opaque_multiply: Tuple[float, float]
  offset_by_random: Tuple[float, float]
  radius_by_random: float
  radius_by_speed2: Tuple[float, float]  # added to ln(size): c0 + c1 * speed2 input
  speed2_gamma_log: float
  speed2_slowness: float  # seconds
  slow_tracking: float
  dab_angle: float  # degrees; only the anti-aliased rr sees it (the dab is round)

  # Settings the model leaves out: the brush must keep them at these values.
  FIXED = {"anti_aliasing": 0.0, "dabs_per_second": 0.0, "eraser": 0.0, "lock_alpha": 0.0,
           "colorize": 0.0, "smudge": 0.0, "tracking_noise": 0.0, "offset_by_speed": 0.0,
           "slow_tracking_per_dab": 0.0, "change_color_h": 0.0, "change_color_l": 0.0,
           "change_color_hsl_s": 0.0, "change_color_hsv_s": 0.0, "change_color_v": 0.0,
           "elliptical_dab_ratio": 1.0, "snap_to_pixel": 0.0, "pressure_gain_log": 0.0,
           "offset_x": 0.0, "offset_y": 0.0, "offset_angle": 0.0, "offset_angle_asc": 0.0,
           "offset_angle_view": 0.0, "offset_angle_2": 0.0, "offset_angle_2_asc": 0.0,
           "offset_angle_2_view": 0.0, "posterize": 0.0, "paint_mode": 0.0}

  @classmethod
  def from_myb(cls, brush: Union[str, bytes] = brushes.DEFAULT_BRUSH) -> "BrushModel":
    """Reads a brush by name or path (or its JSON bytes); raises if it uses settings the model lacks."""
    if isinstance(brush, bytes):
      text, name = brush.decode(), "brush JSON"
    else:
      name = brushes.find_brush(brush)
      with open(name) as f:
        text = f.read()
    settings = json.loads(text)["settings"]

    def base(key, default=0.0):
      return float(settings.get(key, {}).get("base_value", default))

    def line(key, allowed_input):
      inputs = settings.get(key, {}).get("inputs", {})
      c0, c1 = base(key), 0.0
      for input_name, points in inputs.items():
        if input_name != allowed_input or len(points) != 2:
          raise NotImplementedError(f"{name}: setting {key!r} maps input {input_name!r} "
                                    f"with {len(points)} points; the TF dab model supports "
                                    f"only a 2-point {allowed_input!r} line there")
        (x0, y0), (x1, y1) = points
        slope = (y1 - y0) / (x1 - x0) if x1 != x0 else 0.0
        c0, c1 = c0 + y0 - slope * x0, slope
      return c0, c1

    for key, value in cls.FIXED.items():
      if key in settings and (base(key) != value or settings[key].get("inputs")):
        raise NotImplementedError(f"{name}: setting {key!r} must be {value} without "
                                  "inputs for the TF dab model")
    for key, spec in settings.items():
      if spec.get("inputs") and key not in ("opaque", "opaque_multiply", "offset_by_random",
                                            "radius_logarithmic"):
        if key in cls.FIXED or key in _INERT_SETTINGS:
          continue
        raise NotImplementedError(f"{name}: setting {key!r} has inputs "
                                  f"{sorted(spec['inputs'])}; the TF dab model ignores them")
    radius = line("radius_logarithmic", "speed2")
    if base("hardness") <= 0.0:
      raise NotImplementedError(f"{name}: hardness 0 paints nothing in libmypaint")
    return cls(
        dabs_per_actual_radius=base("dabs_per_actual_radius"),
        dabs_per_basic_radius=base("dabs_per_basic_radius"),
        hardness=min(max(base("hardness"), 0.0), 1.0),
        opaque=line("opaque", "pressure"),
        opaque_multiply=line("opaque_multiply", "pressure"),
        offset_by_random=line("offset_by_random", "pressure"),
        radius_by_random=base("radius_by_random"),
        # The base value is replaced by ln(size) (set_brush); only the mapping stays.
        radius_by_speed2=(radius[0] - base("radius_logarithmic"), radius[1]),
        speed2_gamma_log=base("speed2_gamma"),
        speed2_slowness=base("speed2_slowness"),
        slow_tracking=base("slow_tracking"),
        dab_angle=base("elliptical_dab_angle", 90.0))

  def speed2_input(self, speed):
    """libmypaint's speed2 input from a speed in pixels per second (its fixed 45 / 0.5 / 0.015 fit)."""
    gamma = math.exp(self.speed2_gamma_log)
    m = 0.015 * (45.0 + gamma)
    q = 0.5 - m * math.log(45.0 + gamma)
    return tf.math.log(gamma + speed) * m + q if tf.is_tensor(speed) else (
        math.log(gamma + speed) * m + q)


# Settings whose inputs do not change a dab here (no tilt, no custom input, no direction).
_INERT_SETTINGS = ("direction_filter", "custom_input", "custom_input_slowness",
                   "stroke_duration_logarithmic", "stroke_holdtime", "stroke_threshold",
                   "speed1_gamma", "speed1_slowness", "elliptical_dab_angle", "restore_color",
                   "smudge_length", "smudge_radius_log", "offset_by_speed_slowness",
                   "color_h", "color_s", "color_v")
