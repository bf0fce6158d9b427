"""Omniglot from the released zips or their extracted folders.

Sources: ``images_background*.zip``, ``images_evaluation*.zip``, a folder
holding them, or extracted folders (``alphabet/characterNN/CCCC_DD.png``).

Split rule: when both background and evaluation sets are present, background
is 'train' and evaluation is 'test' (the released split: disjoint alphabets).
Otherwise (and for sources named neither way) images are split by drawer,
the ``DD`` of ``CCCC_DD.png``: drawers 19 and 20 of the 20 are 'test' (10%),
the rest 'train', so each character appears in both. 'all' is everything.

The released PNGs are 1-bit, black ink (0) on white (1): already the
canvas convention, so they are not inverted.

Data and licences: Omniglot (Brenden Lake et al.) is released under the MIT
licence. spiral_tf ships none of it; see docs/data.md for every data set's
licence.
"""
import glob
import os
import re
import zipfile
from typing import List, Optional, Tuple

import tensorflow as tf

from spiral_tf.data import images as images_lib
from spiral_tf.data.images import DataError

SPLITS = ("train", "test", "all")
TEST_DRAWERS = (19, 20)
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_END = b"IEND\xaeB`\x82"  # the last 8 bytes of every complete PNG
_FILE_NAME = re.compile(r"^\d+_(\d+)\.png$")


def _read_zip(path: str) -> List[Tuple[str, bytes]]:
  """(name, PNG bytes) of every PNG in a zip, sorted by member name."""
  try:
    with zipfile.ZipFile(path) as archive:
      members = sorted(m for m in archive.namelist()
                       if m.lower().endswith(".png") and not m.startswith("__MACOSX/"))
      if not members:
        raise DataError(f"{path}: zip holds no PNG files; expected "
                        "alphabet/characterNN/*.png as in the Omniglot release")
      return [(f"{path}:{m}", archive.read(m)) for m in members]
  except (zipfile.BadZipFile, OSError, EOFError) as e:
    raise DataError(f"{path}: not a readable zip archive ({e}); expected an Omniglot "
                    "images_*.zip") from e


def _read_folder(path: str) -> List[Tuple[str, bytes]]:
  """(name, PNG bytes) of every PNG under an extracted folder, sorted by path."""
  files = sorted(glob.glob(os.path.join(glob.escape(path), "**", "*.png"), recursive=True))
  out = []
  for name in files:
    with open(name, "rb") as f:
      out.append((name, f.read()))
  return out


def _sources(path: str) -> List[Tuple[str, str]]:
  """(kind, path) of the zips and extracted folders at ``path``; kind from the release name."""
  if path is None or not os.path.exists(path):
    raise DataError(f"omniglot: {path!r} does not exist; expected an images_*.zip, a folder "
                    "holding them, or an extracted alphabet/characterNN/*.png folder")
  if os.path.isfile(path):
    found = [path]
  else:
    folders = [p for p in sorted(glob.glob(os.path.join(glob.escape(path), "images_*")))
               if os.path.isdir(p)]
    # An extracted folder wins over the zip it came from, so nothing is counted twice.
    zips = [p for p in sorted(glob.glob(os.path.join(glob.escape(path), "images_*.zip")))
            if p[:-4] not in folders]
    found = folders + zips or [path]
  return [("evaluation" if "evaluation" in os.path.basename(p) else
           "background" if "background" in os.path.basename(p) else "other", p) for p in found]


def _drawer(name: str) -> int:
  match = _FILE_NAME.match(os.path.basename(name.replace(":", "/")))
  if not match:
    raise DataError(f"{name}: not an Omniglot file name; expected CCCC_DD.png "
                    "(character number, drawer number)")
  return int(match.group(1))


def load_files(path: str, split: str = "train") -> List[Tuple[str, bytes]]:
  """(name, PNG bytes) of the images of ``split``, in a fixed order."""
  images_lib.check_split(split, SPLITS, "omniglot")
  sources = _sources(path)
  by_kind = {}
  for kind, source in sources:
    files = _read_zip(source) if os.path.isfile(source) else _read_folder(source)
    by_kind.setdefault(kind, []).extend(files)
  everything = [f for files in by_kind.values() for f in files]
  if not everything:
    raise DataError(f"{path}: no PNG files; expected images_background*.zip, "
                    "images_evaluation*.zip or alphabet/characterNN/*.png")
  for name, data in everything:
    if not data.startswith(_PNG_SIGNATURE):
      raise DataError(f"{name}: not a PNG image (bad signature); Omniglot images are PNG files")
    if not data.endswith(_PNG_END):  # cheap: the bytes are in memory; a full decode is not
      raise DataError(f"{name}: truncated PNG (no IEND chunk at its end); extract or "
                      "download the Omniglot release again")
  if split == "all":
    return everything
  released_split = "background" in by_kind and "evaluation" in by_kind
  chosen = []
  for kind, files in by_kind.items():
    for name, data in files:
      if released_split and kind != "other":
        is_test = kind == "evaluation"
      else:
        is_test = _drawer(name) in TEST_DRAWERS
      if is_test == (split == "test"):
        chosen.append((name, data))
  return chosen


def load(path: str, split: str = "train", size: int = 64,
         channels: Optional[int] = None) -> tf.data.Dataset:
  """Omniglot characters ``[size, size, channels]`` (1 channel by default)."""
  channels = images_lib.check_channels(channels, 1)
  files = load_files(path, split)
  images_lib.require_nonempty(len(files), "omniglot", split, path)
  names, data = [n for n, _ in files], [d for _, d in files]
  return images_lib.decoded_dataset(data, names, "L").map(
      lambda image: images_lib.to_canvas(image, size, channels),
      num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
