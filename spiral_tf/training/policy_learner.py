"""The policy learner: A2C with V-trace correction on batches of whole episodes.

Rewards are computed here, with the learner's current scoring function (the
critic, or -l2 to the target), on the renders the actors sent: the final
canvas and, for per-step credit, every intermediate one. The formulas live in
``losses/``; this class only applies them and the gradients.
"""
from typing import Callable, Dict, Mapping

import tensorflow as tf

from spiral_tf.agents import acting
from spiral_tf.losses import policy_gradient
from spiral_tf.losses import rewards as rewards_lib
from spiral_tf.training import term_names


def time_major(x):
  """[B, T, ...] -> [T, B, ...]."""
  perm = [1, 0] + list(range(2, x.shape.rank))
  return tf.transpose(x, perm)


class PolicyLearner:
  """Updates the policy from ActorOutput batches (batch-major [B, T, ...])."""

  def __init__(self, policy, optimizer, strategy, *,
               score_fn: Callable,
               rules,
               shaped_reward: bool = True,
               reward_scale: float = 1.0,
               normalize_rewards: bool = False,
               new_stroke_penalty: float = 0.0,
               empty_canvas_penalty: float = 0.0,
               color_emd_weight: float = 0.0,
               blank_canvas=1.0,
               discount: float = 1.0,
               baseline_cost: float = 0.5,
               entropy_costs: Mapping[str, float],
               max_grad_norm: float = 40.0):
    """Args:
      policy, optimizer, strategy: the network, its Keras optimizer and the
        tf.distribute strategy the learner runs under.
      score_fn: (canvases [N, S, S, C], targets [N, S, S, C] or None) -> [N]
        scores; rewards are built from the scores of the episode's canvases.
      rules: the environment's action_rules (masks, what counts as a stroke).
      shaped_reward: per-step score differences (losses.rewards.shaped_rewards)
        instead of the final score at the last step.
      reward_scale: multiplies the scores' rewards before normalisation.
      normalize_rewards: divide rewards by the running std of episode returns.
      new_stroke_penalty, empty_canvas_penalty, color_emd_weight: auxiliary
        rewards (losses.rewards.auxiliary_rewards).
      blank_canvas: the canvas an episode starts from (a value, [C] or
        [H, W, C]): what the empty-canvas penalty calls "nothing drawn".
        MuJoCo's empty platform is far from white, so a white background
        would never fire the penalty there.
      discount: gamma of V-trace.
      baseline_cost: weight of the value loss.
      entropy_costs: entropy bonus weight of every action component.
      max_grad_norm: global gradient-norm clip.
    """
    missing = [k for k in rules.components if k not in entropy_costs]
    if missing:
      raise ValueError(f"entropy_costs lacks component(s) {missing}")
    self.policy, self.optimizer, self.strategy = policy, optimizer, strategy
    self.score_fn = score_fn
    self.rules = rules
    self.term_names = term_names.acting_term_names(rules)  # paint_fraction, flag_entropy, ...
    self.shaped_reward = shaped_reward
    self.reward_scale = reward_scale
    self.normalize_rewards = normalize_rewards
    # Running mean and second moment of episode returns (count 0 = not seen
    # yet). A critic's scores have no fixed scale and drift as it trains;
    # dividing rewards by the returns' running standard deviation keeps the
    # advantages O(1) against the entropy bonus. Not the RMS: on MNIST the
    # critic's scores sat near -12 +- 1, and dividing by the RMS shrank the
    # signal twelvefold, so the flag entropy bonus won and nothing was learnt.
    self.return_moments = tf.Variable([0.0, 0.0, 0.0], trainable=False, name="return_moments",
                                      aggregation=tf.VariableAggregation.MEAN)
    self.moment_decay = 0.99
    # New disjoint strokes exist only in domains that draw strokes.
    self.aux_weights = dict(new_stroke_weight=new_stroke_penalty if rules.draws_strokes else 0.0,
                            empty_canvas_weight=empty_canvas_penalty,
                            color_emd_weight=color_emd_weight,
                            background=tf.constant(blank_canvas, tf.float32))
    self.discount = discount
    self.baseline_cost = baseline_cost
    self.entropy_costs = {k: float(entropy_costs[k]) for k in rules.components}
    self.max_grad_norm = max_grad_norm

  def _scores(self, canvases, targets):
    """score_fn over [T+1, B, ...] canvases (targets [B, ...] or None) -> [T+1, B]."""
    t1, b = tf.shape(canvases)[0], tf.shape(canvases)[1]
    flat = tf.reshape(canvases, tf.concat([[t1 * b], tf.shape(canvases)[2:]], 0))
    flat_targets = None
    if targets is not None:
      flat_targets = tf.reshape(tf.broadcast_to(targets[None], tf.shape(canvases)),
                                tf.shape(flat))
    return tf.reshape(self.score_fn(flat, flat_targets), [t1, b])

  def compute_rewards(self, observations, actions, final_canvas):
    """Rewards [T, B] and summary terms; inputs time-major, final_canvas [B, ...]."""
    canvases = tf.concat([observations["canvas"], final_canvas[None]], 0)  # [T+1, B, S, S, C]
    targets = observations["target"][-1] if "target" in observations else None  # [B, ...]
    terms = {}
    if self.shaped_reward:
      scores = self._scores(canvases, targets)  # [T+1, B]
      rewards = rewards_lib.shaped_rewards(scores)  # [T, B]
      final_score = scores[-1]
      terms["blank_score"] = tf.reduce_mean(scores[0])  # the score of the empty canvas
      if targets is not None:
        # What the reward says of the target itself over the empty canvas: a
        # yardstick of the scoring function that does not depend on the policy.
        terms["target_over_blank"] = tf.reduce_mean(
            tf.reshape(self.score_fn(targets, targets), [-1]) - scores[0])
    else:
      final_score = tf.reshape(self.score_fn(final_canvas, targets), [-1])  # [B]
      rewards = rewards_lib.final_step_rewards(final_score, tf.shape(canvases)[0] - 1)
    rewards *= self.reward_scale
    terms["batch_return_std"] = tf.math.reduce_std(tf.reduce_sum(rewards, 0))
    if self.normalize_rewards:
      moments = rewards_lib.update_return_moments(
          self.return_moments, tf.reduce_sum(rewards, 0), self.moment_decay)
      self.return_moments.assign(moments)
      std = rewards_lib.return_std(moments)
      rewards /= std + 1e-3
      terms["return_std"] = std
    terms["final_score"] = tf.reduce_mean(final_score)
    if targets is not None:
      terms["l2_to_target"] = tf.reduce_mean(rewards_lib.l2_distance(final_canvas, targets))
    aux = rewards_lib.auxiliary_rewards(self.rules.acted(actions), final_canvas, targets,
                                        **self.aux_weights)  # [T, B]
    terms["aux_reward"] = tf.reduce_mean(tf.reduce_sum(aux, 0))
    terms["reward_abs_max"] = tf.reduce_max(tf.abs(rewards))
    return rewards + aux, terms

  def _replica_step(self, batch: acting.ActorOutput, learner_step):
    observations = {k: time_major(v) for k, v in batch.observations.items()}
    actions = {k: time_major(v) for k, v in batch.actions.items()}
    behaviour = time_major(batch.behaviour_log_prob)  # [T, B]
    rewards, reward_terms = self.compute_rewards(observations, actions, batch.final_canvas)
    rewards = tf.stop_gradient(rewards)
    t, b = tf.shape(rewards)[0], tf.shape(rewards)[1]
    # The episode ends at T: no bootstrap, discount 0 after the last step.
    discounts = self.discount * tf.concat([tf.ones([t - 1, b]), tf.zeros([1, b])], 0)
    noise = batch.noise if self.policy.noise_dim else None
    masks = self.rules.masks(actions)  # [T, B, K]
    with tf.GradientTape() as tape:
      out = self.policy.unroll(observations, actions, self.policy.initial_state(b), noise)
      loss, terms = policy_gradient.a2c_vtrace_loss(
          {k: out.log_probs[k] for k in self.rules.components},
          {k: out.entropies[k] for k in self.rules.components},
          rewards, discounts, out.baseline, tf.zeros([b]),
          masks=masks, behaviour_log_probs=behaviour,
          entropy_costs=self.entropy_costs, baseline_cost=self.baseline_cost)
      replica_loss = loss / self.strategy.num_replicas_in_sync
    variables = self.policy.trainable_variables
    grads = tape.gradient(replica_loss, variables)
    grads, norm = summed_and_clipped(grads, self.max_grad_norm)
    before = [tf.identity(v) for v in variables]
    self.optimizer.apply_gradients(zip(grads, variables), skip_gradients_aggregation=True)
    terms = dict(terms, **reward_terms)
    # The largest change of one parameter in this update, in learning rates:
    # Adam's steps are ~1 learning rate; much more means its normalisation
    # met a gradient far larger than the ones it has averaged.
    lr = tf.cast(self.optimizer.learning_rate, tf.float32)
    terms["update_max_lr"] = tf.reduce_max(tf.stack(
        [tf.reduce_max(tf.abs(v - b)) for v, b in zip(variables, before)])) / lr
    terms["grad_norm"] = norm
    terms["return"] = tf.reduce_mean(tf.reduce_sum(rewards, 0))
    # Fraction of steps that did something (painted, or added/changed an object),
    # and the entropy of the head deciding it, under the environment's names.
    terms[self.term_names.acted_fraction] = tf.reduce_mean(self.rules.acted(actions))
    terms[self.term_names.mask_entropy] = tf.reduce_mean(
        out.entropies[self.rules.mask_component])
    first = {k: v[0] for k, v in observations.items()}
    terms.update(self.policy.core_input_stats(first, noise))  # noise: one per episode
    # The mask head's probability of acting, from the log-prob of the value taken.
    taken = tf.exp(out.log_probs[self.rules.mask_component])  # [T, B]
    acted = self.rules.acted(actions)
    act_prob = acted * taken + (1.0 - acted) * (1.0 - taken)
    terms["act_prob"] = tf.reduce_mean(act_prob)
    # Its spread over the batch's states: near 0 when the head no longer reads the state.
    terms["act_prob_spread"] = tf.math.reduce_std(act_prob)
    # Where the greedy policy would act (a two-valued mask head acts when p > 1/2).
    terms["greedy_act_fraction"] = tf.reduce_mean(tf.cast(act_prob > 0.5, tf.float32))
    # Learner updates between the weights that acted and these (V-trace corrects for it).
    terms["policy_lag"] = tf.reduce_mean(tf.cast(learner_step - batch.policy_version, tf.float32))
    return terms

  @tf.function
  def step(self, distributed_batch, learner_step) -> Dict[str, tf.Tensor]:
    """One SGD step on a distributed ActorOutput batch; returns mean terms across replicas."""
    terms = self.strategy.run(self._replica_step, args=(distributed_batch, learner_step))
    return {k: self.strategy.reduce(tf.distribute.ReduceOp.MEAN, v, axis=None)
            for k, v in terms.items()}


def summed_and_clipped(grads, max_norm: float):
  """The whole batch's gradients: the sum over replicas, then clipped by its global norm.

  Each replica's gradients are its part of the batch's (its loss is divided
  by the number of replicas). Clipping must see their sum: clipping each
  part first would bound another quantity, and with several devices change
  the update. Variables without a gradient keep None (the optimiser skips them).
  """
  present = [i for i, g in enumerate(grads) if g is not None]
  context = tf.distribute.get_replica_context()
  summed = context.all_reduce(tf.distribute.ReduceOp.SUM, [grads[i] for i in present])
  clipped, norm = tf.clip_by_global_norm(summed, max_norm)
  out = list(grads)
  for i, g in zip(present, clipped):
    out[i] = g
  return out, norm
