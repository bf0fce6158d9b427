"""Tests of the policy and critic networks (tiny sizes; the real ones run in benchmarks)."""
import collections
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import spiral_tf  # noqa: F401  (selects Keras 2 before TensorFlow loads)
import tensorflow as tf
from tf_agents.specs import array_spec

from spiral_tf import config as config_lib
from spiral_tf.agents import critic as critic_lib
from spiral_tf.agents import export as export_lib
from spiral_tf.agents import layers as layers_lib
from spiral_tf.agents import policy as policy_lib
from spiral_tf.envs import action_rules
from spiral_tf.envs import specs

CANVAS = 16
GRID = 8
TINY = dict(conv_channels=8, num_residual_blocks=1, residual_channels=8, torso_size=32,
            core_size=32, decoder_channels=8, decoder_residual_blocks=1, embed_dim=4,
            conditioning_hidden=(16, 8), head_mlp_hidden=(8, 16),
            spatial_components=("end", "control", "location"))
LIBMYPAINT_COUNTS = collections.OrderedDict(
    flag=2, end=GRID ** 2, control=GRID ** 2, size=6, pressure=10)
# MuJoCo Scenes: kind 0 add / 1 modify last / 2 skip; location on a 16x16 grid.
MUJOCO_COUNTS = collections.OrderedDict(
    kind=3, type=4, location=256, size=3, red=4, green=4, blue=4)
# The environments' rules (after a move only flag and end matter; after a skip only kind).
LIBMYPAINT_RULES = action_rules.ActionRules(tuple(LIBMYPAINT_COUNTS), "flag", 0, ("flag", "end"),
                                            ("end", "control"), True)
MUJOCO_RULES = action_rules.ActionRules(tuple(MUJOCO_COUNTS), "kind", 2, ("kind",),
                                        ("location",), False)


def make_specs(counts=LIBMYPAINT_COUNTS, conditional=False, channels=1):
  """Observation and action specs shaped like the environments' (tiny canvas)."""
  action_spec = collections.OrderedDict(
      (name, specs.discrete_spec(name, n)) for name, n in counts.items())
  k = len(counts)
  image = array_spec.BoundedArraySpec((CANVAS, CANVAS, channels), np.float32, 0.0, 1.0)
  observation_spec = collections.OrderedDict(
      canvas=image,
      action_mask=array_spec.BoundedArraySpec((k,), np.float32, 0.0, 1.0),
      prev_action=array_spec.BoundedArraySpec((k,), np.int32, 0, max(counts.values()) - 1),
      step=array_spec.BoundedArraySpec((), np.int32, 0, 20))
  if conditional:
    observation_spec["target"] = image
  return observation_spec, action_spec


def tiny_policy(counts=LIBMYPAINT_COUNTS, conditional=False, **kwargs):
  observation_spec, action_spec = make_specs(counts, conditional)
  return policy_lib.PolicyNetwork(observation_spec, action_spec, **{**TINY, **kwargs})


def random_observation(policy, rng, batch, step=1, mask_all=True):
  """A batch of plausible observations: random canvases and previous actions."""
  counts = [policy.num_values[c] for c in policy.components]
  obs = dict(
      canvas=rng.random((batch, CANVAS, CANVAS, 1), np.float32),
      action_mask=np.ones((batch, len(counts)), np.float32) if mask_all
      else rng.integers(0, 2, (batch, len(counts))).astype(np.float32),
      prev_action=np.stack([rng.integers(0, n, batch) for n in counts], -1).astype(np.int32),
      step=np.full([batch], step, np.int32))
  if policy.conditional:
    obs["target"] = rng.random((batch, CANVAS, CANVAS, 1), np.float32)
  return obs


def greedy_outputs(policy, obs, noise):
  out, state = policy.step(obs, policy.initial_state(len(obs["step"])), noise, greedy=True)
  return tf.nest.map_structure(np.asarray, (out, state))


def assert_nested_equal(a, b):
  tf.nest.map_structure(np.testing.assert_array_equal, a, b)


