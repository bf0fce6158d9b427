"""Helpers shared by the data loaders: the error type, decoding, canvas conversion, splits.

Every loader ends in ``to_canvas``: float32 ``[size, size, channels]`` in
[0, 1] with the painting environment's convention (white background, dark
ink), so a target can be compared with a canvas without further work.
"""
import hashlib
import io
import math
import os
from typing import Callable, Optional, Sequence, Tuple, Union
import warnings

import numpy as np
from PIL import Image
import tensorflow as tf

# Extensions of the image files the folder and CelebA loaders pick up.
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg")
# The largest image read, in pixels (8192 x 8192, 67 megapixels): a bigger
# one is refused with an error naming it. Its pixels alone would take
# gigabytes for a canvas of 64, and PIL refuses twice its own limit (89
# megapixels) as a possible decompression bomb.
MAX_IMAGE_PIXELS = 8192 * 8192
MAX_IMAGE_SIDE = 8192  # MAX_IMAGE_PIXELS as a square, for messages
# A large source is decoded reduced to no less than this many pixels per
# canvas pixel (see read_8bit); the antialiased resize does the rest, so the
# target hardly differs from a full-size decode (a box filter, then another).
OVERSAMPLE = 4
# 16-bit greyscale modes of PIL (PNGs with 16 bits a sample); 'I' holds the
# same 0..65535 values when PIL widens them.
_SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I")
# Buckets of ``hash_bucket``: percentages, so split rules read as fractions.
NUM_BUCKETS = 100

Box = Tuple[int, int, int, int]  # (left, top, right, bottom) in pixels, PIL's order.


class DataError(ValueError):
  """A data set file is missing or malformed; the message names the file and what was expected."""


def check_split(split: str, valid: Sequence[str], dataset: str):
  """Raises ValueError unless ``split`` is one of ``valid``."""
  if split not in valid:
    raise ValueError(f"{dataset}: split {split!r} is not one of {list(valid)}")


def require_nonempty(count: int, dataset: str, split: str, where: str):
  """Raises DataError when a split selected no images (an empty data set trains on nothing)."""
  if count == 0:
    raise DataError(f"{dataset}: split {split!r} of {where} holds no images; "
                    "use split='all' for a small folder")


def hash_bucket(name: str) -> int:
  """A stable bucket in [0, 100) for a file name.

  md5 rather than ``hash`` because Python salts string hashes per process,
  and a split must not change between runs.
  """
  return int(hashlib.md5(name.encode("utf-8")).hexdigest()[:8], 16) % NUM_BUCKETS


def too_large(name: str, size: Optional[Tuple[int, int]] = None) -> "DataError":
  """The DataError for an image beyond MAX_IMAGE_PIXELS (``size``: its width and height)."""
  what = f"{size[0]}x{size[1]} pixels" if size else "too many pixels"
  return DataError(f"{name}: {what}, larger than the {MAX_IMAGE_SIDE}x{MAX_IMAGE_SIDE} "
                   f"({MAX_IMAGE_PIXELS / 1e6:.0f} megapixels) an image may have here; scale "
                   "it down first (a canvas is 64 pixels, 2048 a side is plenty)")


def check_size(image: Image.Image, name: str):
  """DataError naming ``name`` when an opened image has more than MAX_IMAGE_PIXELS pixels."""
  if image.width * image.height > MAX_IMAGE_PIXELS:
    raise too_large(name, image.size)


def open_pil(source) -> Image.Image:
  """``Image.open`` without PIL's DecompressionBombWarning: check_size refuses those images.

  (The warning would only precede our error. catch_warnings is not thread
  safe; a race can at worst leave this one "ignore" filter in place.)
  """
  with warnings.catch_warnings():
    warnings.simplefilter("ignore", Image.DecompressionBombWarning)
    return Image.open(source)


def open_image(source: Union[str, bytes], name: str) -> Image.Image:
  """Opens (reads the header of) an image file or bytes; DataError naming ``name`` if it is none.

  An image beyond MAX_IMAGE_PIXELS is refused here, before it is decoded.
  """
  try:
    image = open_pil(io.BytesIO(source) if isinstance(source, bytes) else source)
  except FileNotFoundError as e:
    raise DataError(f"{name}: file not found") from e
  except Image.DecompressionBombError as e:  # PIL's own refusal, far above ours
    raise too_large(name) from e
  except (OSError, SyntaxError, ValueError) as e:  # UnidentifiedImageError is an OSError.
    raise DataError(f"{name}: not a readable image ({e}); expected a PNG or JPEG file: "
                    "replace or remove it") from e
  try:
    check_size(image, name)
  except DataError:
    image.close()
    raise
  return image


def _to_8bit(image: Image.Image) -> Image.Image:
  """16-bit greyscale scaled to 8 bits ('L'; PIL's convert would clip at 255: all white)."""
  if image.mode not in _SIXTEEN_BIT_MODES:
    return image
  values = np.asarray(image).astype(np.float64)
  grey = np.clip(np.round(values / 257.0), 0, 255).astype(np.uint8)
  transparent = image.info.get("transparency")
  if isinstance(transparent, int):  # a tRNS grey value: those pixels are paper
    grey[values == transparent] = 255
  return Image.fromarray(grey, "L")


