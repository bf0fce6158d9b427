"""MuJoCo Scenes rendering: the scene model, GL backend choice and renderer.

The environment (actions, observations, episodes) is ``mujoco_scenes``; this
module only turns object lists into images.

Rendering (``SceneRenderer``) compiles one model with ``num_slots`` hidden
object geoms and edits their type/size/position/colour in place: building a
renderer costs ~30 ms, a 64x64 render ~0.5-1 ms on a CPU. Hidden slots have
alpha 0 (MuJoCo does not draw them) and are parked inside the platform, since
the model's extent (hence the clip planes) is fixed when it is compiled.

GL backend: MuJoCo reads ``MUJOCO_GL`` once, when ``mujoco`` is first
imported, so this module imports ``mujoco`` lazily (``import_mujoco``) after
choosing a backend: the ``gl_backend`` argument, else ``$MUJOCO_GL``, else
'egl' when a GPU device exists and an EGL context can be made (probed once in
a subprocess), else 'osmesa' (software, needs Debian's ``libosmesa6``). The
choice is written back to ``MUJOCO_GL`` so spawned actor processes inherit it.
If ``mujoco`` was imported elsewhere first, its backend is kept; asking for a
different one raises ``GLBackendError``.

EGL against OSMesa, measured on one H100 machine with 16 cores
(``tools/check_gl_backends.py``, RESULTS.md, MuJoCo Scenes): EGL renders 32x32
scenes 5.8x faster in one process (5.5k/s against 0.95k/s) but does not
scale with processes on one GPU (6.3k/s summed over 16), while OSMesa does
(14.2k/s over 16). With many actor processes per GPU, ``MUJOCO_GL=osmesa``
renders more. The two backends' images differ at object edges by 0.8% of
the scene-vs-empty ℓ2 (32x32), so compare numbers made with one backend.

OSMesa and TensorFlow share a process only if TensorFlow is loaded first and
OSMesa with RTLD_DEEPBIND (``import_mujoco`` does both); a process that
imported ``mujoco`` with MUJOCO_GL=osmesa before this module segfaults when it
renders next to TensorFlow, so import this module, not ``mujoco``, first.
"""
import collections
import ctypes
import glob
import os
import subprocess
import sys
import weakref
from typing import Mapping, Optional, Sequence

import numpy as np

from spiral_tf.envs import specs

OBJECT_TYPES = ("sphere", "box", "cylinder", "capsule")
GRID_SIZE = 16
# Characteristic half-extent of an object (metres) per ``size`` value; the
# platform is 2 x 2 m, so a grid cell is 0.125 m and the largest object
# covers about four cells.
OBJECT_SIZES = (0.12, 0.18, 0.24)
COLOR_BINS = 4
# Attributes of one object, in the agent's sampling order.
OBJECT_RANGES = collections.OrderedDict(
    type=len(OBJECT_TYPES), location=GRID_SIZE ** 2, size=len(OBJECT_SIZES),
    red=COLOR_BINS, green=COLOR_BINS, blue=COLOR_BINS)
PLATFORM_HALF = 1.0
PLATFORM_RGBA = (0.5, 0.5, 0.5, 1.0)
CAMERA_DISTANCE = 3.2  # frames the whole platform at fovy 45 with a small margin
_PARK = (0.0, 0.0, -0.05)  # hidden slots sit inside the platform slab

_GL_PACKAGES = {
    "osmesa": ("libOSMesa", "libosmesa6 (apt-get install libosmesa6)"),
    "egl": ("libEGL", "libegl1 and a GPU driver with EGL (apt-get install libegl1)"),
    "glfw": (None, "a display for glfw (or use MUJOCO_GL=osmesa / egl)"),  # pip glfw ships its lib
}


class GLBackendError(RuntimeError):
  """No usable OpenGL backend for MuJoCo's offscreen renderer."""


