"""The learner's acting terms are named by what they measure in each environment.

Painting keeps ``paint_fraction`` and ``flag_entropy`` (the results pages cite
them); in MuJoCo Scenes the same terms measure adding or changing an object
and the ``kind`` head, and are named so.
"""
import importlib.util
import types

import numpy as np
import pytest
import tensorflow as tf
import tf_keras as keras

from spiral_tf.agents import acting
from spiral_tf.agents import policy as policy_lib
from spiral_tf.envs.libmypaint_env import LibMyPaintEnv
from spiral_tf.losses import rewards as rewards_lib
from spiral_tf.training import policy_learner as learner_lib
from spiral_tf.training import reporting
from spiral_tf.training import term_names

T, B, S = 2, 4, 16
POLICY = dict(conv_channels=4, num_residual_blocks=1, residual_channels=4, torso_size=8,
              core_size=8, spatial_head="dense", conditioning_hidden=(8, 4),
              head_mlp_hidden=(4, 8))
# mujoco must not be imported before spiral_tf.envs.mujoco_scenes chooses its GL
# backend (see tests/test_mujoco_scenes.py), hence no importorskip.
needs_mujoco = pytest.mark.skipif(importlib.util.find_spec("mujoco") is None,
                                  reason="mujoco is not installed (pip install spiral_tf[mujoco])")


def make_env(domain):
  if domain == "mujoco_scenes":
    from spiral_tf.envs import mujoco_scenes  # pylint: disable=g-import-not-at-top
    return mujoco_scenes.MujocoScenesEnv(image_size=S, episode_length=T, conditional=True)
  return LibMyPaintEnv(canvas_size=S, grid_size=8, episode_length=T, brush_sizes=(1.0,),
                       use_pressure=False, conditional=True)


DOMAINS = [("libmypaint", ("paint", "paint_fraction", "flag_entropy")),
           pytest.param("mujoco_scenes", ("act", "act_fraction", "kind_entropy"),
                        marks=needs_mujoco)]


@pytest.mark.parametrize("domain, names", DOMAINS)
def test_acting_terms_are_named_from_the_environments_action_rules(domain, names):
  env = make_env(domain)
  assert tuple(term_names.acting_term_names(env.action_rules)) == names
  env.close()


@pytest.mark.parametrize("domain, names", DOMAINS)
def test_progress_line_reads_the_acting_terms_under_the_environments_names(domain, names):
  env = make_env(domain)
  rules = env.action_rules
  env.close()
  lines = []
  # progress reads only these fields of the Reporter, whose evaluator is costly to build.
  reporter = types.SimpleNamespace(levels={}, rules=rules, log=lines.append)
  verb, acted, entropy = names
  reporting.Reporter.progress(reporter, 1.0, 3, 60, 10.0, {acted: 0.25, entropy: 0.5})
  assert f"| {verb} 0.25 |" in lines[0]
  assert f"| {rules.mask_component} entropy 0.50" in lines[0]


def random_batch(env, noise_dim, rng):
  """A batch-major ActorOutput of B random episodes of the environment's specs."""
  observations = {}
  for key, spec in env.observation_spec().items():
    shape = (B, T) + tuple(spec.shape)
    if key == "step":
      observations[key] = np.broadcast_to(np.arange(T, dtype=np.int32), shape).copy()
    elif np.issubdtype(spec.dtype, np.floating):
      observations[key] = rng.uniform(size=shape).astype(np.float32)
    else:
      observations[key] = np.zeros(shape, spec.dtype)
  actions = {k: rng.integers(0, int(s.maximum) + 1, (B, T)).astype(np.int32)
             for k, s in env.action_spec().items()}
  canvas = tuple(env.observation_spec()["canvas"].shape)
  return acting.ActorOutput(observations, actions, np.zeros((B, T), np.float32),
                            rng.uniform(size=(B,) + canvas).astype(np.float32),
                            np.zeros((B, noise_dim), np.float32), np.zeros([B], np.int64))


@pytest.mark.slow
@pytest.mark.parametrize("domain, names", DOMAINS)
def test_learner_step_reports_its_acting_terms_under_the_environments_names(domain, names):
  env = make_env(domain)
  rules = env.action_rules
  policy = policy_lib.PolicyNetwork(env.observation_spec(), env.action_spec(),
                                    spatial_components=rules.spatial_components, **POLICY)
  learner = learner_lib.PolicyLearner(
      policy, keras.optimizers.Adam(1e-3), tf.distribute.get_strategy(),
      score_fn=rewards_lib.l2_reward, rules=rules,
      entropy_costs={k: 0.01 for k in rules.components})
  batch = random_batch(env, policy.noise_dim, np.random.default_rng(0))
  env.close()
  terms = learner.step(tf.nest.map_structure(tf.convert_to_tensor, batch),
                       tf.constant(0, tf.int64))
  _, acted, entropy = names
  others = {"paint_fraction", "flag_entropy", "act_fraction", "kind_entropy"} - {acted, entropy}
  assert not others & set(terms), "a term under another environment's name"
  taken = batch.actions[rules.mask_component]
  np.testing.assert_allclose(float(terms[acted]), np.mean(taken != rules.no_op_value), rtol=1e-6)
  uniform = np.log(policy.num_values[rules.mask_component])  # the largest entropy possible
  assert 0.0 < float(terms[entropy]) <= uniform + 1e-5
