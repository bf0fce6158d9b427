"""V-trace, A2C and WGAN-GP against slow NumPy references in the papers' notation."""
import numpy as np
import pytest

import spiral_tf  # noqa: F401  (before TensorFlow: selects Keras 2)
import tensorflow as tf

from spiral_tf.losses import policy_gradient as pg_lib
from spiral_tf.losses import vtrace as vtrace_lib
from spiral_tf.losses import wgan_gp

T, B = 5, 3
COMPONENTS = ("flag", "end", "control", "size")


# ----------------------------------------------------------------- references

def vtrace_reference(log_mu, log_pi, r, gamma, v, v_boot, rho_bar=1.0, pg_rho_bar=1.0):
  """IMPALA eq. 1, summed term by term: v_s = V(x_s) + sum_t gamma^{t-s} (prod c) delta_t."""
  n, batch = r.shape
  rho = np.exp(log_pi - log_mu)
  rho_clip = rho if rho_bar is None else np.minimum(rho_bar, rho)
  pg_rho = rho if pg_rho_bar is None else np.minimum(pg_rho_bar, rho)
  c = np.minimum(1.0, rho)
  v_next = np.concatenate([v[1:], v_boot[None]], 0)
  vs = np.zeros_like(v)
  for b in range(batch):
    for s in range(n):
      total = v[s, b]
      for t in range(s, n):
        weight = 1.0
        for i in range(s, t):  # prod_{i=s}^{t-1} gamma_i c_i
          weight *= gamma[i, b] * c[i, b]
        delta_t = rho_clip[t, b] * (r[t, b] + gamma[t, b] * v_next[t, b] - v[t, b])
        total += weight * delta_t
      vs[s, b] = total
  adv = np.zeros_like(v)
  for b in range(batch):
    for s in range(n):
      vs_next = vs[s + 1, b] if s + 1 < n else v_boot[b]
      adv[s, b] = pg_rho[s, b] * (r[s, b] + gamma[s, b] * vs_next - v[s, b])
  return vs, adv


def discounted_returns_reference(r, gamma, v_boot):
  """R_t = r_t + gamma_t R_{t+1}, R_T = V(x_T): the on-policy n-step return."""
  n, batch = r.shape
  out = np.zeros_like(r)
  for b in range(batch):
    ret = v_boot[b]
    for t in reversed(range(n)):
      ret = r[t, b] + gamma[t, b] * ret
      out[t, b] = ret
  return out


def random_unroll(rng, spread=1.0):
  """Random [T, B] inputs with behaviour != target and some episode ends."""
  log_mu = rng.normal(-1.0, spread, (T, B)).astype(np.float32)
  log_pi = rng.normal(-1.0, spread, (T, B)).astype(np.float32)
  r = rng.normal(0.0, 1.0, (T, B)).astype(np.float32)
  gamma = np.where(rng.random((T, B)) < 0.2, 0.0, 0.9).astype(np.float32)
  v = rng.normal(0.0, 1.0, (T, B)).astype(np.float32)
  v_boot = rng.normal(0.0, 1.0, (B,)).astype(np.float32)
  return log_mu, log_pi, r, gamma, v, v_boot


# -------------------------------------------------------------------- V-trace