# --- GL backend ---------------------------------------------------------------
def _load_library(stem: str, mode: int = os.RTLD_LOCAL) -> bool:
  """dlopens the first loadable soname of ``stem``; False if none loads."""
  for name in (f"{stem}.so", f"{stem}.so.1", f"{stem}.so.8", f"{stem}.so.6", f"{stem}.so.3"):
    try:
      ctypes.CDLL(name, mode=mode)
      return True
    except OSError:
      continue
  return False


def _egl_usable() -> bool:
  """True when a GPU device node exists and an EGL context can be created."""
  if not (glob.glob("/dev/nvidia[0-9]*") or glob.glob("/dev/dri/renderD*")):
    return False
  if not _load_library("libEGL"):
    return False
  probe = ("import os; os.environ['MUJOCO_GL'] = 'egl'; "
           "from mujoco.egl import GLContext; c = GLContext(8, 8); c.make_current(); c.free()")
  try:
    return subprocess.run([sys.executable, "-c", probe], capture_output=True,
                          timeout=60, check=False).returncode == 0
  except (OSError, subprocess.TimeoutExpired):
    return False


def choose_gl_backend(requested: Optional[str] = None) -> str:
  """The backend to use: ``requested``, else $MUJOCO_GL, else egl if usable, else osmesa."""
  backend = (requested or os.environ.get("MUJOCO_GL") or "").lower().strip()
  if not backend:
    backend = "egl" if _egl_usable() else "osmesa"
  if backend not in _GL_PACKAGES:
    raise GLBackendError(f"unknown MuJoCo GL backend {backend!r}; use one of {sorted(_GL_PACKAGES)}")
  return backend


def import_mujoco(gl_backend: Optional[str] = None):
  """Imports ``mujoco`` with a headless GL backend chosen before the import."""
  if "mujoco" in sys.modules:
    mujoco = sys.modules["mujoco"]
    gl_context = (sys.modules.get("mujoco.rendering.classic.gl_context")  # mujoco >= 3.3
                  or sys.modules.get("mujoco.gl_context"))
    loaded = getattr(gl_context, "_MUJOCO_GL", "") or "glfw"
    wanted = (gl_backend or os.environ.get("MUJOCO_GL") or loaded).lower().strip()
    if wanted != loaded:
      raise GLBackendError(
          f"mujoco was already imported with MUJOCO_GL={loaded!r}, so backend {wanted!r} "
          "cannot be used in this process; set MUJOCO_GL before anything imports mujoco")
    return mujoco
  backend = choose_gl_backend(gl_backend)
  platform = os.environ.get("PYOPENGL_PLATFORM", "").lower()
  if platform and backend in ("osmesa", "egl") and platform != backend:
    raise GLBackendError(f"PYOPENGL_PLATFORM={platform!r} conflicts with MuJoCo backend "
                         f"{backend!r}; unset it or set it to {backend!r}")
  load_gl_library(backend)
  os.environ["MUJOCO_GL"] = backend
  try:
    import mujoco  # pylint: disable=g-import-not-at-top
  except Exception as e:  # PyOpenGL raises various errors for a broken GL library
    raise GLBackendError(f"importing mujoco with MUJOCO_GL={backend!r} failed ({e}); "
                         f"install {_GL_PACKAGES[backend][1]}") from e
  return mujoco


def load_gl_library(backend: str):
  """Loads the backend's GL library; GLBackendError naming the package if it is missing."""
  stem, package = _GL_PACKAGES[backend]
  if stem is None:
    return
  mode = os.RTLD_LOCAL
  if backend == "osmesa":
    # Mesa's libOSMesa links the system libLLVM, whose symbols clash with the
    # LLVM inside TensorFlow: with both in one process, rendering (or importing
    # TensorFlow afterwards) segfaults. Loading TensorFlow first and OSMesa with
    # RTLD_DEEPBIND, so that it binds to its own LLVM, avoids it (measured with
    # Debian's Mesa / LLVM 15 and TensorFlow 2.21). Without TensorFlow there is
    # nothing to clash with (a render-only machine, tools/check_gl_backends.py).
    try:
      import tensorflow  # noqa: F401  pylint: disable=g-import-not-at-top,unused-import
    except ImportError:
      pass
    mode |= os.RTLD_DEEPBIND
  if not _load_library(stem, mode):
    raise GLBackendError(f"MuJoCo GL backend {backend!r} needs {stem}.so, which is not "
                         f"installed: install {package}")


