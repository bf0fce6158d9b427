"""One critic for a population (pbt.shared_critic): the server and the members' stand-ins.

The server and its stand-ins are checked without Ray (a handle that calls the
server directly): the members' batches train the one critic exactly as one
learner given the same batches in the same order would, and each member's
copy is the server's as of its last pull. A population with a shared critic
is tests/test_pbt.py's population test, on the session's two-node Ray cluster.
"""
import numpy as np
import pytest

from spiral_tf import config as config_lib
from spiral_tf.training import shared_critic


def critic_config(**critic_training) -> config_lib.Config:
  return config_lib.apply(config_lib.Config(), {
      "env": {"canvas_size": 16, "grid_size": 8, "episode_length": 2, "brush_sizes": [1.5],
              "use_pressure": False},
      "critic": {"channels": [8, 16]}, "reward": {"kind": "critic"},
      "train": {"conditional": True}, "critic_training": critic_training})


class Direct:
  """A stand-in for a Ray actor handle: ``handle.method.remote(...)`` calls the object."""

  class _Method:
    def __init__(self, method):
      self.remote = method

  def __init__(self, target):
    self.target = target

  def __getattr__(self, name):
    return Direct._Method(getattr(self.target, name))


def batch(seed: int):
  rng = np.random.default_rng(seed)
  return tuple(rng.uniform(size=(4, 16, 16, 1)).astype(np.float32) for _ in range(3))


def assert_same_weights(a, b, rtol=0.0):
  """Equal weights (copies), or equal within ``rtol`` (the same updates computed twice)."""
  assert len(a) == len(b)
  for x, y in zip(a, b):
    np.testing.assert_allclose(x, y, rtol=rtol, atol=rtol * 1e-3)


def test_shared_critic_is_refused_without_the_critic_reward_on_several_devices_or_exploring_its_rate():
  cfg = critic_config()
  config_lib.apply(cfg, {"pbt": {"shared_critic": True, "explore": {
      "train.entropy_cost": [1e-3, 0.1]}}})
  shared_critic.check(cfg)  # fine
  for change, words in (({"reward": {"kind": "l2"}}, "reward.kind is 'l2'"),
                        ({"train": {"strategy": "mirrored"}}, "'mirrored'"),
                        ({"pbt": {"explore": {"critic_training.learning_rate": [1e-5, 1e-3]}}},
                         "remove critic_training.learning_rate from pbt.explore")):
    bad = config_lib.apply(critic_config(), {"pbt": {"shared_critic": True}})
    config_lib.apply(bad, {"pbt": {"explore": {"train.entropy_cost": [1e-3, 0.1]}}})
    config_lib.apply(bad, change)
    with pytest.raises(config_lib.ConfigError) as error:
      shared_critic.check(bad)
    assert words in str(error.value) and "\n" not in str(error.value)
  assert shared_critic.actor_name("/a/pop") != shared_critic.actor_name("/b/pop")
  assert shared_critic.actor_name("/a/pop") == shared_critic.actor_name("/a/pop/")


@pytest.mark.slow
@pytest.mark.parametrize("polyak", [0.0, 0.1])
def test_members_batches_train_one_critic_as_one_learner_given_them_in_order(tmp_path, polyak):
  from spiral_tf.training import builder  # pylint: disable=g-import-not-at-top
  cfg = critic_config(reward_polyak=polyak)
  config = builder.config_dict(cfg)
  server = shared_critic.CriticServer(config, str(tmp_path / "shared"))
  alone = shared_critic.CriticServer(config, str(tmp_path / "alone"))  # the reference learner
  assert_same_weights(server.weights()[1], alone.weights()[1])  # the same seed, the same start
  env = builder.make_env(cfg)
  members = []
  for _ in range(2):
    critic = builder.make_critic(cfg, env)
    reward = builder.make_critic(cfg, env) if polyak else critic
    members.append(shared_critic.SharedCriticLearner(Direct(server), critic, reward,
                                                     pull_every=2, get=lambda value: value))
  after = {}
  for i, member in enumerate([0, 1, 0, 1, 0]):  # members take turns; the server sees 5 batches
    terms = members[member].step(*batch(i))
    expected = alone.step(*batch(i))
    assert terms == pytest.approx(expected)
    after[i + 1] = alone.weights()
  assert server.update_count() == 5 and [m.updates for m in members] == [3, 2]
  assert_same_weights(server.weights()[1], alone.weights()[1], rtol=1e-5)
  # Member 0 pulled at its 2nd update (the server's 3rd), member 1 at its 2nd (the 4th).
  for member, updates in ((0, 3), (1, 4)):
    _, critic, reward = after[updates]
    assert members[member].server_updates == updates
    assert_same_weights(members[member].critic.get_weights(), critic, rtol=1e-5)
    if polyak:  # the reward copy is the server's slow copy, which lags the critic
      assert_same_weights(members[member].reward_critic.get_weights(), reward, rtol=1e-5)
      assert not np.array_equal(reward[0], critic[0])
  # Saved, and a new server (a new tools/pbt.py run) resumes it.
  lines = []
  members[0].save(lines.append)
  assert lines == ["shared critic: 3 updates from this member, 5 in all"]
  again = shared_critic.CriticServer(config, str(tmp_path / "shared"))
  assert again.update_count() == 5 and again.restored is not None
  assert_same_weights(again.weights()[1], server.weights()[1])
  assert_same_weights(members[0].critic.get_weights(), server.weights()[1])