def test_policy_output_shapes_smoke():
  policy = tiny_policy()
  rng = np.random.default_rng(0)
  obs = random_observation(policy, rng, batch=3)
  out, (h, c) = policy.step(obs, policy.initial_state(3), policy.sample_noise(3))
  assert set(out.actions) == set(policy.components) == set(out.log_probs)
  for comp in policy.components:
    assert out.actions[comp].shape == (3,) and out.actions[comp].dtype == tf.int32
    assert out.log_probs[comp].shape == out.entropies[comp].shape == (3,)
  assert out.baseline.shape == (3,) and h.shape == c.shape == (3, TINY["core_size"])
  obs_tb = {k: np.stack([v, v]) for k, v in obs.items()}
  acts = {k: np.stack([v, v]) for k, v in out.actions.items()}
  unrolled = policy.unroll(obs_tb, acts, policy.initial_state(3), policy.sample_noise(3))
  assert all(v.shape == (2, 3) for v in tf.nest.flatten(unrolled))
  assert policy.noise_dim == 10 and tiny_policy(conditional=True).noise_dim == 0


@pytest.mark.parametrize("greedy", [False, True])
def test_actions_stay_within_spec_ranges(greedy):
  policy = tiny_policy()
  obs = random_observation(policy, np.random.default_rng(1), batch=64)
  out, _ = policy.step(obs, policy.initial_state(64), policy.sample_noise(64), greedy=greedy)
  for comp in policy.components:
    values = out.actions[comp].numpy()
    assert values.min() >= 0 and values.max() < policy.num_values[comp], comp
  assert np.all(np.isfinite(sum(v.numpy() for v in out.log_probs.values())))


@pytest.mark.parametrize("spatial_head", ["conv", "dense"])
def test_heads_run_in_spec_order_and_condition_on_earlier_components(spatial_head):
  policy = tiny_policy(spatial_head=spatial_head)
  rng = np.random.default_rng(2)
  obs = {k: v[None] for k, v in random_observation(policy, rng, batch=4).items()}  # T = 1
  noise = policy.sample_noise(4, seed=[0, 1])
  actions = {c: rng.integers(0, policy.num_values[c], (1, 4)).astype(np.int32)
             for c in policy.components}
  base = policy.unroll(obs, actions, policy.initial_state(4), noise).log_probs
  for i, forced in enumerate(policy.components):
    changed = dict(actions, **{forced: (actions[forced] + 1) % policy.num_values[forced]})
    log_probs = policy.unroll(obs, changed, policy.initial_state(4), noise).log_probs
    for earlier in policy.components[:i]:  # sampled before: unaffected
      np.testing.assert_array_equal(log_probs[earlier], base[earlier], err_msg=earlier)
    for later in policy.components[i + 1:]:  # sampled after: conditioned on it
      assert np.abs(log_probs[later] - base[later]).max() > 1e-7, (forced, later)


@pytest.mark.parametrize("spatial_head", ["conv", "dense"])
def test_with_heads_layer_norm_the_scale_of_the_latent_no_longer_sets_the_heads_temperature(
    spatial_head):
  # The collapse to never painting (RESULTS.md, Stability): the heads read a
  # ReLU residual latent z whose scale swung 3-5x within a hundred updates,
  # taking every spatial head from one stroke everywhere to uniform noise.
  free = tiny_policy(spatial_head=spatial_head)._heads
  normed = tiny_policy(spatial_head=spatial_head, heads_layer_norm=True)._heads
  z = 4.0 * tf.nn.relu(tf.random.stateless_normal([6, free._z_dim], [3, 4]))  # LN eps aside
  for comp in free.components:
    bias = free._logits(comp, tf.zeros_like(z))
    if spatial_head == "dense" or comp not in free.grid_sizes:  # a Dense layer: linear in z
      np.testing.assert_allclose(free._logits(comp, 3.0 * z) - bias,
                                 3.0 * (free._logits(comp, z) - bias), rtol=1e-4, atol=1e-4,
                                 err_msg=f"{comp}: without the norm, 3z triples the logits")
    else:  # the conv decoder: not linear, but the scale still moves the logits
      assert np.abs(free._logits(comp, 3.0 * z) - free._logits(comp, z)).max() > 1e-2, comp
    # Keras' LayerNormalization adds epsilon 1e-3 to the variance, so 3z and z
    # normalise alike up to ~1e-3 of a logit (the free heads move by whole units).
    np.testing.assert_allclose(normed._logits(comp, 3.0 * z), normed._logits(comp, z),
                               rtol=1e-3, atol=2e-3, err_msg=f"{comp}: with it, no change")


