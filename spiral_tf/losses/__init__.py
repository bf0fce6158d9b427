"""The agent's maths as pure functions: V-trace, A2C, WGAN-GP, rewards."""
from spiral_tf.losses.policy_gradient import a2c_vtrace_loss
from spiral_tf.losses.policy_gradient import baseline_loss
from spiral_tf.losses.policy_gradient import entropy_loss
from spiral_tf.losses.policy_gradient import policy_gradient_loss
from spiral_tf.losses.rewards import color_histogram_emd
from spiral_tf.losses.rewards import combine_rewards
from spiral_tf.losses.rewards import empty_canvas_penalty
from spiral_tf.losses.rewards import final_step_rewards
from spiral_tf.losses.rewards import l2_distance
from spiral_tf.losses.rewards import l2_reward
from spiral_tf.losses.rewards import new_stroke_penalty
from spiral_tf.losses.rewards import new_strokes
from spiral_tf.losses.vtrace import VTraceReturns
from spiral_tf.losses.vtrace import vtrace
from spiral_tf.losses.wgan_gp import critic_loss
from spiral_tf.losses.wgan_gp import gradient_penalty
