"""V-trace off-policy targets (IMPALA, Espeholt et al. 2018, section 4.1).

SPIRAL's actors run a policy copy that lags the learner's (paper section 3.4);
V-trace corrects for that lag. When the behaviour and target policies agree
every importance weight is 1 and V-trace reduces to the on-policy n-step
return, i.e. plain A2C (paper eq. 3) with Monte-Carlo returns when the
episode ends inside the unroll.
"""
import collections
from typing import Optional

import tensorflow as tf

VTraceReturns = collections.namedtuple("VTraceReturns", ["vs", "pg_advantages"])
VTraceReturns.__doc__ = """V-trace targets: vs [T, B] for the baseline, pg_advantages [T, B]."""


def vtrace(behaviour_log_probs, target_log_probs, rewards, discounts, values,
           bootstrap_value, clip_rho_threshold: Optional[float] = 1.0,
           clip_pg_rho_threshold: Optional[float] = 1.0) -> VTraceReturns:
  """V-trace targets v_s and policy-gradient advantages; no gradient flows out.

  Args:
    behaviour_log_probs: [T, B] log mu(a_t | x_t) of the actor's policy.
    target_log_probs: [T, B] log pi(a_t | x_t) of the learner's policy.
    rewards: [T, B] r_t.
    discounts: [T, B] gamma_t; 0 where the episode ended at step t, so
      nothing is bootstrapped across episode boundaries.
    values: [T, B] V(x_t).
    bootstrap_value: [B] V(x_T), the value after the last step.
    clip_rho_threshold: rho-bar of IMPALA eq. 1 (None: no clipping).
    clip_pg_rho_threshold: rho-bar for the policy-gradient advantage
      (IMPALA section 4.2; None: no clipping).

  Returns:
    VTraceReturns(vs [T, B], pg_advantages [T, B]), both stop-gradiented.
  """
  # The targets are constants for the learner (IMPALA section 4.2), so stop
  # the gradient at the inputs and the scan records nothing for backprop.
  values = tf.stop_gradient(tf.convert_to_tensor(values))
  dtype = values.dtype

  def as_constant(x):
    return tf.stop_gradient(tf.convert_to_tensor(x, dtype))

  behaviour_log_probs = as_constant(behaviour_log_probs)
  target_log_probs = as_constant(target_log_probs)
  rewards = as_constant(rewards)
  discounts = as_constant(discounts)
  bootstrap_value = as_constant(bootstrap_value)

  rhos = tf.exp(target_log_probs - behaviour_log_probs)  # [T, B] pi / mu
  clipped_rhos = rhos if clip_rho_threshold is None else tf.minimum(
      tf.cast(clip_rho_threshold, dtype), rhos)  # [T, B] rho_t
  # c_i = min(1, pi / mu): IMPALA uses c-bar = 1 ("trace cutting").
  cs = tf.minimum(tf.ones_like(rhos), rhos)  # [T, B]
  values_t_plus_1 = tf.concat([values[1:], bootstrap_value[None]], axis=0)  # [T, B]
  # delta_t V = rho_t (r_t + gamma_t V(x_{t+1}) - V(x_t))  (IMPALA eq. 1).
  deltas = clipped_rhos * (rewards + discounts * values_t_plus_1 - values)  # [T, B]

  # v_s - V(x_s) = delta_s V + gamma_s c_s (v_{s+1} - V(x_{s+1})): the
  # recursive form of IMPALA remark 1, run backwards in time.
  def step(acc, inputs):
    discount_c, delta = inputs  # [B], [B]
    return delta + discount_c * acc

  vs_minus_values = tf.scan(step, (discounts * cs, deltas),
                            initializer=tf.zeros_like(bootstrap_value),
                            reverse=True)  # [T, B]
  vs = vs_minus_values + values  # [T, B]

  # Advantage for the policy gradient: rho_s (r_s + gamma_s v_{s+1} - V(x_s))
  # (IMPALA section 4.2), with v_T = V(x_T).
  vs_t_plus_1 = tf.concat([vs[1:], bootstrap_value[None]], axis=0)  # [T, B]
  pg_rhos = rhos if clip_pg_rho_threshold is None else tf.minimum(
      tf.cast(clip_pg_rho_threshold, dtype), rhos)  # [T, B]
  pg_advantages = pg_rhos * (rewards + discounts * vs_t_plus_1 - values)  # [T, B]
  return VTraceReturns(vs=vs, pg_advantages=pg_advantages)
