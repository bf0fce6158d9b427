"""A user's drawing brought into the framing and stroke width of an agent's training data.

An MNIST agent has only seen digits filling a centred 20/28 of the frame
with strokes about 3 pixels wide (at 32x32); to it, a drawing that fills its
frame with 1-pixel lines is another kind of image (a 30-minute agent painted
such a '4' as one blob). ``normalize_drawing`` finds the ink (relative to the
paper and the darkest pixel, so pencil counts as ink), scales its centre line
(the ink's box less one stroke width, aspect kept) so that the box redrawn
is ``extent`` of the frame, redraws the lines from their signed distance at
the data set's median ``stroke_width``, and moves the ink's centre of mass
to ``center``. Pure NumPy; the result has the prepared targets' convention
(``painting.load_user_image``): float32 [S, S, C] in [0, 1], dark on white.
"""
import dataclasses
from typing import Dict, Optional, Sequence, Tuple

import numpy as np

# Ink is half way between the paper and the darkest pixel: where a pen's
# anti-aliased edge lies, so boxes and footprints measured there are the pen's.
INK_LEVEL = 0.5
NOISE_LEVEL = 0.1  # below this share of the darkest pixel's contrast: paper (JPEG ringing, grain)
# A drawing whose darkest pixel is less than this below its paper has no ink
# (JPEG noise on white paper is a few grey levels, under 0.03).
MIN_CONTRAST = 0.1
# The side tools/paint.py reads a drawing at before normalising it: a 1-pixel
# pen line of a drawing up to 512 pixels stays a line.
SOURCE_SIZE = 512
WORK_SIDE = 128  # lines are redrawn k = WORK_SIDE / canvas size times finer (4 at 32, 2 at 64)
# stroke_width's linear upsampling; odd, so that pixel centres are samples
# and a 1-pixel binary line keeps its full peak.
_UPSAMPLE = 3
_WIDTH_STEPS, _WIDTH_TOLERANCE = 4, 0.05  # secant steps of the width fit; canvas pixels


class BlankDrawingError(ValueError):
  """A drawing without ink: there is nothing to frame or to match."""


@dataclasses.dataclass(frozen=True)
class Framing:
  """How a data set places its images on the canvas, in fractions of the frame's side.

  Attributes:
    name: the data set (a key of spiral_tf.data.LOADERS).
    extent: the longer side of the ink's box (at INK_LEVEL); None: the
      drawing keeps its own frame, padded square and scaled to the canvas.
    center: (y, x) of the ink's centre of mass from the top-left corner; None: not moved.
    stroke_widths: (canvas size, median ``stroke_width`` there) pairs, as ``measure`` gives them.
  """
  name: str
  extent: Optional[float]
  center: Optional[Tuple[float, float]]
  stroke_widths: Tuple[Tuple[int, float], ...]

  def stroke_width_at(self, canvas_size: int) -> Optional[float]:
    """The stroke width at ``canvas_size``: as measured there, else scaled from the nearest."""
    if not self.stroke_widths:
      return None
    size, width = min(self.stroke_widths, key=lambda pair: abs(pair[0] - canvas_size))
    return width * canvas_size / size


# MNIST as LeCun made it: each NIST digit's box scaled (aspect kept) into
# 20x20, its centre of mass moved near the middle of 28x28 by whole pixels;
# mnist.load only resizes 28 -> S (nothing padded), so fractions hold at any S.
# Centre and widths measured by ``measure`` on the first 2,000 training digits
# of ../shared/data/mnist as mnist.load gives them (extent there: 0.706-0.710).
MNIST = Framing("mnist", extent=20 / 28, center=(0.5175, 0.5187),
                stroke_widths=((32, 2.79), (64, 5.39)))
# Omniglot (omniglot.load): the 105x105 drawing resized, nothing cropped or
# re-centred (characters sit where their drawers put them): only the width is
# matched, as measured on the first 2,000 training characters.
OMNIGLOT = Framing("omniglot", extent=None, center=None, stroke_widths=((32, 1.83), (64, 3.1)))
FRAMINGS: Dict[str, Framing] = {f.name: f for f in (MNIST, OMNIGLOT)}


