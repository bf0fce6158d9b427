"""Painting a user's image: reading it the training way, and the program's views.

* ``load_user_image``: any PNG or JPEG (8 or 16 bits, grey or colour, with
  or without transparency, up to ``images.MAX_IMAGE_PIXELS``: 8192 x 8192)
  -> the agent's convention: [S, S, C] float32 in [0, 1], composited over
  white paper, resized to the canvas, grey agents' images made dark ink on
  light paper.
* ``program_svg``: a program as a vector drawing (each painting action one
  quadratic Bézier path with its brush width, pressure and colour) that
  re-renders at any resolution (the paper's Figure 6c).
* ``step_canvases``: the canvas after each action, re-painted with libmypaint.
* ``render_scaled``: the program re-painted at several times the canvas size.
* ``gif_bytes``: an animated GIF of those canvases.
"""
import io
import math
import os
from typing import List, Mapping, Sequence

import numpy as np
from PIL import Image

from spiral_tf.data import images as images_lib
from spiral_tf.envs import libmypaint_actions
from spiral_tf.envs import libmypaint_env
from spiral_tf.envs import specs


class ImageFileError(ValueError):
  """A user's image that cannot be painted (unreadable, empty, not an image, a folder)."""


def load_user_image(path: str, canvas_size: int, channels: int, invert: str = "auto") -> np.ndarray:
  """Reads ``path`` as the agent's target: float32 [S, S, C] in [0, 1] on white paper.

  ``invert``: 'auto' makes a grey image dark-on-light when its border is
  darker than its middle's mean (a white digit on black, as MNIST stores
  them); 'yes' and 'no' force it.
  """
  if invert not in ("auto", "yes", "no"):
    raise ValueError(f"invert must be 'auto', 'yes' or 'no', got {invert!r}")
  if os.path.isdir(path):
    raise ImageFileError(f"{path} is a folder; give image files (PNG or JPEG)")
  if not os.path.isfile(path):
    raise ImageFileError(f"{path} does not exist")
  if os.path.getsize(path) == 0:
    raise ImageFileError(f"{path} is empty (0 bytes); give a PNG or JPEG image")
  try:
    with images_lib.open_pil(path) as opened:
      if opened.format not in ("PNG", "JPEG"):
        raise ImageFileError(f"{path} is a {opened.format} file; give a PNG or JPEG image")
      images_lib.check_size(opened, path)
      # Its longer side becomes the canvas: decode no larger than OVERSAMPLE
      # pixels a canvas pixel (an 8000 x 8000 RGB PNG: 0.7 s here, not 15 s and 5 GB).
      keep = images_lib.OVERSAMPLE * canvas_size * min(opened.size) / max(opened.size)
      image = images_lib.read_8bit(opened, max(1, math.ceil(keep))).convert("RGB")
  except (ImageFileError, images_lib.DataError):
    raise
  except Image.DecompressionBombError as e:  # PIL's own refusal, far above ours
    raise images_lib.too_large(path) from e
  except (OSError, SyntaxError, ValueError) as e:
    raise ImageFileError(f"{path} is not a readable PNG or JPEG image ({e})") from e
  rgb = np.asarray(image, np.float32) / 255.0  # transparency is white paper already
  # Square it by padding with paper, so nothing is cut off or stretched.
  h, w = rgb.shape[:2]
  side = max(h, w)
  square = np.ones((side, side, 3), np.float32)
  square[(side - h) // 2:(side - h) // 2 + h, (side - w) // 2:(side - w) // 2 + w] = rgb
  resized = Image.fromarray((square * 255.0 + 0.5).astype(np.uint8)).resize(
      (canvas_size, canvas_size), Image.Resampling.LANCZOS)
  out = np.asarray(resized, np.float32) / 255.0
  if channels == 1:
    out = out.mean(axis=-1, keepdims=True)
    border = np.concatenate([out[0], out[-1], out[:, 0], out[:, -1]]).mean()
    if invert == "yes" or (invert == "auto" and border < out.mean() and border < 0.5):
      out = 1.0 - out
  return np.clip(out, 0.0, 1.0).astype(np.float32)


def program_svg(program: Sequence[Mapping[str, int]], env_kwargs: Mapping, scale: float = 4.0,
                paper: str = "white") -> str:
  """An SVG of a painting program (see the module docstring); ``scale`` px per canvas pixel."""
  size = int(env_kwargs["canvas_size"])
  grid = int(env_kwargs["grid_size"])
  brush_sizes = tuple(env_kwargs.get("brush_sizes", libmypaint_env.BRUSH_SIZES))
  use_pressure = bool(env_kwargs.get("use_pressure", True))
  use_color = bool(env_kwargs.get("use_color", False))
  fixed = float(env_kwargs.get("fixed_pressure", 0.8))
  pressures, colors = libmypaint_actions.PRESSURES, libmypaint_actions.COLORS
  point = lambda index: tuple(v * scale for v in specs.grid_to_canvas(index, grid, size))  # noqa: E731
  side = size * scale
  lines = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{side:g}" height="{side:g}" '
           f'viewBox="0 0 {side:g} {side:g}">',
           f'<rect width="100%" height="100%" fill="{paper}"/>']
  pen = (0.0, 0.0)  # (y, x): the brush starts at the top-left
  for i, action in enumerate(program):
    end = point(int(action["end"]))
    if int(action["flag"]) == libmypaint_env.PAINT:
      control = point(int(action["control"]))
      radius = brush_sizes[int(action["size"])]
      pressure = float(pressures[int(action["pressure"])]) if use_pressure else fixed
      opacity = pressure * (0.8 + 0.2 * pressure)  # the brush's per-dab opacity
      rgb = ((int(255 * colors[int(action[c])] + 0.5) for c in ("red", "green", "blue"))
             if use_color else (0, 0, 0))
      lines.append(
          f'<path d="M {pen[1]:g} {pen[0]:g} Q {control[1]:g} {control[0]:g} {end[1]:g} {end[0]:g}" '
          f'fill="none" stroke="rgb({",".join(str(v) for v in rgb)})" '
          f'stroke-width="{2 * radius * scale:g}" stroke-linecap="round" '
          f'stroke-opacity="{opacity:.3f}" data-step="{i}" data-pressure="{pressure:.2f}"/>')
    pen = end
  lines.append("</svg>")
  return "\n".join(lines) + "\n"


