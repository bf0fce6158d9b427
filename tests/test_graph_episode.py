"""Whole episodes in one graph follow the painting environment's episode exactly."""
import numpy as np
import pytest
import tensorflow as tf

from spiral_tf.agents import graph_episode
from spiral_tf.agents import policy as policy_lib
from spiral_tf.envs.libmypaint_env import LibMyPaintEnv
from spiral_tf.envs.tf_renderer import TFRenderer
from spiral_tf.training import graph_actor

ENV = dict(canvas_size=16, grid_size=8, episode_length=4, brush_sizes=(1.0, 2.0),
           use_pressure=True)
POLICY = dict(conv_channels=8, num_residual_blocks=1, residual_channels=8, torso_size=32,
              core_size=32, spatial_head="dense", conditioning_hidden=(16, 8),
              head_mlp_hidden=(8, 16))


def make(conditional=True):
  env = LibMyPaintEnv(conditional=conditional, **ENV)
  policy = policy_lib.PolicyNetwork(env.observation_spec(), env.action_spec(),
                                    noise_dim=0 if conditional else 4,
                                    spatial_components=env.action_rules.spatial_components,
                                    **POLICY)
  return env, policy, graph_episode.GraphEpisode(policy, TFRenderer.from_env(env),
                                                 env.action_rules, ENV["episode_length"])


def targets(batch, seed=0):
  return np.random.default_rng(seed).uniform(0.0, 1.0, (batch, 16, 16, 1)).astype(np.float32)


def test_observations_are_the_environments_for_the_same_actions():
  """Replaying the graph's actions in LibMyPaintEnv gives the same masks, previous actions
  and step counters, and canvases within the renderer's libmypaint mismatch."""
  env, _, episode = make()
  batch = 6
  target = targets(batch)
  played = episode.play(batch, targets=tf.constant(target), seed=(3, 4))
  out = tf.nest.map_structure(lambda x: x.numpy(), played.output)
  canvases = played.canvases.numpy()
  assert canvases.shape == (batch, 5, 16, 16, 1)
  np.testing.assert_array_equal(canvases[:, -1], out.final_canvas)
  differences, inks = [], []
  for b in range(batch):
    env.set_next_target(target[b])
    step = env.reset()
    for t in range(4):
      for key in ("action_mask", "prev_action", "step"):
        np.testing.assert_array_equal(out.observations[key][b, t], step.observation[key], key)
      np.testing.assert_array_equal(out.observations["target"][b, t], target[b])
      step = env.step({c: int(out.actions[c][b, t]) for c in env.components})
    differences.append(np.linalg.norm(step.observation["canvas"] - out.final_canvas[b]))
    inks.append(np.linalg.norm(1.0 - step.observation["canvas"]))
  # The renderer's mismatch with libmypaint (test_tf_renderer: about 0.26, as
  # between two libmypaint renders) on these few small canvases.
  assert sum(inks) > 1.0, "the untrained policy painted something"
  assert sum(differences) / sum(inks) < 0.5, (differences, inks)


def test_behaviour_log_probs_match_the_learners_unroll():
  """The learner re-scores the graph's trajectory and gets the log-probs the actor stored."""
  env, policy, episode = make()
  played = episode.play(5, targets=tf.constant(targets(5)), seed=(1, 2))
  out = played.output
  time_major = lambda x: tf.transpose(x, [1, 0] + list(range(2, x.shape.rank)))  # noqa: E731
  unrolled = policy.unroll({k: time_major(v) for k, v in out.observations.items()},
                           {k: time_major(v) for k, v in out.actions.items()},
                           policy.initial_state(5))
  masks = env.action_rules.masks({k: time_major(v) for k, v in out.actions.items()})
  log_prob = tf.add_n([unrolled.log_probs[c] * masks[..., i]
                       for i, c in enumerate(env.action_rules.components)])
  np.testing.assert_allclose(tf.transpose(log_prob).numpy(), out.behaviour_log_prob.numpy(),
                             atol=1e-4)


def test_same_seed_same_episode_and_gumbel_noise_decides_samples():
  _, policy, episode = make(conditional=False)
  noise = tf.constant(np.random.default_rng(0).standard_normal((4, 4)), tf.float32)
  a = episode.play(4, noise=noise, seed=(7, 8))
  b = episode.play(4, noise=noise, seed=(7, 8))
  np.testing.assert_array_equal(a.canvases.numpy(), b.canvases.numpy())
  for c in a.output.actions:
    np.testing.assert_array_equal(a.output.actions[c].numpy(), b.output.actions[c].numpy())
  # Zero Gumbel noise is the greedy policy; large noise on one value forces it.
  counts = episode.renderer.action_counts
  zeros = {c: tf.zeros([4, 4, n]) for c, n in counts.items()}
  greedy = episode.play(4, noise=noise, greedy=True)
  gumbel = episode.play(4, noise=noise, gumbel=zeros)
  for c in counts:
    np.testing.assert_array_equal(greedy.output.actions[c].numpy(),
                                  gumbel.output.actions[c].numpy())
  forced = dict(zeros, flag=tf.one_hot(tf.fill([4, 4], 1), 2) * 1e6)
  painted = episode.play(4, noise=noise, gumbel=forced)
  assert (painted.output.actions["flag"].numpy() == 1).all()
  assert (painted.output.final_canvas.numpy() < 0.99).any(), "painting actions leave ink"


def test_missing_inputs_are_named():
  _, _, episode = make()
  with pytest.raises(ValueError, match="targets"):
    episode.play(2)
  _, _, unconditional = make(conditional=False)
  with pytest.raises(ValueError, match="noise"):
    unconditional.play(2)


@pytest.mark.slow
def test_consecutive_calls_of_the_in_graph_actor_sample_afresh_not_shifted_by_one_step():
  """With all policy weights zero every logit is 0, so actions come from the seeds alone.

  Seeds [s, call + 1 + t] made call c+1's step t reuse call c's step t+1: its
  actions were call c's shifted by one step.
  """
  _, policy, episode = make(conditional=False)
  pool = graph_actor.GraphActorPool(policy, episode.renderer, episode.rules,
                                    ENV["episode_length"], batch_size=8, targets=None, seed=5)
  pool.start()
  calls = pool.outputs()
  next(calls)  # builds the policy's variables
  for variable in policy.variables:
    variable.assign(tf.zeros_like(variable))
  actions = [next(calls).actions for _ in range(3)]
  pool.close()
  for c in ("end", "control"):  # 64 values each: a chance match is 1 in 64
    for before, after in zip(actions, actions[1:]):
      shifted = np.mean(after[c][:, :-1] == before[c][:, 1:])
      same = np.mean(after[c] == before[c])
      assert shifted < 0.3 and same < 0.3, (c, shifted, same)


def test_no_two_steps_of_fifty_in_graph_actor_calls_share_a_sampling_seed():
  _, policy, episode = make(conditional=False)
  pool = graph_actor.GraphActorPool(policy, episode.renderer, episode.rules,
                                    ENV["episode_length"], batch_size=2, targets=None, seed=5)
  seeds = [tuple(graph_episode.fold_seed(pool.call_seed(call), t).numpy())
           for call in range(1, 51) for t in range(ENV["episode_length"])]
  assert len(set(seeds)) == 50 * ENV["episode_length"]
  noise_seeds = {tuple(graph_episode.fold_seed(pool.call_seed(call), graph_actor.NOISE_INDEX)
                       .numpy()) for call in range(1, 51)}
  assert len(noise_seeds) == 50 and not noise_seeds & set(seeds)
