"""Facts about an environment's action space, declared once by the environment.

Agents, learners and tools read them from ``env.action_rules`` instead of
keeping copies: which components the environment samples (in order), which
component decides what the others mean and its "do nothing" value (a
libmypaint move, a MuJoCo skip), which components still matter after that
value, which components are spatial (flat indices on a square lattice), and
whether the domain draws strokes (so that a new-stroke penalty means
something).
"""
from typing import Mapping, NamedTuple, Sequence, Tuple

import numpy as np
import tensorflow as tf


class ActionRules(NamedTuple):
  """The action-space facts of one environment (see the module docstring)."""
  components: Tuple[str, ...]          # sampling order
  mask_component: str                  # decides which components matter
  no_op_value: int                     # value of mask_component that does nothing visible
  no_op_components: Tuple[str, ...]    # what matters after a no-op
  spatial_components: Tuple[str, ...]  # flat indices on a grid x grid lattice
  draws_strokes: bool                  # a run of non-no-op actions is one stroke

  def masks(self, actions: Mapping[str, tf.Tensor]) -> tf.Tensor:
    """[..., K] float32: which components mattered for each action.

    The environment's next ``action_mask``, and what the learner multiplies
    the per-component log-probs and entropies by (a component the
    environment ignored carries no credit).
    """
    k = len(self.components)
    is_no_op = tf.equal(tf.cast(actions[self.mask_component], tf.int32),
                        self.no_op_value)[..., None]  # [..., 1]
    no_op_mask = tf.constant([float(c in self.no_op_components) for c in self.components])
    return tf.where(is_no_op, no_op_mask, tf.ones([k]))  # [..., K]

  def acted(self, actions: Mapping[str, tf.Tensor]) -> tf.Tensor:
    """[...] float32: 1 where the action did something (painted, added, changed)."""
    return tf.cast(tf.not_equal(tf.cast(actions[self.mask_component], tf.int32),
                                self.no_op_value), tf.float32)

  def strokes_per_program(self, programs: Sequence[Sequence[Mapping[str, int]]]) -> np.ndarray:
    """[N]: how many steps of each program (a list of action dicts) did something."""
    return np.array([sum(int(a[self.mask_component]) != self.no_op_value for a in program)
                     for program in programs], np.float64)
