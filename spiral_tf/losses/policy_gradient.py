"""The policy learner's loss: A2C (paper eq. 3) with V-trace targets.

Every loss is a mean over time and batch ([T, B]), so its size does not
depend on the unroll length or the batch size and learning rates carry over
between configurations. Components masked out of a step count as zeros in
that mean (they are not renormalised).
"""
from typing import Mapping, Optional, Tuple, Union

import tensorflow as tf

from spiral_tf.losses import vtrace as vtrace_lib


def policy_gradient_loss(log_probs, advantages):
  """-mean_{t,b} log pi(a_t | s_t) A_t (paper eq. 3); advantages are constants."""
  # log_probs: [T, B], advantages: [T, B]
  advantages = tf.stop_gradient(advantages)
  return -tf.reduce_mean(log_probs * advantages)


def baseline_loss(values, targets):
  """0.5 mean_{t,b} (targets - V)^2: regresses the baseline on its targets."""
  # values: [T, B], targets: [T, B] (V-trace v_s, or returns R_t on-policy).
  # 0.5 so that d(loss)/d(baseline) = advantage (IMPALA), here -(targets - V)
  # divided by T * B through the mean.
  return 0.5 * tf.reduce_mean(tf.square(tf.stop_gradient(targets) - values))


def entropy_loss(entropies):
  """-mean_{t,b} H(pi(. | s_t)): minimising it raises entropy (Mnih et al. 2016)."""
  # entropies: [T, B]
  return -tf.reduce_mean(entropies)


def _mask_dict(masks, components, dtype):
  """Masks as {component: [T, B]} from a dict, a [T, B, K] tensor or None (all 1)."""
  if masks is None:
    return {k: None for k in components}
  if isinstance(masks, Mapping):
    missing = [k for k in components if k not in masks]
    if missing:
      raise ValueError(f"masks lack component(s) {missing}; got {sorted(masks)}")
    return {k: tf.cast(masks[k], dtype) for k in components}
  masks = tf.cast(masks, dtype)  # [T, B, K], K in the order of `log_probs`
  if masks.shape[-1] is not None and masks.shape[-1] != len(components):
    raise ValueError(f"masks has {masks.shape[-1]} components on its last axis, "
                     f"expected {len(components)} ({list(components)})")
  return {k: masks[..., i] for i, k in enumerate(components)}


def _apply_mask(x, mask):
  """x where mask > 0, else 0 (a masked -inf log-prob must not become NaN)."""
  if mask is None:
    return x
  return tf.where(mask > 0, x * mask, tf.zeros_like(x))


def a2c_vtrace_loss(
    log_probs: Mapping[str, tf.Tensor],
    entropies: Mapping[str, tf.Tensor],
    rewards, discounts, values, bootstrap_value,
    *,
    masks: Union[None, Mapping[str, tf.Tensor], tf.Tensor] = None,
    behaviour_log_probs: Optional[tf.Tensor] = None,
    entropy_costs: Union[float, Mapping[str, float]] = 0.01,
    baseline_cost: float = 0.5,
    clip_rho_threshold: Optional[float] = 1.0,
    clip_pg_rho_threshold: Optional[float] = 1.0,
) -> Tuple[tf.Tensor, dict]:
  """Total A2C / V-trace loss of one batch of unrolls, and its terms.

  Args:
    log_probs: {component: [T, B]} log pi of each sampled action component
      under the learner's policy.
    entropies: {component: [T, B]} entropy of each component's distribution.
    rewards: [T, B]; discounts: [T, B] (0 at episode ends); values: [T, B];
      bootstrap_value: [B].
    masks: which components mattered for each sampled action (after a move
      only flag and end do, docs/design.md): {component: [T, B]} or [T, B, K] with
      K in the order of `log_probs`; None means all of them. Masked
      components add nothing to the log-prob and the entropy bonus.
    behaviour_log_probs: [T, B] the actors' log mu of the whole action,
      summed over components with the same masks; None = on-policy (A2C).
    entropy_costs: one cost for every component, or {component: cost} naming
      each one: the move/paint `flag` head needs a larger bonus (e.g. 0.2
      vs 0.01) or the agent collapses to never painting (docs/design.md).
    baseline_cost: weight of `baseline_loss` (IMPALA's default 0.5).
    clip_rho_threshold, clip_pg_rho_threshold: V-trace clipping (see vtrace).

  Returns:
    (loss scalar, terms) with terms 'pg', 'baseline' (unweighted),
    'entropy/<component>' (unweighted `entropy_loss`), 'entropy' (their
    weighted sum) and 'total', so that
    total = pg + baseline_cost * baseline + entropy.
  """
  components = list(log_probs)
  if set(entropies) != set(components):
    raise ValueError(f"entropies has components {sorted(entropies)}, log_probs "
                     f"has {sorted(components)}")
  if isinstance(entropy_costs, Mapping):
    missing = [k for k in components if k not in entropy_costs]
    if missing:
      raise ValueError(f"entropy_costs lacks component(s) {missing}; got "
                       f"{sorted(entropy_costs)}")
    costs = {k: float(entropy_costs[k]) for k in components}
  else:
    costs = {k: float(entropy_costs) for k in components}
  values = tf.convert_to_tensor(values)
  dtype = values.dtype
  mask = _mask_dict(masks, components, dtype)

  # log pi(a_t) of the whole action: the heads are autoregressive, so it is
  # the sum over the components that were used.
  target_log_probs = tf.add_n([
      _apply_mask(tf.convert_to_tensor(log_probs[k], dtype), mask[k])
      for k in components])  # [T, B]
  if behaviour_log_probs is None:
    behaviour_log_probs = tf.stop_gradient(target_log_probs)
  returns = vtrace_lib.vtrace(
      behaviour_log_probs, target_log_probs, rewards, discounts, values,
      bootstrap_value, clip_rho_threshold=clip_rho_threshold,
      clip_pg_rho_threshold=clip_pg_rho_threshold)

  terms = {
      "pg": policy_gradient_loss(target_log_probs, returns.pg_advantages),
      "baseline": baseline_loss(values, returns.vs),
      # Diagnostics: the largest advantage and the largest policy lag (log
      # pi/mu) of the batch, where a single outlier would hide in a mean.
      "advantage_abs_max": tf.reduce_max(tf.abs(returns.pg_advantages)),
      "log_rho_abs_max": tf.reduce_max(tf.abs(
          tf.stop_gradient(target_log_probs) - tf.cast(behaviour_log_probs, dtype))),
  }
  weighted_entropy = []
  for k in components:
    terms[f"entropy/{k}"] = entropy_loss(
        _apply_mask(tf.convert_to_tensor(entropies[k], dtype), mask[k]))
    weighted_entropy.append(costs[k] * terms[f"entropy/{k}"])
  terms["entropy"] = tf.add_n(weighted_entropy)
  terms["total"] = terms["pg"] + baseline_cost * terms["baseline"] + terms["entropy"]
  return terms["total"], terms
