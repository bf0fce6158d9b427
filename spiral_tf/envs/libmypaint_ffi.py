"""cffi (ABI mode) binding to the system libmypaint; no compiler needed.

Facts about libmypaint 1.5/1.6 this binding relies on:
* ``mypaint_brush_stroke_to`` keeps the 8-argument 1.3 signature;
* the fixed tiled surface is a v1 surface: ``end_atomic`` takes one rectangle;
* tiles are 64x64 premultiplied RGBA in 15-bit fixed point (1.0 == 1 << 15);
* a new fixed surface is filled with 0xFFFF and there is no clear call.
"""
import ctypes.util
import functools
import os

import cffi

LIBRARY_NAMES = ("libmypaint-1.5.so.1", "libmypaint.so", "libmypaint-1.6.so.1")
INSTALL_HINT = ("install the system package: sudo apt-get install libmypaint-1.5-1 "
                "mypaint-brushes (or run tools/setup.sh)")
TILE_SIZE = 64
FIXED_ONE = 1 << 15

_CDEF = """
typedef struct MyPaintBrush MyPaintBrush;
typedef struct MyPaintSurface MyPaintSurface;
typedef struct MyPaintTiledSurface MyPaintTiledSurface;
typedef struct MyPaintFixedTiledSurface MyPaintFixedTiledSurface;
typedef struct { int x; int y; int width; int height; } MyPaintRectangle;
typedef struct {
    int tx;
    int ty;
    int readonly;
    uint16_t *buffer;
    void *context;
    int thread_id;
    int mipmap_level;
} MyPaintTileRequest;

MyPaintBrush *mypaint_brush_new(void);
void mypaint_brush_unref(MyPaintBrush *self);
void mypaint_brush_reset(MyPaintBrush *self);
void mypaint_brush_new_stroke(MyPaintBrush *self);
int mypaint_brush_from_string(MyPaintBrush *self, const char *string);
void mypaint_brush_from_defaults(MyPaintBrush *self);
int mypaint_brush_setting_from_cname(const char *cname);
void mypaint_brush_set_base_value(MyPaintBrush *self, int id, float value);
float mypaint_brush_get_base_value(MyPaintBrush *self, int id);
int mypaint_brush_stroke_to(MyPaintBrush *self, MyPaintSurface *surface,
                            float x, float y, float pressure,
                            float xtilt, float ytilt, double dtime);

MyPaintFixedTiledSurface *mypaint_fixed_tiled_surface_new(int width, int height);
MyPaintSurface *mypaint_fixed_tiled_surface_interface(MyPaintFixedTiledSurface *self);
void mypaint_surface_begin_atomic(MyPaintSurface *self);
void mypaint_surface_end_atomic(MyPaintSurface *self, MyPaintRectangle *roi);
void mypaint_surface_unref(MyPaintSurface *self);
void mypaint_tile_request_init(MyPaintTileRequest *data, int level, int tx, int ty,
                               int readonly);
void mypaint_tiled_surface_tile_request_start(MyPaintTiledSurface *self,
                                              MyPaintTileRequest *request);
void mypaint_tiled_surface_tile_request_end(MyPaintTiledSurface *self,
                                            MyPaintTileRequest *request);
"""


class LibMyPaintNotFoundError(ImportError):
  """Raised when the libmypaint shared library cannot be loaded."""


@functools.lru_cache(maxsize=None)
def load():
  """Returns ``(ffi, lib)`` for the system libmypaint, loading it once."""
  ffi = cffi.FFI()
  ffi.cdef(_CDEF)
  candidates = []
  override = os.environ.get("SPIRAL_LIBMYPAINT")
  if override:
    candidates.append(override)
  candidates.extend(LIBRARY_NAMES)
  found = ctypes.util.find_library("mypaint-1.5") or ctypes.util.find_library("mypaint")
  if found:
    candidates.append(found)
  errors = []
  for name in candidates:
    try:
      return ffi, ffi.dlopen(name)
    except OSError as e:
      errors.append(f"{name}: {e}")
  raise LibMyPaintNotFoundError(
      "libmypaint could not be loaded (tried " + "; ".join(errors) + "). "
      f"To fix: {INSTALL_HINT}, or point SPIRAL_LIBMYPAINT at the .so file.")