@pytest.mark.parametrize("rho_bar,pg_rho_bar", [(1.0, 1.0), (2.0, 0.5), (None, None)])
def test_vtrace_matches_impala_definition_off_policy(rho_bar, pg_rho_bar):
  rng = np.random.default_rng(0)
  inputs = random_unroll(rng, spread=1.5)  # wide spread: many rhos get clipped
  expected_vs, expected_adv = vtrace_reference(*inputs, rho_bar=rho_bar, pg_rho_bar=pg_rho_bar)
  out = vtrace_lib.vtrace(*inputs, clip_rho_threshold=rho_bar,
                          clip_pg_rho_threshold=pg_rho_bar)
  np.testing.assert_allclose(out.vs.numpy(), expected_vs, rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(out.pg_advantages.numpy(), expected_adv, rtol=1e-5, atol=1e-5)


def test_vtrace_on_policy_reduces_to_n_step_returns():
  rng = np.random.default_rng(1)
  _, log_pi, r, gamma, v, v_boot = random_unroll(rng)
  out = vtrace_lib.vtrace(log_pi, log_pi, r, gamma, v, v_boot)
  returns = discounted_returns_reference(r, gamma, v_boot)
  np.testing.assert_allclose(out.vs.numpy(), returns, rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(out.pg_advantages.numpy(), returns - v, rtol=1e-5, atol=1e-5)


def test_vtrace_on_policy_terminal_reward_gives_monte_carlo_return_paper_eq3():
  # SPIRAL's episode: reward only at t = N (eq. 4), no bootstrap past it.
  rng = np.random.default_rng(2)
  v = rng.normal(size=(T, B)).astype(np.float32)
  final = rng.normal(size=(B,)).astype(np.float32)
  r = np.zeros((T, B), np.float32)
  r[-1] = final
  gamma = np.ones((T, B), np.float32)
  gamma[-1] = 0.0
  log_pi = np.log(rng.uniform(0.1, 1.0, (T, B))).astype(np.float32)
  out = vtrace_lib.vtrace(log_pi, log_pi, r, gamma, v, np.full([B], 123.0, np.float32))
  np.testing.assert_allclose(out.vs.numpy(), np.broadcast_to(final, (T, B)), atol=1e-6)
  np.testing.assert_allclose(out.pg_advantages.numpy(), final[None] - v, atol=1e-6)


def test_vtrace_outputs_carry_no_gradient():
  inputs = [tf.constant(x) for x in random_unroll(np.random.default_rng(3))]
  with tf.GradientTape(persistent=True) as tape:
    tape.watch(inputs)
    out = vtrace_lib.vtrace(*inputs)
    total = tf.reduce_sum(out.vs) + tf.reduce_sum(out.pg_advantages)
  assert all(g is None for g in tape.gradient(total, inputs))


def test_vtrace_in_tf_function_matches_eager():
  inputs = random_unroll(np.random.default_rng(4), spread=1.5)
  eager = vtrace_lib.vtrace(*inputs)
  graph = tf.function(vtrace_lib.vtrace)(*inputs)
  np.testing.assert_allclose(graph.vs.numpy(), eager.vs.numpy(), rtol=1e-6)


# ------------------------------------------------------ policy-gradient terms

def test_policy_gradient_loss_gradient_is_minus_advantage_over_t_times_b():
  rng = np.random.default_rng(5)
  log_probs = tf.constant(rng.normal(size=(T, B)), tf.float32)
  adv = tf.constant(rng.normal(size=(T, B)), tf.float32)
  with tf.GradientTape(persistent=True) as tape:
    tape.watch([log_probs, adv])
    loss = pg_lib.policy_gradient_loss(log_probs, adv)
  np.testing.assert_allclose(loss.numpy(), -np.mean(log_probs.numpy() * adv.numpy()), rtol=1e-6)
  np.testing.assert_allclose(tape.gradient(loss, log_probs).numpy(), -adv.numpy() / (T * B),
                             rtol=1e-6)
  assert tape.gradient(loss, adv) is None  # advantages are constants


def test_baseline_loss_gradient_is_values_minus_targets_over_t_times_b():
  rng = np.random.default_rng(6)
  values = tf.constant(rng.normal(size=(T, B)), tf.float32)
  targets = tf.constant(rng.normal(size=(T, B)), tf.float32)
  with tf.GradientTape(persistent=True) as tape:
    tape.watch([values, targets])
    loss = pg_lib.baseline_loss(values, targets)
  diff = values.numpy() - targets.numpy()
  np.testing.assert_allclose(loss.numpy(), 0.5 * np.mean(diff ** 2), rtol=1e-6)
  np.testing.assert_allclose(tape.gradient(loss, values).numpy(), diff / (T * B), rtol=1e-5)
  assert tape.gradient(loss, targets) is None


def test_entropy_loss_is_negative_mean_entropy_so_minimising_raises_entropy():
  entropies = tf.constant(np.random.default_rng(7).uniform(0, 2, (T, B)), tf.float32)
  with tf.GradientTape() as tape:
    tape.watch(entropies)
    loss = pg_lib.entropy_loss(entropies)
  np.testing.assert_allclose(loss.numpy(), -entropies.numpy().mean(), rtol=1e-6)
  np.testing.assert_allclose(tape.gradient(loss, entropies).numpy(),
                             np.full((T, B), -1.0 / (T * B)), rtol=1e-6)


# ------------------------------------------------------------ a2c_vtrace_loss

def random_heads(rng):
  """Per-component log-probs, entropies and a move/paint mask, as NumPy."""
  log_probs = {k: np.log(rng.uniform(0.05, 1.0, (T, B))).astype(np.float32) for k in COMPONENTS}
  entropies = {k: rng.uniform(0.0, 3.0, (T, B)).astype(np.float32) for k in COMPONENTS}
  paint = rng.random((T, B)) < 0.5
  # After a move only flag and end matter (docs/design.md).
  masks = {k: (np.ones((T, B)) if k in ("flag", "end") else paint).astype(np.float32)
           for k in COMPONENTS}
  return log_probs, entropies, masks


def a2c_reference(log_probs, entropies, masks, log_mu, r, gamma, v, v_boot, costs,
                  baseline_cost):
  """Total loss in the paper's terms, with explicit sums over t and b."""
  log_pi = sum(masks[k] * log_probs[k] for k in COMPONENTS)
  vs, adv = vtrace_reference(log_mu, log_pi, r, gamma, v, v_boot)
  pg = -np.mean(log_pi * adv)
  baseline = 0.5 * np.mean((vs - v) ** 2)
  entropy = sum(costs[k] * -np.mean(masks[k] * entropies[k]) for k in COMPONENTS)
  return pg + baseline_cost * baseline + entropy, pg, baseline


COSTS = {"flag": 0.2, "end": 0.01, "control": 0.01, "size": 0.01}


def test_a2c_vtrace_loss_matches_reference_off_policy():
  rng = np.random.default_rng(8)
  log_probs, entropies, masks = random_heads(rng)
  log_mu, _, r, gamma, v, v_boot = random_unroll(rng)
  total, terms = pg_lib.a2c_vtrace_loss(
      log_probs, entropies, r, gamma, v, v_boot, masks=masks,
      behaviour_log_probs=log_mu, entropy_costs=COSTS, baseline_cost=0.5)
  expected, pg, baseline = a2c_reference(log_probs, entropies, masks, log_mu, r, gamma, v,
                                         v_boot, COSTS, 0.5)
  np.testing.assert_allclose(total.numpy(), expected, rtol=1e-5)
  np.testing.assert_allclose(terms["pg"].numpy(), pg, rtol=1e-5)
  np.testing.assert_allclose(terms["baseline"].numpy(), baseline, rtol=1e-5)
  np.testing.assert_allclose(terms["entropy/flag"].numpy(),
                             -np.mean(masks["flag"] * entropies["flag"]), rtol=1e-6)
  np.testing.assert_allclose(
      (terms["pg"] + 0.5 * terms["baseline"] + terms["entropy"]).numpy(), total.numpy(),
      rtol=1e-6)


def test_a2c_loss_masked_components_contribute_nothing():
  rng = np.random.default_rng(9)
  log_probs, entropies, masks = random_heads(rng)
  log_mu, _, r, gamma, v, v_boot = random_unroll(rng)
  tensors = {k: tf.constant(x) for k, x in log_probs.items()}
  ents = {k: tf.constant(x) for k, x in entropies.items()}
  with tf.GradientTape(persistent=True) as tape:
    tape.watch([tensors, ents])
    total, _ = pg_lib.a2c_vtrace_loss(tensors, ents, r, gamma, v, v_boot, masks=masks,
                                      behaviour_log_probs=log_mu, entropy_costs=COSTS)
  for k in ("control", "size"):
    masked = masks[k] == 0
    assert masked.any()
    assert np.all(tape.gradient(total, tensors[k]).numpy()[masked] == 0.0)
    assert np.all(tape.gradient(total, ents[k]).numpy()[masked] == 0.0)
  # Garbage (even -inf log-probs) where a component is masked changes nothing.
  garbage_lp = {k: np.where(masks[k] == 0, -np.inf, x).astype(np.float32)
                for k, x in log_probs.items()}
  garbage_ent = {k: np.where(masks[k] == 0, 1e6, x).astype(np.float32)
                 for k, x in entropies.items()}
  again, _ = pg_lib.a2c_vtrace_loss(garbage_lp, garbage_ent, r, gamma, v, v_boot, masks=masks,
                                    behaviour_log_probs=log_mu, entropy_costs=COSTS)
  np.testing.assert_allclose(again.numpy(), total.numpy(), rtol=1e-6)


def test_a2c_loss_entropy_gradient_weighs_each_component_by_its_cost():
  rng = np.random.default_rng(10)
  log_probs, entropies, masks = random_heads(rng)
  _, _, r, gamma, v, v_boot = random_unroll(rng)
  ents = {k: tf.constant(x) for k, x in entropies.items()}
  with tf.GradientTape() as tape:
    tape.watch(ents)
    total, _ = pg_lib.a2c_vtrace_loss(log_probs, ents, r, gamma, v, v_boot, masks=masks,
                                      entropy_costs=COSTS)
  grads = tape.gradient(total, ents)
  for k in COMPONENTS:
    np.testing.assert_allclose(grads[k].numpy(), -COSTS[k] * masks[k] / (T * B), rtol=1e-6)


def test_a2c_loss_on_policy_pg_gradient_is_minus_monte_carlo_advantage():
  # behaviour_log_probs=None: plain A2C (paper eq. 3), every component used.
  rng = np.random.default_rng(11)
  log_probs, entropies, _ = random_heads(rng)
  _, _, r, gamma, v, v_boot = random_unroll(rng)
  tensors = {k: tf.constant(x) for k, x in log_probs.items()}
  with tf.GradientTape() as tape:
    tape.watch(tensors)
    total, _ = pg_lib.a2c_vtrace_loss(tensors, entropies, r, gamma, v, v_boot,
                                      entropy_costs=0.0)
  grads = tape.gradient(total, tensors)
  advantage = discounted_returns_reference(r, gamma, v_boot) - v
  for k in COMPONENTS:
    np.testing.assert_allclose(grads[k].numpy(),
                               -advantage / (T * B), rtol=1e-4, atol=1e-6)


def test_a2c_loss_mask_tensor_in_log_probs_order_equals_mask_dict():
  rng = np.random.default_rng(12)
  log_probs, entropies, masks = random_heads(rng)
  log_mu, _, r, gamma, v, v_boot = random_unroll(rng)
  stacked = np.stack([masks[k] for k in COMPONENTS], axis=-1)  # [T, B, K]
  a, _ = pg_lib.a2c_vtrace_loss(log_probs, entropies, r, gamma, v, v_boot, masks=masks,
                                behaviour_log_probs=log_mu, entropy_costs=COSTS)
  b, _ = pg_lib.a2c_vtrace_loss(log_probs, entropies, r, gamma, v, v_boot, masks=stacked,
                                behaviour_log_probs=log_mu, entropy_costs=COSTS)
  np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-6)


def test_a2c_loss_entropy_costs_missing_a_component_raises_naming_it():
  rng = np.random.default_rng(13)
  log_probs, entropies, _ = random_heads(rng)
  _, _, r, gamma, v, v_boot = random_unroll(rng)
  with pytest.raises(ValueError, match="size"):
    pg_lib.a2c_vtrace_loss(log_probs, entropies, r, gamma, v, v_boot,
                           entropy_costs={"flag": 0.2, "end": 0.01, "control": 0.01})


# -------------------------------------------------------------------- WGAN-GP

def linear_critic(w, bias=0.0):
  """D(x) = <w, x> + bias per example."""
  w = tf.convert_to_tensor(w)
  return lambda x: tf.reduce_sum(x * w, axis=[1, 2, 3]) + bias


def test_gradient_penalty_is_exactly_zero_for_unit_norm_linear_critic():
  rng = np.random.default_rng(14)
  real, fake = (rng.uniform(size=(4, 2, 2, 1)).astype(np.float32) for _ in range(2))
  w = np.array([0.5, -0.5, 0.5, 0.5], np.float32).reshape(1, 2, 2, 1)  # ||w|| = 1 exactly
  assert wgan_gp.gradient_penalty(linear_critic(w), real, fake).numpy() == 0.0
  w = rng.normal(size=(1, 2, 2, 1)).astype(np.float32)
  w /= np.linalg.norm(w)
  assert wgan_gp.gradient_penalty(linear_critic(w), real, fake).numpy() < 1e-12


def test_gradient_penalty_of_linear_critic_is_squared_norm_gap_with_its_gradient():
  rng = np.random.default_rng(15)
  real, fake = (rng.uniform(size=(4, 3, 3, 2)).astype(np.float32) for _ in range(2))
  w = tf.Variable(rng.normal(size=(1, 3, 3, 2)).astype(np.float32))
  with tf.GradientTape() as tape:  # outer tape: the penalty's own gradient (second order)
    gp = wgan_gp.gradient_penalty(linear_critic(w), real, fake)
  norm = np.linalg.norm(w.numpy())
  np.testing.assert_allclose(gp.numpy(), (norm - 1.0) ** 2, rtol=1e-5)
  np.testing.assert_allclose(tape.gradient(gp, w).numpy(),
                             2.0 * (norm - 1.0) * w.numpy() / norm, rtol=1e-4)


def test_gradient_penalty_interpolates_per_example_like_wgan_gp():
  # D(x) = sum w tanh(x): grad = w (1 - tanh(x_hat)^2), a different norm per example.
  rng = np.random.default_rng(16)
  real, fake = (rng.normal(size=(3, 2, 2, 1)).astype(np.float32) for _ in range(2))
  w = rng.normal(size=(1, 2, 2, 1)).astype(np.float32)
  alpha = np.array([0.0, 0.3, 1.0], np.float32)
  critic = lambda x: tf.reduce_sum(w * tf.tanh(x), axis=[1, 2, 3])  # noqa: E731
  gp = wgan_gp.gradient_penalty(critic, real, fake, interpolation_alpha=alpha)
  penalties = []
  for i in range(3):
    x_hat = alpha[i] * real[i] + (1 - alpha[i]) * fake[i]
    grad = w[0] * (1 - np.tanh(x_hat) ** 2)
    penalties.append((np.sqrt(np.sum(grad ** 2)) - 1) ** 2)
  np.testing.assert_allclose(gp.numpy(), np.mean(penalties), rtol=1e-5)


def test_gradient_penalty_with_seed_is_reproducible():
  rng = np.random.default_rng(17)
  real, fake = (rng.normal(size=(4, 2, 2, 1)).astype(np.float32) for _ in range(2))
  critic = lambda x: tf.reduce_sum(tf.sin(x), axis=[1, 2, 3])  # noqa: E731
  a = wgan_gp.gradient_penalty(critic, real, fake, seed=[1, 2])
  b = wgan_gp.gradient_penalty(critic, real, fake, seed=[1, 2])
  c = wgan_gp.gradient_penalty(critic, real, fake, seed=[3, 4])
  assert a.numpy() == b.numpy() and a.numpy() != c.numpy()


def test_critic_loss_matches_paper_eq1_with_centering_term():
  rng = np.random.default_rng(18)
  real, fake = (rng.uniform(size=(4, 2, 2, 3)).astype(np.float32) for _ in range(2))
  w = rng.normal(size=(1, 2, 2, 3)).astype(np.float32)
  loss, terms = wgan_gp.critic_loss(linear_critic(w, bias=0.7), real, fake,
                                    gp_weight=10.0, centering_weight=0.1)
  d_real = (real * w).sum(axis=(1, 2, 3)) + 0.7
  d_fake = (fake * w).sum(axis=(1, 2, 3)) + 0.7
  gp = (np.linalg.norm(w) - 1.0) ** 2
  centering = np.mean(np.concatenate([d_real, d_fake])) ** 2  # equal halves of the mix
  expected = -d_real.mean() + d_fake.mean() + 10.0 * gp + 0.1 * centering
  np.testing.assert_allclose(loss.numpy(), expected, rtol=1e-5)
  np.testing.assert_allclose(terms["wasserstein"].numpy(), d_real.mean() - d_fake.mean(),
                             rtol=1e-5)
  np.testing.assert_allclose(terms["gradient_penalty"].numpy(), gp, rtol=1e-5)
  np.testing.assert_allclose(terms["centering"].numpy(), centering, rtol=1e-5)


def test_centering_term_is_zero_when_critic_mean_over_the_mix_is_zero():
  rng = np.random.default_rng(19)
  real, fake = (rng.uniform(size=(4, 2, 2, 1)).astype(np.float32) for _ in range(2))
  w = rng.normal(size=(1, 2, 2, 1)).astype(np.float32)
  bias = -0.5 * ((real * w).sum(axis=(1, 2, 3)).mean() + (fake * w).sum(axis=(1, 2, 3)).mean())
  _, terms = wgan_gp.critic_loss(linear_critic(w, bias=bias), real, fake)
  assert abs(terms["centering"].numpy()) < 1e-12
  # ... and its gradient moves only the constant: the output bias gets no
  # gradient from the Wasserstein and penalty terms.
  b = tf.Variable(1.5)
  with tf.GradientTape() as tape:
    _, t = wgan_gp.critic_loss(linear_critic(w, bias=b), real, fake)
    other = -t["wasserstein"] + 10.0 * t["gradient_penalty"]
  assert abs(tape.gradient(other, b).numpy()) < 1e-6


def test_conditional_critic_penalises_gradient_wrt_image_only():
  rng = np.random.default_rng(20)
  target, fake = (rng.uniform(size=(4, 2, 2, 1)).astype(np.float32) for _ in range(2))
  w = np.array([0.5, -0.5, 0.5, 0.5], np.float32).reshape(1, 2, 2, 1)  # unit norm
  u = 3.0 * rng.normal(size=(1, 2, 2, 1)).astype(np.float32)  # large, but not penalised

  def critic(images, condition):
    return tf.reduce_sum(images * w + condition * u, axis=[1, 2, 3])

  # p_d is a Dirac at the target (eq. 6): real = condition = target.
  _, terms = wgan_gp.critic_loss(critic, target, fake, condition=target)
  assert terms["gradient_penalty"].numpy() == 0.0
  expected_real = (target * w + target * u).sum(axis=(1, 2, 3)).mean()
  np.testing.assert_allclose(terms["real_score"].numpy(), expected_real, rtol=1e-5)


def test_conditional_critic_loss_scores_each_batch_against_its_own_targets_paper_eq6():
  rng = np.random.default_rng(21)
  real, fake, fake_targets = (rng.uniform(size=(4, 2, 2, 1)).astype(np.float32) for _ in range(3))
  w = rng.normal(size=(1, 2, 2, 1)).astype(np.float32)
  u = rng.normal(size=(1, 2, 2, 1)).astype(np.float32)

  def critic(images, condition):  # linear in the image and in the condition
    return tf.reduce_sum(images * w + condition * u, axis=[1, 2, 3]) + 0.3

  loss, terms = wgan_gp.conditional_critic_loss(critic, real, fake, fake_targets,
                                                gp_weight=10.0, centering_weight=0.1)
  d_real = (real * w + real * u).sum(axis=(1, 2, 3)) + 0.3             # the pair (x, x)
  d_fake = (fake * w + fake_targets * u).sum(axis=(1, 2, 3)) + 0.3     # (render, its target)
  gp = (np.linalg.norm(w) - 1.0) ** 2  # the gradient wrt the image is w everywhere
  centering = (0.5 * d_real.mean() + 0.5 * d_fake.mean()) ** 2
  expected = -d_real.mean() + d_fake.mean() + 10.0 * gp + 0.1 * centering
  np.testing.assert_allclose(loss.numpy(), expected, rtol=1e-5)
  np.testing.assert_allclose(terms["fake_score"].numpy(), d_fake.mean(), rtol=1e-5)
  np.testing.assert_allclose(terms["gradient_penalty"].numpy(), gp, rtol=1e-5)