# --- scene geometry ----------------------------------------------------------------
def validate_object(obj: Mapping) -> dict:
  """Checks one object description (type, location, size, red, green, blue)."""
  return specs.validate_action(obj, OBJECT_RANGES)


def object_geometry(obj: Mapping):
  """(type name, size[3], position[3], rgba[4]) of a validated object."""
  s = OBJECT_SIZES[obj["size"]]
  name = OBJECT_TYPES[obj["type"]]
  if name == "capsule":  # radius, half-length of the straight part
    size, height = (0.7 * s, 0.6 * s, 0.0), 1.3 * s
  else:  # sphere radius; box half-extents; cylinder radius and half-height
    size, height = (s, s, s), s
  row, col = divmod(obj["location"], GRID_SIZE)
  cell = 2 * PLATFORM_HALF / GRID_SIZE
  pos = (-PLATFORM_HALF + (col + 0.5) * cell, PLATFORM_HALF - (row + 0.5) * cell, height)
  rgba = (*(obj[c] / (COLOR_BINS - 1) for c in ("red", "green", "blue")), 1.0)
  return name, size, pos, rgba


def location_to_world(location: int) -> np.ndarray:
  """Centre (x, y, 0) on the platform's top of a grid cell."""
  _, _, pos, _ = object_geometry(dict(type=0, location=location, size=0, red=0, green=0, blue=0))
  return np.array([pos[0], pos[1], 0.0])


def scene_xml(image_size: int, num_slots: int, shadows: bool) -> str:
  """MJCF of the platform, camera, lights and ``num_slots`` hidden object geoms."""
  d = CAMERA_DISTANCE / np.sqrt(2.0)
  slots = "\n".join(
      f'<geom name="slot{i}" type="sphere" size="0.01" pos="{" ".join(map(str, _PARK))}" '
      'rgba="0 0 0 0" contype="0" conaffinity="0"/>' for i in range(num_slots))
  # offwidth/offheight: the renderer may not be larger than this buffer.
  # numslices/numstacks: coarser tessellation of the round primitives than
  # MuJoCo's 28/16; invisible at 64 px (mean |diff| 0.0014) and 4x faster
  # with 20 objects under OSMesa (148 -> 588 renders/s measured here).
  return f"""<mujoco model="mujoco_scenes">
  <visual>
    <global offwidth="{image_size}" offheight="{image_size}"/>
    <headlight ambient="0.3 0.3 0.3" diffuse="0.4 0.4 0.4" specular="0 0 0"/>
    <quality shadowsize="1024" numslices="16" numstacks="8"/>
  </visual>
  <worldbody>
    <light name="sun" directional="true" pos="0.5 -1 3" dir="-0.3 0.5 -1"
           diffuse="0.6 0.6 0.6" specular="0.1 0.1 0.1" castshadow="{str(shadows).lower()}"/>
    <camera name="view" pos="0 {-d:.6f} {d:.6f}" xyaxes="1 0 0 0 1 1" fovy="45"/>
    <geom name="platform" type="box" size="{PLATFORM_HALF} {PLATFORM_HALF} 0.05"
          pos="0 0 -0.05" rgba="{" ".join(map(str, PLATFORM_RGBA))}" contype="0" conaffinity="0"/>
    {slots}
  </worldbody>
</mujoco>"""


