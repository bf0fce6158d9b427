"""Rewards as the policy learner computes them from the actors' renders."""
import numpy as np
import tensorflow as tf
import tf_keras as keras

from spiral_tf.agents import policy as policy_lib
from spiral_tf.envs.libmypaint_env import LibMyPaintEnv
from spiral_tf.losses import rewards as rewards_lib
from spiral_tf.training import policy_learner as learner_lib

T, B, S = 3, 8, 16


def make_learner(**kwargs):
  env = LibMyPaintEnv(canvas_size=S, grid_size=8, episode_length=T, conditional=True,
                      use_pressure=False)
  policy = policy_lib.PolicyNetwork(
      env.observation_spec(), env.action_spec(), conv_channels=4, num_residual_blocks=1,
      residual_channels=4, torso_size=8, core_size=8, spatial_head="dense",
      conditioning_hidden=(8, 4), head_mlp_hidden=(4, 8),
      spatial_components=env.action_rules.spatial_components)
  costs = {k: 0.01 for k in env.action_rules.components}
  return learner_lib.PolicyLearner(policy, keras.optimizers.Adam(1e-3), tf.distribute.get_strategy(),
                                   score_fn=rewards_lib.l2_reward, rules=env.action_rules,
                                   entropy_costs=costs, **kwargs)


def episode(seed):
  rng = np.random.default_rng(seed)
  canvases = rng.uniform(size=(T, B, S, S, 1)).astype(np.float32)
  targets = np.repeat(rng.uniform(size=(1, B, S, S, 1)).astype(np.float32), T, 0)
  final = rng.uniform(size=(B, S, S, 1)).astype(np.float32)
  flags = rng.integers(0, 2, size=(T, B)).astype(np.int32)
  return dict(canvas=canvases, target=targets), dict(flag=flags), final


def l2(a, b):
  return np.mean((a - b) ** 2, axis=(-3, -2, -1))


def test_shaped_l2_rewards_telescope_to_the_final_improvement_over_the_first_canvas():
  learner = make_learner(shaped_reward=True, reward_scale=10.0)
  obs, actions, final = episode(0)
  rewards, _ = learner.compute_rewards(obs, actions, final)
  expected = 10.0 * (l2(obs["canvas"][0], obs["target"][0]) - l2(final, obs["target"][0]))
  np.testing.assert_allclose(rewards.numpy().sum(0), expected, rtol=1e-4, atol=1e-6)
  step1 = 10.0 * (l2(obs["canvas"][0], obs["target"][0]) - l2(obs["canvas"][1], obs["target"][0]))
  np.testing.assert_allclose(rewards.numpy()[0], step1, rtol=1e-4, atol=1e-6)


def test_unshaped_reward_comes_only_at_the_last_step_with_stroke_penalties_where_strokes_start():
  learner = make_learner(shaped_reward=False, new_stroke_penalty=0.5)
  obs, actions, final = episode(1)
  rewards, _ = learner.compute_rewards(obs, actions, final)
  flags = actions["flag"]
  new = flags * (1 - np.concatenate([np.zeros((1, B)), flags[:-1]], 0))
  expected = -0.5 * new
  expected[-1] += -l2(final, obs["target"][-1])
  np.testing.assert_allclose(rewards.numpy(), expected, rtol=1e-4, atol=1e-6)


def test_running_normalisation_divides_by_the_std_of_returns_so_an_offset_does_not_shrink_them():
  learner = make_learner(shaped_reward=False, reward_scale=100.0,
                         normalize_rewards=True)
  obs, actions, final = episode(2)
  rewards, terms = learner.compute_rewards(obs, actions, final)
  raw = -100.0 * l2(final, obs["target"][-1])  # large negative offset, small spread
  np.testing.assert_allclose(float(terms["return_std"]), raw.std(), rtol=1e-3)
  np.testing.assert_allclose(rewards.numpy().sum(0), raw / raw.std(), rtol=1e-3)
  # Later batches move the statistics slowly (decay 0.99), not to the new batch's.
  obs2, actions2, final2 = episode(3)
  _, terms2 = learner.compute_rewards(obs2, actions2, final2)
  assert abs(float(terms2["return_std"]) - raw.std()) < 0.2 * raw.std()