def step_canvases(program: Sequence[Mapping[str, int]], env_kwargs: Mapping) -> np.ndarray:
  """[T + 1, S, S, C]: the blank canvas and the canvas after each action (libmypaint)."""
  env = libmypaint_env.LibMyPaintEnv(**dict(env_kwargs, conditional=False,
                                            episode_length=len(program)))
  try:
    frames = [env.reset().observation["canvas"]]
    for action in program:
      frames.append(env.step({c: int(action.get(c, 0)) for c in env.action_spec()})
                    .observation["canvas"])
  finally:
    env.close()
  return np.stack(frames)


def stroke_order(program: Sequence[Mapping[str, int]], env_kwargs: Mapping) -> np.ndarray:
  """[S, S, 3]: the program re-painted with each stroke in its own colour (hue by order)."""
  from spiral_tf.eval import reconstruction  # pylint: disable=g-import-not-at-top
  kwargs = dict(env_kwargs, use_color=True, conditional=False)
  kwargs.pop("episode_length", None)
  return reconstruction.stroke_order_image(program,
                                           lambda: libmypaint_env.LibMyPaintEnv(**kwargs))


def render_scaled(program: Sequence[Mapping[str, int]], env_kwargs: Mapping,
                  factor: int = 4, use_color: bool = False) -> np.ndarray:
  """The program re-painted by libmypaint at ``factor`` times the canvas size: [fS, fS, C].

  The grid keeps its cells (points scale with the canvas) and every brush
  radius is multiplied by ``factor``: the same strokes, drawn sharper, as
  the SVG would be.
  """
  kwargs = dict(env_kwargs, conditional=False, episode_length=len(program),
                canvas_size=int(env_kwargs["canvas_size"]) * factor,
                brush_sizes=tuple(float(r) * factor for r in
                                  env_kwargs.get("brush_sizes", libmypaint_env.BRUSH_SIZES)))
  if use_color:
    kwargs["use_color"] = True
  return step_canvases(program, kwargs)[-1]


def gif_bytes(frames: np.ndarray, scale: int = 4, frame_ms: int = 250) -> bytes:
  """An animated GIF of float frames [N, S, S, C] in [0, 1], the last held four times as long.

  A one-pixel bar under the canvas grows with the step (so a move, which
  leaves the canvas as it was, still shows as a frame of its own).
  """
  images: List[Image.Image] = []
  n = len(frames)
  for i, frame in enumerate(frames):
    pixels = (np.clip(frame, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    if pixels.shape[-1] == 1:
      pixels = np.repeat(pixels, 3, axis=-1)
    bar = np.full((1,) + pixels.shape[1:], 255, np.uint8)
    bar[0, :int(round(pixels.shape[1] * i / max(1, n - 1)))] = (90, 90, 200)
    pixels = np.concatenate([pixels, bar], axis=0)
    image = Image.fromarray(pixels)
    images.append(image.resize((image.width * scale, image.height * scale), Image.Resampling.NEAREST))
  buf = io.BytesIO()
  durations = [frame_ms] * (len(images) - 1) + [frame_ms * 4]
  images[0].save(buf, format="GIF", save_all=True, append_images=images[1:], duration=durations,
                 loop=0)
  return buf.getvalue()
