"""The policy learner: A2C with V-trace correction on batches of whole episodes.

Rewards are computed here, from the learner's current critic (or the l2
distance to the target), on the renders the actors sent: the final canvas
and, for potential-based shaping, every intermediate one.
"""
from typing import Dict, Mapping, Optional

import tensorflow as tf

from spiral_tf.agents import policy as policy_lib
from spiral_tf.losses import policy_gradient
from spiral_tf.losses import rewards as rewards_lib


def time_major(x):
  """[B, T, ...] -> [T, B, ...]."""
  perm = [1, 0] + list(range(2, x.shape.rank))
  return tf.transpose(x, perm)


class PolicyLearner:
  """Updates the policy from batches of Trajectory (batch-major [B, T, ...])."""

  def __init__(self, policy, optimizer, strategy, *,
               critic=None,
               reward: str = "l2",
               shaped_reward: bool = True,
               reward_scale: float = 1.0,
               reward_normalization: str = "none",
               new_stroke_penalty: float = 0.0,
               empty_canvas_penalty: float = 0.0,
               color_emd_weight: float = 0.0,
               discount: float = 1.0,
               baseline_cost: float = 0.5,
               entropy_costs: Mapping[str, float],
               max_grad_norm: float = 40.0,
               mask_rule: Optional[dict] = None):
    if reward == "critic" and critic is None:
      raise ValueError("reward='critic' needs a critic")
    if reward not in ("critic", "l2"):
      raise ValueError(f"reward must be 'critic' or 'l2', got {reward!r}")
    if reward_normalization not in ("none", "running"):
      raise ValueError(f"reward_normalization must be 'none' or 'running', got "
                       f"{reward_normalization!r}")
    self.policy, self.optimizer, self.strategy, self.critic = policy, optimizer, strategy, critic
    self.reward = reward
    # Shaping scores every intermediate canvas. The critic is trained on final
    # renders only (section 3.4), so its scores of half-painted canvases mean
    # nothing: with it, they swung the policy from painting everything to
    # nothing within a minute on MNIST. Shape the l2 reward only.
    self.shaped_reward = shaped_reward and reward == "l2"
    self.reward_scale = reward_scale
    self.normalize_rewards = reward_normalization == "running"
    # Running mean and second moment of episode returns (count 0 = not seen
    # yet). A critic's scores have no fixed scale and drift as it trains;
    # dividing rewards by the returns' running standard deviation keeps the
    # advantages O(1) against the entropy bonus. Not the RMS: on MNIST the
    # critic's scores sat near -12 +- 1, and dividing by the RMS shrank the
    # signal twelvefold, so the flag entropy bonus won and nothing was learnt.
    self.return_moments = tf.Variable([0.0, 0.0, 0.0], trainable=False, name="return_moments",
                                      aggregation=tf.VariableAggregation.MEAN)
    self.moment_decay = 0.99
    self.aux_weights = dict(new_strokes=new_stroke_penalty, empty_canvas=empty_canvas_penalty,
                            color_emd=color_emd_weight)
    self.discount = discount
    self.baseline_cost = baseline_cost
    self.entropy_costs = dict(entropy_costs)
    self.max_grad_norm = max_grad_norm
    self.mask_rule = dict(mask_rule or dict(flag="flag", move_value=0,
                                            move_components=("flag", "end")))
    # New disjoint strokes exist only where the "do nothing" action is a move.
    self.move_flag = self.mask_rule["flag"] if self.mask_rule["move_value"] == 0 else None
    self.components = policy.components

  def _score(self, canvases, targets):
    """Reward-to-be of canvases [N, S, S, C]: critic score or -l2 to target."""
    if self.reward == "critic":
      return self.critic(canvases, targets) if targets is not None else self.critic(canvases)
    return rewards_lib.l2_reward(canvases, targets)

  def compute_rewards(self, observations, actions, final_canvas):
    """Rewards [T, B] and summary terms; inputs time-major, final_canvas [B, ...]."""
    canvases = tf.concat([observations["canvas"], final_canvas[None]], 0)  # [T+1, B, S, S, C]
    t1, b = tf.shape(canvases)[0], tf.shape(canvases)[1]
    targets = observations.get("target")
    terms = {}
    if self.shaped_reward:
      flat = tf.reshape(canvases, tf.concat([[t1 * b], tf.shape(canvases)[2:]], 0))
      flat_targets = None
      if targets is not None:
        all_targets = tf.concat([targets, targets[-1:]], 0)  # [T+1, B, ...]
        flat_targets = tf.reshape(all_targets, tf.shape(flat))
      scores = tf.reshape(self._score(flat, flat_targets), [t1, b])  # [T+1, B]
      # Potential-based shaping: sum_t r_t = score(final) - score(blank).
      rewards = scores[1:] - scores[:-1]  # [T, B]
      final_score = scores[-1]
    else:
      final_score = self._score(final_canvas, None if targets is None else targets[-1])
      rewards = rewards_lib.final_step_rewards(final_score, tf.shape(canvases)[0] - 1)
    rewards *= self.reward_scale
    if self.normalize_rewards:
      returns = tf.reduce_sum(rewards, 0)  # [B]
      batch = tf.stack([1.0, tf.reduce_mean(returns), tf.reduce_mean(tf.square(returns))])
      decay = tf.where(self.return_moments[0] > 0.0, self.moment_decay, 0.0)
      moments = decay * self.return_moments + (1.0 - decay) * batch  # [count>0, mean, E[x^2]]
      self.return_moments.assign(moments)
      std = tf.sqrt(tf.maximum(moments[2] - tf.square(moments[1]), 0.0))
      rewards /= std + 1e-3
      terms["return_std"] = std
    terms["final_score"] = tf.reduce_mean(final_score)
    if targets is not None:
      terms["l2_to_target"] = tf.reduce_mean(rewards_lib.l2_distance(final_canvas, targets[-1]))
    aux = tf.zeros_like(rewards)
    if self.aux_weights["new_strokes"] and self.move_flag is not None:
      # Charged at the step that starts each new disjoint stroke.
      aux -= self.aux_weights["new_strokes"] * rewards_lib.new_strokes(actions[self.move_flag])
    last = tf.one_hot(tf.shape(rewards)[0] - 1, tf.shape(rewards)[0])[:, None]  # [T, 1]
    if self.aux_weights["empty_canvas"]:
      aux += last * rewards_lib.empty_canvas_penalty(final_canvas, self.aux_weights["empty_canvas"])
    if self.aux_weights["color_emd"] and targets is not None:
      aux -= last * self.aux_weights["color_emd"] * rewards_lib.color_histogram_emd(
          final_canvas, targets[-1])
    terms["aux_reward"] = tf.reduce_mean(tf.reduce_sum(aux, 0))
    return rewards + aux, terms

  def _replica_step(self, batch):
    observations = {k: time_major(v) for k, v in batch.observations.items()}
    actions = {k: time_major(v) for k, v in batch.actions.items()}
    behaviour = time_major(batch.behaviour_log_prob)  # [T, B]
    rewards, reward_terms = self.compute_rewards(observations, actions, batch.final_canvas)
    rewards = tf.stop_gradient(rewards)
    t, b = tf.shape(rewards)[0], tf.shape(rewards)[1]
    # The episode ends at T: no bootstrap, discount 0 after the last step.
    discounts = self.discount * tf.concat([tf.ones([t - 1, b]), tf.zeros([1, b])], 0)
    noise = batch.noise if self.policy.noise_dim else None
    masks = policy_lib.component_masks(actions, self.components, **self.mask_rule)  # [T, B, K]
    with tf.GradientTape() as tape:
      out = self.policy.unroll(observations, actions, self.policy.initial_state(b), noise)
      loss, terms = policy_gradient.a2c_vtrace_loss(
          {k: out.log_probs[k] for k in self.components},
          {k: out.entropies[k] for k in self.components},
          rewards, discounts, out.baseline, tf.zeros([b]),
          masks=masks, behaviour_log_probs=behaviour,
          entropy_costs={k: self.entropy_costs.get(k, self.entropy_costs.get("default", 0.01))
                         for k in self.components},
          baseline_cost=self.baseline_cost)
      replica_loss = loss / self.strategy.num_replicas_in_sync
    variables = self.policy.trainable_variables
    grads = tape.gradient(replica_loss, variables)
    grads, norm = tf.clip_by_global_norm(grads, self.max_grad_norm)
    self.optimizer.apply_gradients(zip(grads, variables))
    terms = dict(terms, **reward_terms)
    terms["grad_norm"] = norm
    terms["return"] = tf.reduce_mean(tf.reduce_sum(rewards, 0))
    # Fraction of steps that did something (painted, or added/changed an object).
    terms["paint_fraction"] = tf.reduce_mean(tf.cast(tf.not_equal(
        actions[self.mask_rule["flag"]], self.mask_rule["move_value"]), tf.float32))
    terms["flag_entropy"] = tf.reduce_mean(out.entropies[self.components[0]])
    return terms

  @tf.function
  def step(self, distributed_batch) -> Dict[str, tf.Tensor]:
    """One SGD step on a distributed batch; returns mean terms across replicas."""
    terms = self.strategy.run(self._replica_step, args=(distributed_batch,))
    return {k: self.strategy.reduce(tf.distribute.ReduceOp.MEAN, v, axis=None)
            for k, v in terms.items()}