@pytest.mark.parametrize("noise_inputs", [("torso",), ("torso", "core", "heads")])
def test_unroll_log_probs_equal_those_of_step_when_sampling_the_same_actions(noise_inputs):
  policy = tiny_policy(noise_inputs=noise_inputs)
  rng = np.random.default_rng(3)
  batch, steps = 3, [0, 1, 2, 0]  # the episode restarts at t = 3: the LSTM must reset
  noise = policy.sample_noise(batch, seed=[4, 5])
  state = policy.initial_state(batch)
  prev = np.zeros((batch, len(policy.components)), np.int32)
  mask = np.zeros_like(prev, np.float32)
  trajectory = []
  for t, step in enumerate(steps):
    if step == 0:
      prev, mask = np.zeros_like(prev), np.zeros_like(mask)
    obs = dict(canvas=rng.random((batch, CANVAS, CANVAS, 1), np.float32), action_mask=mask,
               prev_action=prev, step=np.full([batch], step, np.int32))
    out, state = policy.step(obs, state, noise, seed=tf.constant([t, 7]))
    trajectory.append((obs, out))
    prev = np.stack([out.actions[c] for c in policy.components], -1)
    mask = LIBMYPAINT_RULES.masks(out.actions).numpy()
  observations = tf.nest.map_structure(lambda *x: np.stack(x), *[o for o, _ in trajectory])
  sampled = tf.nest.map_structure(lambda *x: np.stack(x), *[o for _, o in trajectory])
  unrolled, final_state = policy.unroll(observations, sampled.actions,
                                        policy.initial_state(batch), noise, return_state=True)
  for field in ("log_probs", "entropies", "baseline"):
    tf.nest.map_structure(lambda a, b: np.testing.assert_allclose(a, b, atol=1e-5, rtol=1e-5),
                          getattr(unrolled, field), getattr(sampled, field))
  tf.nest.map_structure(lambda a, b: np.testing.assert_allclose(a, b, atol=1e-5),
                        final_state, state)


def test_masked_previous_action_components_have_no_effect():
  policy = tiny_policy()
  rng = np.random.default_rng(4)
  obs = random_observation(policy, rng, batch=4)
  noise = policy.sample_noise(4, seed=[1, 1])
  obs["action_mask"] = LIBMYPAINT_RULES.masks(
      {"flag": np.zeros(4, np.int32)}).numpy()  # after a move
  other = dict(obs, prev_action=obs["prev_action"].copy())
  other["prev_action"][:, 2:] = (other["prev_action"][:, 2:] + 1) % 6  # control, size, pressure
  assert_nested_equal(greedy_outputs(policy, obs, noise), greedy_outputs(policy, other, noise))
  obs["action_mask"][:] = 1.0  # after a paint the same change matters
  other["action_mask"][:] = 1.0
  assert not np.allclose(greedy_outputs(policy, obs, noise)[0].baseline,
                         greedy_outputs(policy, other, noise)[0].baseline)


def test_action_masks_follow_the_move_and_skip_rules():
  masks = LIBMYPAINT_RULES.masks({"flag": np.array([[0, 1]])})
  np.testing.assert_array_equal(masks, [[[1, 1, 0, 0, 0], [1, 1, 1, 1, 1]]])
  masks = MUJOCO_RULES.masks({"kind": np.array([2, 0, 1])})
  np.testing.assert_array_equal(masks[:, :3], [[1, 0, 0], [1, 1, 1], [1, 1, 1]])
  np.testing.assert_array_equal(MUJOCO_RULES.acted({"kind": np.array([2, 0, 1])}), [0, 1, 1])
  programs = [[{"flag": 1}, {"flag": 0}, {"flag": 1}], [{"flag": 0}]]
  np.testing.assert_array_equal(LIBMYPAINT_RULES.strokes_per_program(programs), [2, 0])


def test_blind_policy_ignores_the_canvas_and_sighted_policy_does_not():
  rng = np.random.default_rng(5)
  for blind in (True, False):
    policy = tiny_policy(blind=blind)
    obs = random_observation(policy, rng, batch=4)
    other = dict(obs, canvas=rng.random(obs["canvas"].shape, np.float32))
    noise = policy.sample_noise(4, seed=[2, 2])
    first, second = greedy_outputs(policy, obs, noise), greedy_outputs(policy, other, noise)
    if blind:
      assert_nested_equal(first, second)
    else:
      assert not np.allclose(first[0].baseline, second[0].baseline)


