"""The complement discriminator's inputs (SPIRAL++, Mellor et al. 2019, section 2.3).

A conditional critic shown (canvas, target) can call every pair that is not
pixel-identical fake, which says nothing about how close a canvas is. The
complement critic sees one half of the target beside the other half of the
image instead: real ((1 - m) x, m x), fake ((1 - m) x, m c), m a left,
right, top or bottom half. It must judge whether the halves belong together.
"""
import tensorflow as tf

# Halves: 0 left, 1 right, 2 top, 3 bottom.
NUM_HALVES = 4


def half_masks(kinds, size: int):
  """[B] half kinds -> [B, size, size, 1] float masks (1 on the chosen half)."""
  kinds = tf.convert_to_tensor(kinds, tf.int32)
  index = tf.range(size)
  first = tf.cast(index < size // 2, tf.float32)  # [S] 1 on the first half
  cols = tf.stack([first, 1.0 - first], 0)  # [2, S]: left, right
  left_right = tf.broadcast_to(cols[:, None, :], [2, size, size])  # [2, S, S] by column
  top_bottom = tf.transpose(left_right, [0, 2, 1])  # [2, S, S] by row
  all_masks = tf.concat([left_right, top_bottom], 0)  # [4, S, S]
  return tf.gather(all_masks, kinds)[..., None]  # [B, S, S, 1]


def complement_pair(images, targets, masks):
  """(m * images, (1 - m) * targets): what the complement critic scores."""
  # images, targets: [B, S, S, C]; masks: [B, S, S, 1] broadcast over channels.
  return masks * images, (1.0 - masks) * targets


def random_kinds(batch_size, seed=None):
  """[B] half kinds drawn uniformly (stateless when a [2] seed is given)."""
  shape = tf.reshape(batch_size, [1])
  if seed is None:
    return tf.random.uniform(shape, 0, NUM_HALVES, tf.int32)
  return tf.random.stateless_uniform(shape, seed, 0, NUM_HALVES, tf.int32)


def complement_critic(critic_fn):
  """critic_fn(images, targets) on complementary halves, a fresh random half per example."""
  def score(images, targets):
    masks = half_masks(random_kinds(tf.shape(images)[0]), images.shape[1])
    return critic_fn(*complement_pair(images, targets, masks))
  return score


def complement_reward(critic_fn):
  """The complement critic's score averaged over all four halves: a deterministic reward."""
  def score(images, targets):
    b, size = tf.shape(images)[0], images.shape[1]
    total = 0.0
    for kind in range(NUM_HALVES):
      masks = half_masks(tf.fill([b], kind), size)
      total += tf.reshape(critic_fn(*complement_pair(images, targets, masks)), [-1])
    return total / NUM_HALVES
  return score