def framing_for(data_name: Optional[str]) -> Optional[Framing]:
  """The framing of data set ``data_name`` ('mnist', 'tfds:mnist', ...); None: drawings as drawn.

  None for 'synthetic' (random strokes from random grid points with random
  brush radii: no frame, no width to imitate), photographs and scenes, and
  None (an export that does not record its data set).
  """
  if not data_name:
    return None
  return FRAMINGS.get(data_name[len("tfds:"):] if data_name.startswith("tfds:") else data_name)


def _grey(image) -> np.ndarray:
  """float64 [H, W] of an image [H, W] or [H, W, C] (the channels' mean)."""
  image = np.asarray(image, np.float64)
  image = image.mean(axis=-1) if image.ndim == 3 else image
  if image.ndim != 2:
    raise ValueError(f"expected an image [H, W] or [H, W, C], got shape {image.shape}")
  return image


def ink_of(image) -> np.ndarray:
  """Ink [H, W] in [0, 1] of a dark-on-light drawing [H, W(, C)]: 0 on paper, 1 at its darkest.

  The paper is the median pixel (a line drawing is mostly paper).
  BlankDrawingError when no pixel is MIN_CONTRAST darker than the paper.
  """
  grey = _grey(image)
  paper = float(np.median(grey))
  contrast = paper - float(grey.min())
  if contrast < MIN_CONTRAST:
    raise BlankDrawingError(f"no ink: no pixel is darker than the paper ({paper:.2f}) by "
                            f"{MIN_CONTRAST} or more")
  ink = np.clip((paper - grey) / contrast, 0.0, 1.0)
  ink[ink < NOISE_LEVEL] = 0.0
  return ink


def _resample_matrix(n_out, n_in, scale, out_anchor, in_anchor) -> np.ndarray:
  """[n_out, n_in] weights showing input position u at ``out_anchor + scale * (u - in_anchor)``.

  Edge coordinates (pixel i spans [i, i + 1)). A triangle filter, as TF's antialiased
  bilinear resize (linear interpolation up, a mean over 1 / scale pixels down); no ink beyond.
  """
  support = max(1.0, 1.0 / scale)
  centres = (np.arange(n_out) + 0.5 - out_anchor) / scale + in_anchor - 0.5  # input indices
  index = np.arange(int(np.floor(centres.min() - support)),
                    int(np.ceil(centres.max() + support)) + 1)
  weights = np.maximum(0.0, 1.0 - np.abs(index[None, :] - centres[:, None]) / support)
  weights /= weights.sum(axis=1, keepdims=True)
  inside = (index >= 0) & (index < n_in)
  matrix = np.zeros((n_out, n_in))
  matrix[:, index[inside]] = weights[:, inside]
  return matrix


def _resample(ink, shape, scale, out_anchor=(0.0, 0.0), in_anchor=(0.0, 0.0)) -> np.ndarray:
  """Ink [H, W] scaled by ``scale`` into ``shape``, point ``in_anchor`` at ``out_anchor``."""
  rows = _resample_matrix(shape[0], ink.shape[0], scale, out_anchor[0], in_anchor[0])
  cols = _resample_matrix(shape[1], ink.shape[1], scale, out_anchor[1], in_anchor[1])
  return rows @ ink @ cols.T


def _ink_width(ink: np.ndarray) -> float:
  """Stroke width in pixels of ink [H, W] (1 = full ink): twice its area over its perimeter."""
  area = float(ink.sum())
  if area <= 0.0:
    return 0.0
  padded = np.pad(ink, 1)  # a stroke along the border has an outer side too
  up = _resample(padded, tuple(_UPSAMPLE * d for d in padded.shape), _UPSAMPLE)
  dy, dx = np.diff(up, axis=0)[:, :-1], np.diff(up, axis=1)[:-1, :]
  return 2.0 * area * _UPSAMPLE / float(np.sqrt(dy * dy + dx * dx).sum())


def stroke_width(image) -> float:
  """The stroke width, in pixels, of dark lines on white (1.0) paper, [H, W(, C)] in [0, 1].

  Twice the ink's area over its perimeter (a line w by l: area w l, perimeter
  2 l). The perimeter is the ink's total variation (coarea formula: an
  anti-aliased edge counts once) on the image upsampled linearly, so that a
  diagonal edge is no staircase; a faint line's width is ink / peak. Ends and
  crossings read a little thin (a line 70 by 5: 4.8), as in the data sets.
  """
  return _ink_width(np.clip(1.0 - _grey(image), 0.0, 1.0))