def read_8bit(image: Image.Image, min_side: Optional[int] = None) -> Image.Image:
  """Decodes an opened image to 8-bit 'L' or 'RGB', transparency composited over white.

  With ``min_side``, a large image is reduced while its shorter side stays at
  least ``min_side`` pixels: a JPEG is decoded at a smaller scale (PIL's
  ``draft``: its full-size pixels never exist), any other image is decoded
  and then box-reduced by an integer factor (PIL's ``reduce``). 16-bit
  greyscale is scaled to 8 bits. Raises what PIL raises for a damaged file
  (OSError, SyntaxError, ValueError): callers name the file.
  """
  if min_side and image.format == "JPEG" and min(image.size) >= 2 * min_side:
    scale = min(image.size) / min_side
    image.draft(image.mode, (math.ceil(image.width / scale), math.ceil(image.height / scale)))
  image.load()
  image = _to_8bit(image)
  if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
    rgba = image.convert("RGBA")
    image = Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba)
  if image.mode not in ("L", "RGB"):
    image = image.convert("RGB")
  factor = min(image.size) // min_side if min_side else 1
  return image.reduce(factor) if factor >= 2 else image


def check_decodable(sources: Sequence[Union[str, bytes]], names: Sequence[str]):
  """Decodes every image once, so a bad file is a DataError naming it now, not deep in tf.data.

  (A decode error inside a tf.data pipeline surfaces as an InvalidArgumentError
  in whichever process iterates it, and a worker blocked on it can hang.)
  """
  for source, name in zip(sources, names):
    with open_image(source, name) as image:
      try:
        image.load()
      except (OSError, SyntaxError, ValueError) as e:
        raise DataError(f"{name}: truncated or corrupt image ({e}); replace or remove "
                        "the file") from e


# What a complete file ends with, and how far from its end to look: JPEG
# writers may append a few bytes after the end-of-image marker.
_FILE_ENDS = {".png": (b"IEND\xaeB`\x82", 64), ".jpg": (b"\xff\xd9", 4096),
              ".jpeg": (b"\xff\xd9", 4096)}


def check_complete(path: str):
  """DataError unless a PNG/JPEG file ends as a complete one does: truncation, without decoding.

  For data sets too large to decode once at load time (CelebA's 200,000 faces).
  """
  end, window = _FILE_ENDS.get(os.path.splitext(path)[1].lower(), (None, 0))
  if end is None:
    return
  with open(path, "rb") as f:
    f.seek(0, os.SEEK_END)
    f.seek(max(0, f.tell() - window))
    if end not in f.read():
      raise DataError(f"{path}: truncated image (it does not end as a complete "
                      f"{os.path.splitext(path)[1][1:].upper()} file does); replace or remove it")


def center_square(width: int, height: int) -> Box:
  """The largest centred square: non-square images are cropped, never stretched."""
  side = min(width, height)
  left, top = (width - side) // 2, (height - side) // 2
  return left, top, left + side, top + side


def decode(source: Union[str, bytes], name: str, mode: str,
           crop: Optional[Callable[[int, int], Box]] = None,
           min_side: Optional[int] = None) -> np.ndarray:
  """Decodes an image to uint8 ``[h, w, 1 or 3]`` ('L' or 'RGB' ``mode``).

  Transparent pixels are composited over white, the canvas background.
  ``crop(width, height)`` gives the box to keep (default: the centred square).
  ``min_side``: decode reduced while the shorter side keeps this many pixels
  (read_8bit); only with the default crop, which scales with the image.
  """
  image = open_image(source, name)
  try:
    image = read_8bit(image, min_side if crop is None else None)
  except (OSError, SyntaxError, ValueError) as e:
    raise DataError(f"{name}: truncated or corrupt image ({e})") from e
  image = image.crop((crop or center_square)(*image.size)).convert(mode)
  array = np.asarray(image, np.uint8)
  return array[..., None] if array.ndim == 2 else array


def decoded_dataset(sources: Sequence[Union[str, bytes]], names: Sequence[str], mode: str,
                    crop: Optional[Callable[[int, int], Box]] = None,
                    min_side: Optional[int] = None) -> tf.data.Dataset:
  """A dataset of uint8 ``[h, w, c]`` images decoded (in parallel, in order) from files or bytes.

  ``min_side``: see decode.
  """
  channels = 1 if mode == "L" else 3

  def decode_index(i):
    return decode(sources[int(i)], names[int(i)], mode, crop, min_side)

  def load(i):
    image = tf.numpy_function(decode_index, [i], tf.uint8, stateful=False)
    image.set_shape([None, None, channels])
    return image

  # Indices rather than the bytes themselves: the sources stay Python objects
  # and are never copied into the graph.
  return tf.data.Dataset.range(len(sources)).map(
      load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


def convert_channels(image: tf.Tensor, channels: int) -> tf.Tensor:
  """Grayscale -> RGB by repetition, RGB -> grayscale by luminance (ITU-R 601)."""
  have = image.shape[-1]
  if have == channels:
    return image
  if have == 1 and channels == 3:
    return tf.repeat(image, 3, axis=-1)
  if have == 3 and channels == 1:
    return tf.image.rgb_to_grayscale(image)
  raise ValueError(f"cannot convert {have} channels to {channels}; channels must be 1 or 3")


def to_canvas(image: tf.Tensor, size: int, channels: int, invert: bool = False) -> tf.Tensor:
  """uint8 ``[h, w, c]`` -> float32 ``[size, size, channels]`` in [0, 1], white background."""
  x = tf.cast(image, tf.float32) / 255.0
  if invert:
    x = 1.0 - x
  # Antialiased so that large sources (Omniglot 105, CelebA 140) lose thin
  # strokes to blur rather than to aliasing.
  x = tf.image.resize(x, [size, size], method="bilinear", antialias=True)
  x = convert_channels(tf.clip_by_value(x, 0.0, 1.0), channels)
  return tf.ensure_shape(x, [size, size, channels])


def check_channels(channels: Optional[int], default: int) -> int:
  """``channels`` or the data set's default, validated to 1 or 3."""
  channels = default if channels is None else int(channels)
  if channels not in (1, 3):
    raise ValueError(f"channels must be 1 or 3, got {channels}")
  return channels
