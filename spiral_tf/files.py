"""Atomic file writing: readers never see a half-written file."""
import io
import json
import os
import tempfile


def write_bytes(path: str, data: bytes):
  """Writes ``data`` to ``path`` through a temporary file and a rename."""
  folder = os.path.dirname(os.path.abspath(path))
  os.makedirs(folder, exist_ok=True)
  fd, tmp = tempfile.mkstemp(dir=folder, prefix="." + os.path.basename(path) + ".")
  try:
    with os.fdopen(fd, "wb") as f:
      f.write(data)
    # mkstemp makes the file private (0600); give it the mode a plain open() would.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    os.replace(tmp, path)
  except BaseException:
    if os.path.exists(tmp):
      os.remove(tmp)
    raise


def write_json(path: str, value):
  """Atomically writes ``value`` as indented JSON."""
  write_bytes(path, (json.dumps(value, indent=2, sort_keys=True) + "\n").encode())


def write_png(path: str, image):
  """Atomically writes a float [H, W, C] image in [0, 1] (or uint8) as PNG."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  from PIL import Image  # pylint: disable=g-import-not-at-top
  image = np.asarray(image)
  if image.dtype != np.uint8:
    image = (np.clip(image, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
  if image.ndim == 3 and image.shape[-1] == 1:
    image = image[..., 0]
  buf = io.BytesIO()
  Image.fromarray(image).save(buf, format="PNG")
  write_bytes(path, buf.getvalue())


def write_figure(path: str, figure):
  """Atomically saves a matplotlib figure as PNG."""
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  buf = io.BytesIO()
  figure.savefig(buf, format="png", dpi=100, bbox_inches="tight")
  plt.close(figure)  # pyplot keeps every open figure alive otherwise
  write_bytes(path, buf.getvalue())