def test_conditional_policy_depends_on_the_target():
  policy = tiny_policy(conditional=True)
  rng = np.random.default_rng(6)
  obs = random_observation(policy, rng, batch=4)
  other = dict(obs, target=rng.random(obs["target"].shape, np.float32))
  first, second = greedy_outputs(policy, obs, None), greedy_outputs(policy, other, None)
  assert not np.allclose(first[0].baseline, second[0].baseline)
  blind = tiny_policy(conditional=True, blind=True)  # blind still sees the target
  assert not np.allclose(greedy_outputs(blind, obs, None)[0].baseline,
                         greedy_outputs(blind, other, None)[0].baseline)


@pytest.mark.parametrize("place", ["torso", "core", "heads"])
def test_noise_reaches_the_action_logits_through_each_input_place_alone(place):
  policy = tiny_policy(noise_inputs=(place,))
  layers = {"torso": policy._noise_mlp, "core": policy._noise_core_mlp,
            "heads": policy._noise_heads}
  assert [p for p, layer in layers.items() if layer is not None] == [place]
  obs = random_observation(policy, np.random.default_rng(8), batch=4)
  actions = {c: np.zeros((1, 4), np.int32) for c in policy.components}
  batched = {k: v[None] for k, v in obs.items()}
  log_probs = [policy.unroll(batched, actions, policy.initial_state(4),
                             policy.sample_noise(4, seed=[s, 1])).log_probs
               for s in (1, 2)]
  for comp in policy.components:  # every head, even the first, sees the noise
    assert not np.allclose(log_probs[0][comp], log_probs[1][comp]), comp


def test_noise_inputs_are_checked_by_the_network_and_the_config():
  with pytest.raises(ValueError, match="noise_inputs must be a non-empty subset"):
    tiny_policy(noise_inputs=("core", "lstm"))
  with pytest.raises(ValueError, match="noise_inputs must be a non-empty subset"):
    tiny_policy(noise_inputs=())
  with pytest.raises(config_lib.ConfigError, match="policy.noise_inputs"):
    config_lib.from_dict({"policy": {"noise_inputs": ["torso", "lstm"]}})
  assert tiny_policy(conditional=True, noise_inputs=("heads",)).noise_dim == 0


def test_unconditional_policy_without_noise_raises():
  policy = tiny_policy()
  with pytest.raises(ValueError, match="noise"):
    policy.step(random_observation(policy, np.random.default_rng(0), 2), policy.initial_state(2))


def test_non_square_spatial_component_raises_naming_it():
  observation_spec, action_spec = make_specs(collections.OrderedDict(flag=2, end=60))
  with pytest.raises(ValueError, match="'end'"):
    policy_lib.PolicyNetwork(observation_spec, action_spec, **TINY)


def test_mujoco_like_spec_samples_location_from_a_16x16_map_and_embeds_it_as_coordinates():
  policy = tiny_policy(MUJOCO_COUNTS)
  assert policy.grid_sizes == {"location": 16}
  obs = random_observation(policy, np.random.default_rng(7), batch=8)
  noise, seed = policy.sample_noise(8, seed=[1, 1]), tf.constant([4, 2])
  actions, logits, _, _ = policy.act(obs, policy.initial_state(8), noise, seed=seed)
  assert logits["location"].shape == (8, 256)  # the conv head's 16x16 map, flattened
  # The heads sample component i with the i-th seed of the step's split.
  seeds = tf.random.experimental.stateless_split(seed, len(policy.components))
  location_seed = seeds[policy.components.index("location")]
  expected = tf.random.stateless_categorical(logits["location"], 1, location_seed,
                                             dtype=tf.int32)[:, 0]
  np.testing.assert_array_equal(actions["location"].numpy(), expected.numpy())
  greedy, greedy_logits, _, _ = policy.act(obs, policy.initial_state(8), noise, greedy=True)
  np.testing.assert_array_equal(greedy["location"].numpy(),
                                np.argmax(greedy_logits["location"].numpy(), -1))
  # A chosen location reaches the next head as its (row, col) in [-1, 1], row = index // 16.
  step = 2.0 / 15.0
  np.testing.assert_allclose(layers_lib.action_features(tf.constant([0, 17, 15, 255]), 256, 16),
                             [[-1.0, -1.0], [-1.0 + step, -1.0 + step], [-1.0, 1.0], [1.0, 1.0]],
                             atol=1e-6)


def test_sampling_with_a_seed_is_reproducible():
  policy = tiny_policy()
  obs = random_observation(policy, np.random.default_rng(8), batch=16)
  noise = policy.sample_noise(16, seed=[3, 3])
  runs = [policy.step(obs, policy.initial_state(16), noise, seed=tf.constant([9, 9]))[0].actions
          for _ in range(2)]
  assert_nested_equal(*tf.nest.map_structure(np.asarray, runs))


