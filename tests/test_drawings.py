"""A user's drawing framed as its agent's data set frames images (spiral_tf.data.drawings).

NumPy only: drawings are anti-aliased lines drawn here; MNIST digits are read
from the IDX file and resized as mnist.load resizes them.
"""
import gzip
import os

import numpy as np
from PIL import Image
import pytest

from spiral_tf.data import drawings

SIZE = 32
# A '4' as a new user draws it: 1-pixel lines filling a 140x140 frame.
FOUR = (((5, 100), (134, 100)), ((5, 100), (95, 10)), ((95, 10), (95, 134)))


def draw(shape, segments, width):
  """White paper [h, w, 1] with black lines ``width`` pixels wide, round ends, anti-aliased.

  ``segments``: ((y0, x0), (y1, x1)) in pixel indices. A pixel's ink ramps
  from 1 to 0 over the pixel around distance width / 2 from a segment, so a
  line has width * length of ink.
  """
  ys, xs = np.mgrid[0:shape[0], 0:shape[1]].astype(np.float64)
  ink = np.zeros(shape)
  for (y0, x0), (y1, x1) in segments:
    dy, dx = y1 - y0, x1 - x0
    t = np.clip(((ys - y0) * dy + (xs - x0) * dx) / float(dy * dy + dx * dx), 0.0, 1.0)
    distance = np.hypot(ys - y0 - t * dy, xs - x0 - t * dx)
    ink = np.maximum(ink, np.clip(width / 2.0 + 0.5 - distance, 0.0, 1.0))
  return (1.0 - ink)[..., None].astype(np.float32)


def ink_box(image):
  """(height, width) in pixels of the ink at half darkness."""
  ink = 1.0 - image.mean(axis=-1)
  rows, cols = np.nonzero(ink.max(axis=1) >= 0.5)[0], np.nonzero(ink.max(axis=0) >= 0.5)[0]
  return rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1


def center_of_mass(image):
  """(y, x) of the ink's centre of mass; pixel i's centre is at i + 0.5."""
  ink = 1.0 - image.mean(axis=-1)
  ys, xs = np.mgrid[0:ink.shape[0], 0:ink.shape[1]] + 0.5
  return (ink * ys).sum() / ink.sum(), (ink * xs).sum() / ink.sum()


def mnist_targets(shared_data, count):
  """The first ``count`` t10k digits as mnist.load gives them at SIZE: dark on white, [S, S, 1]."""
  with gzip.open(os.path.join(shared_data, "mnist", "t10k-images-idx3-ubyte.gz"), "rb") as f:
    digits = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28)[:count].copy()
  # Enlarging, TF's antialiased bilinear resize (images.to_canvas) is linear
  # interpolation between pixel centres, as PIL's bilinear resize is.
  return [1.0 - np.asarray(Image.fromarray(d).resize((SIZE, SIZE), Image.Resampling.BILINEAR),
                           np.float32)[..., None] / 255.0 for d in digits]


@pytest.mark.parametrize("angle", [0, 30, 45, 90])
@pytest.mark.parametrize("width", [1.5, 2.0, 3.0, 5.0])
def test_stroke_width_of_a_drawn_line_is_its_width(width, angle):
  dy, dx = 35 * np.sin(np.deg2rad(angle)), 35 * np.cos(np.deg2rad(angle))
  line = draw((100, 100), [((50 - dy, 50 - dx), (50 + dy, 50 + dx))], width)
  # Twice the area over the perimeter of a 70 x w line: its ends count a little.
  assert abs(drawings.stroke_width(line) - 2 * 70 * width / (2 * 70 + 2 * width)) <= 0.3


@pytest.mark.parametrize("size", [32, 64])
def test_a_thin_four_filling_its_frame_is_framed_as_mnist_frames_its_digits(size):
  """Its box's longer side 20/28 of the frame, its centre of mass in the middle, MNIST's width."""
  target = drawings.normalize_drawing(draw((140, 140), FOUR, 1.0), drawings.MNIST, size)
  assert target.shape == (size, size, 1) and target.dtype == np.float32
  assert target.min() >= 0.0 and target.max() <= 1.0
  assert abs(max(ink_box(target)) - 20 / 28 * size) <= 1.0
  cy, cx = center_of_mass(target)
  assert abs(cy - drawings.MNIST.center[0] * size) <= 1.0
  assert abs(cx - drawings.MNIST.center[1] * size) <= 1.0
  assert abs(drawings.stroke_width(target) - drawings.MNIST.stroke_width_at(size)) <= 0.5


def test_grey_pencil_on_cream_paper_is_framed_as_black_ink_on_white():
  black = draw((140, 140), FOUR, 1.0)
  pencil = 0.9 - 0.45 * (1.0 - black)  # paper 0.9, the darkest line 0.45
  assert np.abs(drawings.normalize_drawing(pencil, drawings.MNIST, SIZE)
                - drawings.normalize_drawing(black, drawings.MNIST, SIZE)).max() < 0.02