def _distance_to(mask: np.ndarray) -> np.ndarray:
  """Euclidean distance [H, W] from each pixel to the nearest True one (H + W if none).

  Exact (Meijster et al. 2000): distances down each column, then each row's
  minimum of column distance^2 + offset^2.
  """
  h, w = mask.shape
  column = np.where(mask, 0.0, float(h + w))
  for i in range(1, h):  # down, then up
    column[i] = np.minimum(column[i], column[i - 1] + 1.0)
  for i in range(h - 2, -1, -1):
    column[i] = np.minimum(column[i], column[i + 1] + 1.0)
  offsets = (np.arange(w)[:, None] - np.arange(w)[None, :]) ** 2.0  # [x, x']
  squared, out = column ** 2, np.empty((h, w))
  for start in range(0, h, 32):  # 32 rows a block: [32, W, W] stays small
    out[start:start + 32] = (squared[start:start + 32, None, :] + offsets[None]).min(axis=-1)
  return np.sqrt(out)


def _footprint(soft: np.ndarray, line: float) -> np.ndarray:
  """Where resampled ink ``soft`` holds its lines, ``line`` pixels wide.

  Resampling lowers the peak of a line under 2 pixels wide (to about
  ``line``, half that between pixel centres): the threshold follows it.
  """
  mask = soft >= INK_LEVEL * min(1.0, line / 2.0)
  return mask if mask.any() else soft >= INK_LEVEL * soft.max()


def _redraw(footprint: np.ndarray, k: int, target: float, place) -> np.ndarray:
  """The canvas ``place(work)`` of a footprint (k work pixels a canvas pixel), ``target`` wide.

  Its signed distance (edge half way between pixel centres) grown by a radius
  r: 2 r / k canvas pixels of width, fitted by secant steps. Shrinking keeps
  the thickest line; thinner parts of a drawing of mixed widths can vanish.
  """
  distance = np.where(footprint, _distance_to(~footprint) - 0.5, 0.5 - _distance_to(footprint))
  smallest = 0.5 - float(distance.max())
  radius = max(smallest, (k * target - _ink_width(footprint.astype(np.float64))) / 2.0)
  for step in range(_WIDTH_STEPS):
    canvas = place(np.clip(distance + radius + 0.5, 0.0, 1.0))
    error = target - _ink_width(canvas)
    if abs(error) < _WIDTH_TOLERANCE or step == _WIDTH_STEPS - 1:
      return canvas
    radius = max(smallest, radius + k * error / 2.0)


def _span(profile: np.ndarray) -> Tuple[float, float]:
  """(start, end) where ``profile`` (ink's maximum per row or column) crosses INK_LEVEL.

  Edge coordinates, interpolated between pixel centres (a binary edge: its pixel's edge).
  """
  inside = np.nonzero(profile >= INK_LEVEL)[0]

  def crossing(inner: int, outer: int) -> float:
    beyond = float(profile[outer]) if 0 <= outer < len(profile) else 0.0
    return inner + 0.5 + (outer - inner) * (profile[inner] - INK_LEVEL) / (profile[inner] - beyond)

  return crossing(inside[0], inside[0] - 1), crossing(inside[-1], inside[-1] + 1)


def _box(ink: np.ndarray) -> Tuple[float, float, float, float]:
  """(top, bottom, left, right) of the ink at INK_LEVEL, edge coordinates."""
  return _span(ink.max(axis=1)) + _span(ink.max(axis=0))


def _center_of_mass(ink: np.ndarray) -> Tuple[float, float]:
  """(y, x) of the ink's centre of mass, edge coordinates (pixel i's centre is i + 0.5)."""
  return (float(ink.sum(axis=1) @ (np.arange(ink.shape[0]) + 0.5)) / float(ink.sum()),
          float(ink.sum(axis=0) @ (np.arange(ink.shape[1]) + 0.5)) / float(ink.sum()))


def _as_image(canvas: np.ndarray, channels: int) -> np.ndarray:
  """Ink [S, S] -> float32 [S, S, channels], dark ink on white paper."""
  return np.repeat(1.0 - np.clip(canvas, 0.0, 1.0)[..., None], channels, -1).astype(np.float32)