class SceneRenderer:
  """Renders scenes of up to ``num_slots`` objects by editing one model in place."""

  def __init__(self, image_size: int = 64, num_slots: int = 20, shadows: bool = False,
               gl_backend: Optional[str] = None):
    if image_size < 8:
      raise ValueError(f"image_size must be >= 8, got {image_size}")
    if num_slots < 1:
      raise ValueError(f"num_slots must be >= 1, got {num_slots}")
    mujoco = import_mujoco(gl_backend)
    self._mujoco = mujoco
    self.image_size = int(image_size)
    self.num_slots = int(num_slots)
    self.model = mujoco.MjModel.from_xml_string(scene_xml(self.image_size, self.num_slots, shadows))
    self.data = mujoco.MjData(self.model)
    mujoco.mj_forward(self.model, self.data)  # sets the camera pose; without it frames are black
    self.first_slot_geom = mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_GEOM, "slot0")
    self.camera_id = mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_CAMERA, "view")
    self.geom_types = tuple(int(getattr(mujoco.mjtGeom, f"mjGEOM_{n.upper()}"))
                            for n in OBJECT_TYPES)
    self._renderer = None
    try:
      self._renderer = mujoco.Renderer(self.model, self.image_size, self.image_size)
    except Exception as e:
      backend = os.environ.get("MUJOCO_GL", "?")
      raise GLBackendError(f"cannot create a MuJoCo renderer with MUJOCO_GL={backend!r} ({e}); "
                           f"install {_GL_PACKAGES.get(backend, ('', 'a GL library'))[1]}") from e
    # Frees the GL context when this object is collected or at interpreter exit,
    # while PyOpenGL still works (the Renderer's own __del__ fails at shutdown).
    self._finalizer = weakref.finalize(self, self._renderer.close)

  def set_object(self, slot: int, obj: Mapping):
    """Shows a validated object (dict of ints) in ``slot``."""
    name, size, pos, rgba = object_geometry(obj)
    g = self.first_slot_geom + slot
    self.model.geom_type[g] = self.geom_types[OBJECT_TYPES.index(name)]
    self.model.geom_size[g] = size
    self.model.geom_pos[g] = pos
    self.model.geom_rgba[g] = rgba

  def clear(self):
    """Hides every slot."""
    g = slice(self.first_slot_geom, self.first_slot_geom + self.num_slots)
    self.model.geom_rgba[g, 3] = 0.0
    self.model.geom_pos[g] = _PARK

  def render(self) -> np.ndarray:
    """The current scene as uint8 [S, S, 3]."""
    if self._renderer is None:
      raise RuntimeError("render() called after close()")
    self._mujoco.mj_kinematics(self.model, self.data)  # geom_pos -> world positions
    self._renderer.update_scene(self.data, camera=self.camera_id)
    return self._renderer.render()

  def show(self, objects: Sequence[Mapping]):
    """Replaces the scene by a description (list of object dicts)."""
    if len(objects) > self.num_slots:
      raise ValueError(f"scene has {len(objects)} objects; this renderer holds {self.num_slots}")
    self.clear()
    for slot, obj in enumerate(objects):
      self.set_object(slot, validate_object(obj))

  def render_scene(self, objects: Sequence[Mapping]) -> np.ndarray:
    """Renders a scene description as float32 [S, S, 3] in [0, 1]."""
    self.show(objects)
    return self.render().astype(np.float32) / 255.0

  def close(self):
    """Frees the GL context (MuJoCo renderers are not reliably freed by GC)."""
    if self._renderer is not None:
      self._finalizer()
      self._renderer = None

  def __enter__(self):
    return self

  def __exit__(self, *exc):
    self.close()


def render_scene(objects: Sequence[Mapping], image_size: int = 64, shadows: bool = False,
                 gl_backend: Optional[str] = None) -> np.ndarray:
  """One-off render of a scene description; reuse a SceneRenderer for many (~30 ms each)."""
  with SceneRenderer(image_size, max(1, len(objects)), shadows, gl_backend) as renderer:
    return renderer.render_scene(objects)
