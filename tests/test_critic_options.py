"""The adversarial reward's options: critic losses, complement inputs, fakes, slow copy, warm-up."""
import numpy as np
import pytest

import spiral_tf  # noqa: F401  (selects Keras 2 before TensorFlow loads)
import tensorflow as tf
import tf_keras as keras

from spiral_tf import config as config_lib
from spiral_tf.agents import acting
from spiral_tf.agents import critic as critic_lib
from spiral_tf.losses import complement
from spiral_tf.losses import nonsaturating_gan
from spiral_tf.training import builder
from spiral_tf.training import critic_learner as critic_learner_lib
from spiral_tf.training import replay as replay_lib

import test_training


def softplus(x):
  return np.log1p(np.exp(x))


def test_non_saturating_loss_matches_the_cross_entropy_reference():
  rng = np.random.default_rng(0)
  real, fake = rng.normal(size=(2, 8, 4, 4, 1)).astype(np.float32)
  w = rng.normal(size=(16,)).astype(np.float32)
  critic = lambda x: tf.reshape(x, [-1, 16]) @ w[:, None]  # a linear logit
  loss, terms = nonsaturating_gan.critic_loss(critic, real, fake)
  real_logits, fake_logits = real.reshape(8, 16) @ w, fake.reshape(8, 16) @ w
  # -log sigmoid(D(real)) - log(1 - sigmoid(D(fake))), written out.
  expected = np.mean(-np.log(1 / (1 + np.exp(-real_logits)))) + \
      np.mean(-np.log(1 - 1 / (1 + np.exp(-fake_logits))))
  np.testing.assert_allclose(float(loss), expected, rtol=1e-5)
  np.testing.assert_allclose(float(terms["real_loss"]), np.mean(softplus(-real_logits)), rtol=1e-5)


def test_conditional_non_saturating_loss_scores_real_pairs_against_themselves():
  seen = []

  def critic(images, targets):
    seen.append(np.array_equal(images.numpy(), targets.numpy()))
    return tf.zeros([tf.shape(images)[0]])

  x = tf.random.uniform((3, 4, 4, 1))
  loss, _ = nonsaturating_gan.conditional_critic_loss(critic, x, 1.0 - x, x)
  assert seen == [True, False]
  np.testing.assert_allclose(float(loss), 2 * np.log(2.0), rtol=1e-6)


def test_half_masks_match_a_numpy_reference():
  size = 6
  masks = complement.half_masks([0, 1, 2, 3], size).numpy()[..., 0]
  ref = np.zeros((4, size, size))
  ref[0, :, :3] = 1  # left
  ref[1, :, 3:] = 1  # right
  ref[2, :3, :] = 1  # top
  ref[3, 3:, :] = 1  # bottom
  np.testing.assert_array_equal(masks, ref)


def test_complement_critic_sees_one_half_of_the_image_and_the_other_half_of_the_target():
  images = np.full((2, 4, 4, 1), 0.25, np.float32)
  targets = np.full((2, 4, 4, 1), 0.75, np.float32)
  masks = complement.half_masks([0, 3], 4)
  seen_images, seen_targets = (x.numpy() for x in complement.complement_pair(images, targets, masks))
  np.testing.assert_array_equal(seen_images, masks.numpy() * 0.25)
  np.testing.assert_array_equal(seen_targets, (1 - masks.numpy()) * 0.75)
  # The reward averages the four halves: deterministic.
  critic = lambda a, b: tf.reduce_sum(a, [1, 2, 3]) + 2 * tf.reduce_sum(b, [1, 2, 3])
  reward = complement.complement_reward(critic)
  np.testing.assert_allclose(reward(images, targets).numpy(), [8 * 0.25 + 2 * 8 * 0.75] * 2)


def test_spectral_normalised_critic_has_unit_norm_kernels_after_training_calls():
  critic = critic_lib.Critic((16, 16, 1), channels=(8, 16), spectral_norm=True)
  x = tf.random.uniform((4, 16, 16, 1))
  for _ in range(30):  # power iterations converge
    critic(x, training=True)
  dense = critic._score.layer.kernel.numpy()  # pylint: disable=protected-access
  np.testing.assert_allclose(np.linalg.svd(dense, compute_uv=False)[0], 1.0, rtol=0.05)


