"""The shape of one libmypaint dab: rr = (distance / radius)^2 of nearby pixels.

libmypaint measures rr at pixel centres for dabs of radius 3 and more, and
with its anti-aliasing below that; the opacity profile (hardness) is then a
function of rr. Pure functions over [K] dabs and their [K, W] pixel windows.
"""
import math

import numpy as np
import tensorflow as tf


def rr_antialiased(py, px, y, x, radius, inv_r2, dab_angle: float):
  """libmypaint's anti-aliased rr for small dabs: the pixel's visibility from the dab's axis.

  The nearest point of the pixel to the dab's axis line (its angle) and a
  point 1/sqrt(pi) further out are both measured; their rr are averaged, or
  combined as 1 - (1 - rr_near) / (1 + rr_far - rr_near) past the core.
  """
  angle = np.float32(dab_angle - 180.0 * math.floor(
      (dab_angle + 180.0) / 180.0))  # libmypaint's wrap into [-180, 180)
  angle_rad = np.float32(angle / 360.0 * 2.0 * math.pi)
  cs, sn = float(np.cos(angle_rad, dtype=np.float32)), float(np.sin(angle_rad, dtype=np.float32))
  right = (x[:, None] - tf.cast(px, tf.float32))[:, None, :]       # [K, 1, W]
  bottom = (y[:, None] - tf.cast(py, tf.float32))[:, :, None]      # [K, W, 1]
  left, top = right - 1.0, bottom - 1.0
  cx, cy = right - 0.5, bottom - 0.5
  inside = (left < 0) & (right > 0) & (top < 0) & (bottom > 0)     # [K, W, W]
  along = (cx * cs + cy * sn) / (cs * cs + sn * sn)
  near_x = tf.clip_by_value(cs * along, left, right)
  near_y = tf.clip_by_value(sn * along, top, bottom)
  near_x = tf.where(inside, 0.0, near_x)
  near_y = tf.where(inside, 0.0, near_y)

  def r2(px_, py_):  # squared distance in the dab's frame (round dab: rotation only)
    yyr = py_ * cs - px_ * sn
    xxr = py_ * sn + px_ * cs
    return yyr * yyr + xxr * xxr

  rr_near = r2(near_x, near_y) * inv_r2
  below = ((cx - cs) * sn - cs * (cy + sn)) < 0
  reach = math.sqrt(1.0 / math.pi)  # radius of a circle of area 1
  far_x = tf.where(below, near_x - sn * reach, near_x + sn * reach)
  far_y = tf.where(below, near_y + cs * reach, near_y - cs * reach)
  r_far = r2(far_x, far_y)
  rr_far = r_far * inv_r2
  aa_start = tf.square(tf.maximum(radius - 1.0, 0.0))[:, None, None]
  soft = 1.0 - (1.0 - rr_near) / (1.0 + rr_far - rr_near)
  rr = tf.where(r_far < aa_start, 0.5 * (rr_far + rr_near), soft)
  return tf.where(rr_near > 1.0, rr_near, rr)