def normalize_drawing(image, framing: Framing, canvas_size: int) -> np.ndarray:
  """A drawing ([H, W(, C)] in [0, 1], dark on light, any size) as the agent's target [S, S, C].

  Framed by ``framing`` (module docstring), lines ``framing.stroke_width_at(S)`` wide, dark
  ink on white paper. Raises BlankDrawingError for a drawing without ink.
  """
  image = np.asarray(image, np.float32)
  channels = image.shape[-1] if image.ndim == 3 else 1
  ink = ink_of(image)
  size = int(canvas_size)
  k = max(1, round(WORK_SIDE / size))
  n = 2 * k * size  # half a canvas around it: centring clips only what leaves the frame
  target = framing.stroke_width_at(size)
  top, bottom, left, right = _box(ink)
  width = _ink_width(ink[max(0, int(top) - 3):int(bottom) + 3,
                         max(0, int(left) - 3):int(right) + 3])  # in drawing pixels
  if framing.extent is None:  # the frame as drawn: the image's longer side is the canvas's
    scale, anchor = size / max(ink.shape), (ink.shape[0] / 2.0, ink.shape[1] / 2.0)
  else:
    longer = max(bottom - top, right - left)
    if target is None:
      scale = framing.extent * size / longer
    else:  # the centre line (the box less one stroke) fills what the redrawn stroke leaves
      scale = (framing.extent * size - target) / max(longer - width, 1.0)
    anchor = ((top + bottom) / 2.0, (left + right) / 2.0)
  soft = _resample(ink, (n, n), scale * k, (n / 2.0, n / 2.0), anchor)

  def place(work):
    """Work ink [n, n] -> canvas ink [S, S], centred by the framing's rule."""
    if framing.center is None:
      return _resample(work, (size, size), 1.0 / k, (size / 2.0,) * 2, (n / 2.0,) * 2)
    at = (framing.center[0] * size, framing.center[1] * size)
    return _resample(work, (size, size), 1.0 / k, at, _center_of_mass(work))

  if target is None:
    return _as_image(place(soft), channels)
  return _as_image(_redraw(_footprint(soft, scale * k * width), k, target, place), channels)


def match_stroke_width(image, target_width: float) -> np.ndarray:
  """``image`` (dark lines on light paper, [H, W(, C)]), lines redrawn ``target_width`` wide.

  Thickened or thinned until ``stroke_width`` measures ``target_width``
  pixels; same shape, dark ink on white paper. BlankDrawingError without ink.
  """
  image = np.asarray(image, np.float32)
  ink = ink_of(image)
  h, w = ink.shape
  k = max(1, round(WORK_SIDE / max(h, w)))
  soft = _resample(ink, (k * h, k * w), k)
  canvas = _redraw(_footprint(soft, k * _ink_width(ink)), k, float(target_width),
                   lambda work: _resample(work, (h, w), 1.0 / k))
  return _as_image(canvas, image.shape[-1] if image.ndim == 3 else 1)


def measure(images: Sequence[np.ndarray]) -> Dict[str, object]:
  """What a Framing holds, measured on a data set's images [N, S, S, C] as its loader gives them.

  Medians over the images with ink: ``stroke_width`` (pixels at S; and its
  quartiles), ``extent`` and ``center`` (y, x) in fractions of the frame.
  """
  widths, extents, centers = [], [], []
  for image in images:
    ink = np.clip(1.0 - _grey(image), 0.0, 1.0)
    if ink.max() < INK_LEVEL:
      continue
    top, bottom, left, right = _box(ink)
    widths.append(_ink_width(ink))
    extents.append(max(bottom - top, right - left) / ink.shape[0])
    centers.append(np.array(_center_of_mass(ink)) / np.array(ink.shape))
  if not widths:
    raise ValueError("no image holds ink (dark on white paper, as the loaders give them)")
  quartiles = np.percentile(widths, [25, 50, 75])
  return {"images": len(widths), "stroke_width": round(float(quartiles[1]), 2),
          "stroke_width_quartiles": (round(float(quartiles[0]), 2), round(float(quartiles[2]), 2)),
          "extent": round(float(np.median(extents)), 4),
          "center": tuple(round(float(c), 4) for c in np.median(centers, axis=0))}