def episodes(b=3, t=4, s=8):
  rng = np.random.default_rng(1)
  obs = {"canvas": rng.uniform(size=(b, t, s, s, 1)).astype(np.float32),
         "target": np.repeat(rng.uniform(size=(b, 1, s, s, 1)).astype(np.float32), t, 1)}
  return acting.ActorOutput(obs, {}, None, rng.uniform(size=(b, s, s, 1)).astype(np.float32),
                            None, None)


@pytest.mark.parametrize("fakes,per_episode", [("final", 1), ("final_and_random", 2), ("all", 5)])
def test_replay_keeps_final_and_intermediate_canvases_as_configured(fakes, per_episode):
  replay = replay_lib.RenderReplay(100, (8, 8, 1), conditional=True, fakes=fakes)
  output = episodes()
  replay.add_episodes(output)
  assert len(replay) == 3 * per_episode
  stored = replay._renders[:len(replay)]  # pylint: disable=protected-access
  np.testing.assert_array_equal(stored[0], output.final_canvas[0])
  for i in range(3):  # every stored canvas comes with its episode's target
    for j in range(per_episode):
      np.testing.assert_array_equal(replay._targets[i * per_episode + j],  # pylint: disable=protected-access
                                    output.observations["target"][i, -1])
  if fakes == "all":
    np.testing.assert_array_equal(stored[1:5], output.observations["canvas"][0])


def test_slow_critic_moves_towards_the_live_one_by_tau_per_update():
  live = critic_lib.Critic((8, 8, 1), channels=(4,))
  slow = critic_lib.Critic((8, 8, 1), channels=(4,))
  slow.set_weights([np.zeros_like(w) for w in live.get_weights()])
  loss = lambda critic_fn, real, fake, _: (tf.reduce_mean(critic_fn(fake)), {})
  learner = critic_learner_lib.CriticLearner(
      live, keras.optimizers.SGD(0.0), tf.distribute.get_strategy(), loss_fn=loss,
      critic_fn=lambda x, t=None: live(x), slow_critic=slow, polyak=0.1)
  x = tf.zeros((2, 8, 8, 1))
  learner.step(x, x, x)
  learner.step(x, x, x)
  for s, w in zip(slow.get_weights(), live.get_weights()):
    np.testing.assert_allclose(s, (1 - 0.9 ** 2) * w, rtol=1e-5, atol=1e-7)


def test_critic_reward_is_shaped_only_when_the_critic_sees_intermediate_canvases():
  critic = {"reward": {"kind": "critic"}}
  assert builder.shaped_reward(test_training.tiny({"reward": {"kind": "l2"}}))
  assert not builder.shaped_reward(test_training.tiny(critic))
  assert builder.shaped_reward(test_training.tiny(dict(critic, critic_training={"fakes": "all"})))


def test_complement_critic_needs_a_conditional_agent():
  with pytest.raises(config_lib.ConfigError, match="complement"):
    test_training.tiny({"reward": {"kind": "critic"}, "critic_training": {"input": "complement"}},
                       conditional=False)


@pytest.mark.subprocess
def test_every_critic_option_trains_a_few_steps_and_the_warm_up_leaves_the_policy_alone(tmp_path):
  cfg = test_training.tiny(
      {"reward": {"kind": "critic"}, "critic": {"channels": [8, 16], "spectral_norm": True},
       "critic_training": {"fakes": "all", "reward_polyak": 0.01, "input": "complement",
                           "loss": "non_saturating", "warmup_updates": 2}},
      max_agent_steps=4 * 32, max_minutes=0)
  trainer = test_training.make_trainer(cfg, tmp_path)
  before = [w.copy() for w in trainer.policy.get_weights()]
  trainer.schedule = trainer.schedule._replace(max_agent_steps=2 * 32)
  trainer.run()  # two updates: both warm-up
  for a, b in zip(before, trainer.policy.get_weights()):
    np.testing.assert_array_equal(a, b)
  # The final and both earlier canvases of every episode the actors sent.
  assert len(trainer.replay) >= 2 * 16 * 3 and len(trainer.replay) % 3 == 0
  trainer = test_training.make_trainer(cfg, tmp_path)
  trainer.run()
  assert int(trainer.learner_step.numpy()) == 4
  changed = [not np.array_equal(a, b) for a, b in zip(before, trainer.policy.get_weights())]
  assert any(changed), "after the warm-up the policy learns"