# Run in a subprocess: TensorFlow splits the CPU into two logical devices only
# before it initialises its devices, which this test process has long done.
TWO_CPU_MIRRORED = """
import json, sys
import spiral_tf
import numpy as np
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
sys.path.insert(0, sys.argv[1])
import test_networks as t

strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
with strategy.scope():
  policy = t.tiny_policy()
single = t.tiny_policy()  # one device, the same weights
single.set_weights(policy.get_weights())
obs = t.random_observation(policy, np.random.default_rng(9), batch=4)
noise = policy.sample_noise(4, seed=[1, 2])


def loss_and_grads(policy, obs, noise):
  # Sum over the batch, so the halves' sums add up to the whole batch's.
  batch = tf.shape(obs["step"])[0]
  with tf.GradientTape() as tape:
    out, state = policy.step(obs, policy.initial_state(batch), noise, greedy=True)
    twice = lambda d: tf.nest.map_structure(lambda x: tf.stack([x, x]), d)
    unrolled = policy.unroll(twice(obs), twice(out.actions), state, noise)
    loss = tf.reduce_sum(unrolled.baseline) + tf.add_n(
        [tf.reduce_sum(v) for v in unrolled.log_probs.values()])
  grads = tape.gradient(loss, policy.trainable_variables)
  return loss, [tf.zeros_like(v) if g is None else g
                for g, v in zip(grads, policy.trainable_variables)]


def replica_step(obs, noise):
  loss, grads = loss_and_grads(policy, obs, noise)
  context = tf.distribute.get_replica_context()
  return loss, context.all_reduce("sum", loss), context.all_reduce("sum", grads)


def half(value):  # rows [0, 2) to replica 0, [2, 4) to replica 1
  return strategy.experimental_distribute_values_from_function(
      lambda ctx: tf.nest.map_structure(
          lambda x: x[2 * ctx.replica_id_in_sync_group:2 * ctx.replica_id_in_sync_group + 2],
          value))


local, summed, grads = tf.function(lambda o, n: strategy.run(replica_step, args=(o, n)))(
    half(obs), half(noise))
one_loss, one_grads = tf.function(lambda o, n: loss_and_grads(single, o, n))(obs, noise)
grads = strategy.experimental_local_results(grads)[0]
print(json.dumps(dict(
    replicas=strategy.num_replicas_in_sync,
    devices=sorted(v.device for v in policy.trainable_variables[0].values),
    local_losses=[float(x) for x in strategy.experimental_local_results(local)],
    summed_loss=float(strategy.experimental_local_results(summed)[0]),
    one_device_loss=float(one_loss),
    grad_max_abs=max(float(tf.reduce_max(tf.abs(g))) for g in one_grads),
    grad_max_diff=max(float(tf.reduce_max(tf.abs(a - b))) for a, b in zip(grads, one_grads)))))
"""


@pytest.mark.subprocess
def test_a_two_cpu_mirrored_strategy_sums_the_replicas_gradients_to_the_one_device_ones():
  """step and unroll under tf.function on two logical CPUs, each half the batch: the
  cross-replica sums of loss and gradients equal one device's on the whole batch."""
  proc = subprocess.run([sys.executable, "-c", TWO_CPU_MIRRORED, os.path.dirname(__file__)],
                        capture_output=True, text=True, timeout=600)
  assert proc.returncode == 0, proc.stderr[-3000:]
  result = json.loads(proc.stdout.strip().splitlines()[-1])
  assert result["replicas"] == 2
  assert [d[-5:] for d in result["devices"]] == ["CPU:0", "CPU:1"], result["devices"]
  first, second = result["local_losses"]
  assert first != second, "each replica scored its own half of the batch"
  np.testing.assert_allclose(first + second, result["summed_loss"], rtol=1e-5)
  np.testing.assert_allclose(result["summed_loss"], result["one_device_loss"], rtol=1e-5)
  assert result["grad_max_abs"] > 0.0
  assert result["grad_max_diff"] <= 1e-5 * result["grad_max_abs"], result