def test_a_wide_drawing_keeps_its_aspect_ratio():
  """A 200x120 drawing of a rectangle 160 by 80 (centre line), in colour: framed, its centre
  line is still twice as wide as it is tall (the redrawn stroke adds its width to both)."""
  corners = ((20, 20), (20, 180), (100, 180), (100, 20))
  rectangle = [(corners[i], corners[(i + 1) % 4]) for i in range(4)]
  drawing = np.repeat(draw((120, 200), rectangle, 2.0), 3, axis=-1)
  target = drawings.normalize_drawing(drawing, drawings.MNIST, SIZE)
  assert target.shape == (SIZE, SIZE, 3)
  width, longer = drawings.MNIST.stroke_width_at(SIZE), 20 / 28 * SIZE
  height, across = ink_box(target)
  assert abs(across - longer) <= 1.0
  assert abs(height - ((longer - width) * 80 / 160 + width)) <= 1.0


def test_an_mnist_digit_of_the_median_stroke_width_comes_out_nearly_unchanged(shared_data):
  """Closer to itself than to its shift by one pixel, by a margin (0.6 of that shift's change).

  Redone, MNIST's framing moves the digit's edges by well under half a pixel:
  LeCun centred by whole pixels at 28 (up to 0.57 pixels at 32), and the box
  and the width (chosen within 0.3 of the median) differ by a few percent.
  Expected: a mean absolute change about 0.02-0.03, where a one-pixel shift
  changes about 0.08-0.1.
  """
  width = drawings.MNIST.stroke_width_at(SIZE)
  digits = [d for d in mnist_targets(shared_data, 500)
            if abs(drawings.stroke_width(d) - width) < 0.3][:10]
  assert len(digits) >= 5, f"few t10k digits are {width:.2f} wide: is MNIST measured?"
  changes, shifts = [], []
  for digit in digits:
    target = drawings.normalize_drawing(digit, drawings.MNIST, SIZE)
    shifted = np.ones_like(digit)
    shifted[:, 1:] = digit[:, :-1]
    changes.append(float(np.abs(target - digit).mean()))
    shifts.append(float(np.abs(shifted - digit).mean()))
  assert np.median(changes) < 0.6 * np.median(shifts), (changes, shifts)


def test_omniglot_keeps_a_drawing_where_it_was_drawn_and_matches_its_stroke_width():
  """Omniglot's loader does not re-centre characters, so neither is a drawing re-centred."""
  cross = [((10, 10), (40, 40)), ((10, 40), (40, 10))]  # an X in the top-left corner
  target = drawings.normalize_drawing(draw((105, 105), cross, 1.0), drawings.OMNIGLOT, SIZE)
  cy, cx = center_of_mass(target)
  assert abs(cy - 25.5 * SIZE / 105) <= 1.0 and abs(cx - 25.5 * SIZE / 105) <= 1.0
  assert abs(drawings.stroke_width(target) - drawings.OMNIGLOT.stroke_width_at(SIZE)) <= 0.5


@pytest.mark.parametrize("drawn, wanted", [(1.0, 3.0), (6.0, 3.0)])
def test_match_stroke_width_thickens_thin_lines_and_thins_thick_ones(drawn, wanted):
  cross = [((10, 10), (54, 54)), ((10, 54), (54, 10))]
  out = drawings.match_stroke_width(draw((64, 64), cross, drawn), wanted)
  assert out.shape == (64, 64, 1)
  assert abs(drawings.stroke_width(out) - wanted) <= 0.5
  assert out.max() >= 0.999 and out.min() <= 0.05  # white paper, dark ink


@pytest.mark.parametrize("paper", ["white", "grainy"])
def test_a_drawing_without_ink_is_a_blank_drawing_error(paper):
  image = np.ones((60, 80, 3), np.float32)
  if paper == "grainy":  # off-white paper with scanner grain, no line
    image = np.clip(0.9 + np.random.default_rng(0).normal(0.0, 0.01, image.shape), 0.0, 1.0)
  with pytest.raises(drawings.BlankDrawingError, match="no ink"):
    drawings.normalize_drawing(image, drawings.MNIST, SIZE)
  with pytest.raises(drawings.BlankDrawingError, match="no ink"):
    drawings.match_stroke_width(image, 3.0)


def test_framing_for_knows_mnist_and_omniglot_and_leaves_other_data_as_drawn():
  assert drawings.framing_for("mnist") is drawings.MNIST
  assert drawings.framing_for("tfds:mnist") is drawings.MNIST
  assert drawings.framing_for("omniglot") is drawings.OMNIGLOT
  for name in ("synthetic", "celeba", "folder", "mujoco_scenes", "tfds:cifar10", None):
    assert drawings.framing_for(name) is None
