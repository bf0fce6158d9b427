"""Unusual image files read right: 16-bit greyscale, very large images.

Large PNGs are written row by row through zlib (a few rows repeated), so a
14000 x 14000 file costs a fraction of a second and a few hundred kilobytes.
"""
import struct
import tracemalloc
import warnings
import zlib

import numpy as np
from PIL import Image
import pytest

from spiral_tf import data
from spiral_tf.data import images as images_lib
from spiral_tf.eval import painting


def _chunk(kind: bytes, payload: bytes) -> bytes:
  return (struct.pack(">I", len(payload)) + kind + payload
          + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF))


def write_large_grey_png(path, width: int, height: int, row: np.ndarray):
  """An 8-bit grey PNG of ``height`` copies of ``row`` (uint8 [width]), never held whole."""
  compressor = zlib.compressobj(1)
  line = b"\x00" + np.asarray(row, np.uint8).tobytes()  # filter type 0, then the pixels
  idat = b"".join(compressor.compress(line) for _ in range(height)) + compressor.flush()
  with open(path, "wb") as f:
    f.write(b"\x89PNG\r\n\x1a\n")
    f.write(_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)))
    f.write(_chunk(b"IDAT", idat))
    f.write(_chunk(b"IEND", b""))


def half_dark_row(width: int) -> np.ndarray:
  return np.where(np.arange(width) < width // 2, 0, 255).astype(np.uint8)


def test_a_16_bit_grey_png_is_read_at_its_brightness_not_as_white(tmp_path):
  gradient = np.tile(np.linspace(0, 65535, 64).round().astype(np.uint16), (64, 1))
  path = tmp_path / "deep.png"
  Image.fromarray(gradient).save(path)
  with Image.open(path) as check:
    assert check.mode.startswith("I"), "the file holds 16-bit samples"
  painted = painting.load_user_image(str(path), 16, 1, invert="no")
  assert painted.mean() == pytest.approx(0.5, abs=0.01)
  assert painted[:, 0].mean() < 0.05 and painted[:, -1].mean() > 0.95, "dark left, light right"
  loaded = next(data.load("folder", str(tmp_path), split="all", size=16, channels=1)
                .as_numpy_iterator())
  assert loaded.mean() == pytest.approx(0.5, abs=0.01)


@pytest.mark.parametrize("side", [10000, 14000])  # above ours; above PIL's bomb limit too
def test_an_image_beyond_the_size_limit_is_one_error_naming_the_file(tmp_path, side):
  path = tmp_path / "huge.png"
  write_large_grey_png(path, side, side, np.full(side, 200, np.uint8))
  with warnings.catch_warnings():
    warnings.simplefilter("error")  # no DecompressionBombWarning before our error either
    with pytest.raises(ValueError) as painted:
      painting.load_user_image(str(path), 32, 1)
    with pytest.raises(data.DataError) as loaded:
      data.load("folder", str(tmp_path), split="all", size=16)
  for err in (painted, loaded):
    assert str(path) in str(err.value) and "8192x8192" in str(err.value), err.value
    assert "scale it down" in str(err.value)


@pytest.mark.slow
def test_a_large_png_is_painted_like_a_small_one_without_full_size_float_copies(tmp_path):
  big, small = tmp_path / "big.png", tmp_path / "small.png"
  write_large_grey_png(big, 8000, 8000, half_dark_row(8000))
  Image.fromarray(np.tile(half_dark_row(800), (800, 1))).save(small)
  tracemalloc.start()
  try:
    from_big = painting.load_user_image(str(big), 32, 1, invert="no")
    _, peak = tracemalloc.get_traced_memory()
  finally:
    tracemalloc.stop()
  from_small = painting.load_user_image(str(small), 32, 1, invert="no")
  # NumPy's allocations (traced): a float32 RGBA copy of 8000 x 8000 alone is 1 GB.
  assert peak < 64 * 2**20, f"{peak / 2**20:.0f} MB traced"
  # The same picture: at most a few grey levels apart along the edge (ringing).
  assert np.abs(from_big - from_small).max() < 0.04
  assert np.abs(from_big - from_small).mean() < 0.005
  assert from_big[:, :12].mean() < 0.05 and from_big[:, 20:].mean() > 0.95


def test_large_images_are_decoded_reduced_for_the_folder_loader(tmp_path):
  png, jpeg = tmp_path / "big.png", tmp_path / "big.jpg"
  write_large_grey_png(png, 6000, 4000, half_dark_row(6000))
  Image.new("RGB", (4000, 3000), (30, 120, 220)).save(jpeg, quality=90)
  for path in (png, jpeg):
    decoded = images_lib.decode(str(path), str(path), "RGB", min_side=64)
    assert 64 <= decoded.shape[0] < 128 and decoded.shape[0] == decoded.shape[1], decoded.shape
  assert images_lib.decode(str(jpeg), "jpeg", "RGB", min_side=64)[5, 5].tolist() == \
      pytest.approx([30, 120, 220], abs=3)
  loaded = next(data.load("folder", str(tmp_path), split="all", size=16).as_numpy_iterator())
  assert loaded.shape == (16, 16, 3)
