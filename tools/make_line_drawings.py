"""Draws simple line drawings (out-of-domain targets for the paper's Figure 6).

  python tools/make_line_drawings.py --out drawings/ [--size 128] [--width 9]

Writes house.png, triangle.png, star.png, spiral.png, letter_a.png,
smiley.png, zigzag.png and tree.png: black lines on white paper, shapes no
data set here contains, for tools/paint.py to parse into strokes.
"""
import argparse
import json
import math
import os

from PIL import Image, ImageDraw


def drawings(size: int, width: int):
  """{name: PIL image} of the line drawings, on a size x size canvas."""
  s = size / 128.0
  p = lambda *xy: [(x * s, y * s) for x, y in zip(xy[::2], xy[1::2])]  # noqa: E731
  shapes = {
      "house": [p(24, 60, 64, 24, 104, 60), p(32, 56, 32, 104, 96, 104, 96, 56)],
      "triangle": [p(64, 20, 108, 104, 20, 104, 64, 20)],
      "star": [[(64 * s + 44 * s * math.sin(a * 4 * math.pi / 5),
                 66 * s - 44 * s * math.cos(a * 4 * math.pi / 5)) for a in range(6)]],
      "spiral": [[(64 * s + 1.4 * s * t * math.cos(t / 2.2), 64 * s + 1.4 * s * t * math.sin(t / 2.2))
                  for t in range(2, 40)]],
      "letter_a": [p(28, 108, 64, 20, 100, 108), p(42, 76, 86, 76)],
      "zigzag": [p(16, 40, 40, 88, 64, 40, 88, 88, 112, 40)],
      "tree": [p(64, 110, 64, 60), p(64, 60, 36, 30), p(64, 60, 92, 30), p(64, 80, 90, 62)],
  }
  out = {}
  for name, lines in shapes.items():
    image = Image.new("L", (size, size), 255)
    draw = ImageDraw.Draw(image)
    for line in lines:
      draw.line(line, fill=0, width=width, joint="curve")
    out[name] = image
  smiley = Image.new("L", (size, size), 255)
  draw = ImageDraw.Draw(smiley)
  draw.ellipse([20 * s, 20 * s, 108 * s, 108 * s], outline=0, width=width)
  draw.arc([40 * s, 44 * s, 88 * s, 90 * s], 20, 160, fill=0, width=width)
  out["smiley"] = smiley
  return out


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--out", required=True)
  parser.add_argument("--size", type=int, default=128)
  parser.add_argument("--width", type=int, default=9)
  args = parser.parse_args(argv)
  os.makedirs(args.out, exist_ok=True)
  paths = []
  for name, image in drawings(args.size, args.width).items():
    path = os.path.join(args.out, f"{name}.png")
    image.save(path)
    paths.append(path)
  print(json.dumps({"drawings": paths}))
  return 0


if __name__ == "__main__":
  raise SystemExit(main())