def test_conditional_critic_scores_depend_on_the_target():
  rng = np.random.default_rng(10)
  images = rng.random((3, CANVAS, CANVAS, 1), np.float32)
  targets = rng.random((3, CANVAS, CANVAS, 1), np.float32)
  critic = critic_lib.Critic((CANVAS, CANVAS, 1), conditional=True, channels=(8, 16))
  scores = critic(images, targets).numpy()
  assert scores.shape == (3,)
  assert not np.allclose(scores, critic(images, 1.0 - targets).numpy())
  with pytest.raises(ValueError, match="targets"):
    critic(images)
  plain = critic_lib.Critic((CANVAS, CANVAS, 1), channels=(8, 16), layer_norm=True)
  assert plain(images).shape == (3,)
  with pytest.raises(ValueError, match="no targets"):
    plain(images, targets)


def test_checkpoint_restore_after_scrambling_gives_identical_outputs(tmp_path):
  policy = tiny_policy()
  critic = critic_lib.Critic((CANVAS, CANVAS, 1), channels=(8, 16))
  obs = random_observation(policy, np.random.default_rng(11), batch=4)
  noise = policy.sample_noise(4, seed=[5, 5])
  before = (greedy_outputs(policy, obs, noise), critic(obs["canvas"]).numpy())
  checkpoint = tf.train.Checkpoint(policy=policy, critic=critic)
  path = checkpoint.save(str(tmp_path / "ckpt"))
  for variable in policy.variables + critic.variables:
    variable.assign(tf.random.normal(variable.shape, stddev=0.5))
  assert not np.allclose(critic(obs["canvas"]).numpy(), before[1])
  checkpoint.restore(path).assert_consumed()
  after = (greedy_outputs(policy, obs, noise), critic(obs["canvas"]).numpy())
  assert_nested_equal(before, after)


@pytest.mark.slow
@pytest.mark.parametrize("conditional", [False, True])
def test_exported_step_is_greedy_with_zero_gumbel_noise_and_samples_with_it(tmp_path, conditional):
  policy = tiny_policy(conditional=conditional)
  obs = random_observation(policy, np.random.default_rng(12), batch=5)
  noise = policy.sample_noise(5, seed=[6, 6])
  path = str(tmp_path / "policy")
  agent = export_lib.ExportedAgent(policy, rules=None)
  export_lib.export_saved_model(agent, path)
  export_lib.export_saved_model(agent, path)  # replacing an export works
  loaded = tf.saved_model.load(path)
  assert sorted(loaded.signatures) == ["initial_state", "serving_default", "step"], "no paint"
  state = loaded.signatures["initial_state"](batch_size=tf.constant(5))
  inputs = dict(obs, **state)
  if noise is not None:
    inputs["noise"] = noise
  zeros = {f"gumbel_{c}": tf.zeros([5, policy.num_values[c]]) for c in policy.components}
  exported = loaded.signatures["step"](**{k: tf.convert_to_tensor(v) for k, v in inputs.items()},
                                       **zeros)
  expected, expected_state = greedy_outputs(policy, obs, noise)
  for c in policy.components:
    np.testing.assert_array_equal(exported[f"action_{c}"], expected.actions[c])
  np.testing.assert_allclose(exported["state_h"], expected_state[0], rtol=1e-6, atol=1e-6)
  # Huge noise on one value of every component picks that value.
  forced = {f"gumbel_{c}": tf.one_hot(tf.fill([5], 1), policy.num_values[c]) * 1e6
            for c in policy.components}
  sampled = loaded.signatures["step"](**{k: tf.convert_to_tensor(v) for k, v in inputs.items()},
                                      **forced)
  for c in policy.components:
    assert (sampled[f"action_{c}"].numpy() == 1).all()


@pytest.mark.parametrize("noise_inputs", [("torso",), ("torso", "core", "heads")])
def test_every_policy_variable_gets_a_gradient_from_an_unrolled_loss(noise_inputs):
  policy = tiny_policy(noise_inputs=noise_inputs)
  obs = {k: v[None] for k, v in random_observation(policy, np.random.default_rng(13), 4).items()}
  actions = {c: np.zeros((1, 4), np.int32) for c in policy.components}
  with tf.GradientTape() as tape:
    out = policy.unroll(obs, actions, policy.initial_state(4), policy.sample_noise(4))
    loss = -tf.reduce_sum(tf.add_n([out.log_probs[c] for c in policy.components]))
    loss += tf.reduce_sum(out.baseline ** 2)
  grads = tape.gradient(loss, policy.trainable_variables)
  missing = [v.name for v, g in zip(policy.trainable_variables, grads) if g is None]
  assert not missing
