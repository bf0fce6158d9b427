"""Finding MyPaint brush files (``.myb``) installed by ``mypaint-brushes``."""
import os
from typing import List

DEFAULT_BRUSH = "classic/dry_brush"


def search_paths() -> List[str]:
  """Folders searched for brushes, most specific first."""
  paths = []
  if os.environ.get("SPIRAL_BRUSH_DIR"):
    paths.append(os.environ["SPIRAL_BRUSH_DIR"])
  for prefix in ("/usr/share", "/usr/local/share"):
    # The 1.0 brush set is the one written for libmypaint 1.x (SPIRAL's own).
    paths.append(os.path.join(prefix, "mypaint-data", "1.0", "brushes"))
    paths.append(os.path.join(prefix, "mypaint-data", "2.0", "brushes"))
  return paths


class BrushNotFoundError(FileNotFoundError):
  """Raised when a named brush is in none of the search paths."""


def find_brush(name: str) -> str:
  """Returns the path of brush ``name`` (e.g. 'classic/dry_brush' or a .myb path)."""
  if name.endswith(".myb") and os.path.isfile(name):
    return name
  stem = name[:-4] if name.endswith(".myb") else name
  tried = []
  for folder in search_paths():
    path = os.path.join(folder, stem + ".myb")
    tried.append(path)
    if os.path.isfile(path):
      return path
  raise BrushNotFoundError(
      f"brush {name!r} not found; looked in: {', '.join(tried)}. Install the "
      "brushes (sudo apt-get install mypaint-brushes), pass a path to a .myb "
      "file, or set SPIRAL_BRUSH_DIR.")
