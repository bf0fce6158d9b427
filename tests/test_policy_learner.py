"""The policy learner: rewards from the actors' renders, and its update across replicas."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
import tf_keras as keras

from spiral_tf.agents import acting
from spiral_tf.agents import policy as policy_lib
from spiral_tf.envs.libmypaint_env import LibMyPaintEnv
from spiral_tf.losses import rewards as rewards_lib
from spiral_tf.training import policy_learner as learner_lib

T, B, S = 3, 8, 16


def make_env():
  return LibMyPaintEnv(canvas_size=S, grid_size=8, episode_length=T, conditional=True,
                       use_pressure=False)


def make_learner(strategy=None, optimizer=None, **kwargs):
  """A tiny conditional painting policy's learner, built in ``strategy``'s scope."""
  strategy = strategy or tf.distribute.get_strategy()
  env = make_env()
  with strategy.scope():
    policy = policy_lib.PolicyNetwork(
        env.observation_spec(), env.action_spec(), conv_channels=4, num_residual_blocks=1,
        residual_channels=4, torso_size=8, core_size=8, spatial_head="dense",
        conditioning_hidden=(8, 4), head_mlp_hidden=(4, 8),
        spatial_components=env.action_rules.spatial_components)
    costs = {k: 0.01 for k in env.action_rules.components}
    learner = learner_lib.PolicyLearner(
        policy, optimizer or keras.optimizers.Adam(1e-3), strategy,
        score_fn=rewards_lib.l2_reward, rules=env.action_rules, entropy_costs=costs, **kwargs)
  env.close()
  return learner


def random_batch(learner, batch: int, seed: int) -> acting.ActorOutput:
  """A batch-major ActorOutput of random episodes for ``make_learner``'s policy."""
  rng = np.random.default_rng(seed)
  env = make_env()
  observation_spec = env.observation_spec()
  env.close()
  observations = {}
  for key, spec in observation_spec.items():
    shape = (batch, T) + tuple(spec.shape)
    if key == "step":
      observations[key] = np.broadcast_to(np.arange(T, dtype=np.int32), shape).copy()
    elif np.issubdtype(spec.dtype, np.floating):
      observations[key] = rng.uniform(size=shape).astype(np.float32)
    else:
      observations[key] = np.zeros(shape, spec.dtype)
  actions = {k: rng.integers(0, n, (batch, T)).astype(np.int32)
             for k, n in learner.policy.num_values.items()}
  return acting.ActorOutput(observations, actions, np.zeros((batch, T), np.float32),
                            rng.uniform(size=(batch, S, S, 1)).astype(np.float32),
                            np.zeros((batch, 0), np.float32), np.zeros([batch], np.int64))


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


# Two logical CPUs exist only if TensorFlow is told before it initialises its
# devices, which this test process has long done: a subprocess.
TWO_REPLICAS_CLIP = """
import json, sys
import spiral_tf
import numpy as np
import tensorflow as tf
import tf_keras as keras
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
sys.path.insert(0, sys.argv[1])
import test_policy_learner as t

MAX_NORM, LR = 1e-6, 1e4  # far below the gradient's norm: the clip decides the update
mirrored = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
keras.utils.set_random_seed(0)
two = t.make_learner(mirrored, keras.optimizers.SGD(LR), max_grad_norm=MAX_NORM)
one = t.make_learner(None, keras.optimizers.SGD(LR), max_grad_norm=MAX_NORM)
one.policy.set_weights(two.policy.get_weights())
start = [w.copy() for w in one.policy.get_weights()]
batch = tf.nest.map_structure(tf.convert_to_tensor, t.random_batch(one, 8, seed=5))
halves = mirrored.experimental_distribute_values_from_function(
    lambda ctx: tf.nest.map_structure(
        lambda x: x[4 * ctx.replica_id_in_sync_group:4 * ctx.replica_id_in_sync_group + 4],
        batch))
step = tf.constant(0, tf.int64)
two_terms = two.step(halves, step)
one_terms = one.step(batch, step)
moved = lambda p: np.sqrt(sum(np.sum((w - s) ** 2) for w, s in zip(p.get_weights(), start)))
print(json.dumps(dict(
    replicas=mirrored.num_replicas_in_sync,
    one_norm=float(one_terms["grad_norm"]), two_norm=float(two_terms["grad_norm"]),
    one_moved=float(moved(one.policy)), two_moved=float(moved(two.policy)),
    weight_diff=max(float(np.max(np.abs(a - b)))
                    for a, b in zip(one.policy.get_weights(), two.policy.get_weights())))))
"""


@pytest.mark.subprocess
def test_two_replicas_clip_the_whole_batchs_gradient_norm_as_one_device_does():
  """Two logical CPUs, half the batch each, plain SGD so the clip shows in the step: the
  update equals one device's on the whole batch, whose size the clip sets."""
  proc = subprocess.run([sys.executable, "-c", TWO_REPLICAS_CLIP, os.path.dirname(__file__)],
                        capture_output=True, text=True, timeout=600)
  assert proc.returncode == 0, proc.stderr[-3000:]
  result = json.loads(proc.stdout.strip().splitlines()[-1])
  assert result["replicas"] == 2
  assert result["one_norm"] > 50 * 1e-6, "the clip must be active for this test to mean anything"
  np.testing.assert_allclose(result["two_norm"], result["one_norm"], rtol=1e-4)
  # SGD moves the weights by the learning rate times the clipped norm, 1e4 * 1e-6;
  # clipping each replica's half before the sum would move them by another amount.
  np.testing.assert_allclose(result["one_moved"], 0.01, rtol=1e-3)
  np.testing.assert_allclose(result["two_moved"], 0.01, rtol=1e-3)
  assert result["weight_diff"] < 1e-6
