"""How the code is laid out: small files, and a policy split that moved no variable."""
import os

import pytest
import tensorflow as tf

from spiral_tf.envs.libmypaint_env import LibMyPaintEnv

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The project's limit: a file that grows past it holds two concepts (STYLE.md).
MAX_LINES = 320


def modules():
  for root, _, names in os.walk(os.path.join(REPO, "spiral_tf")):
    for name in names:
      if name.endswith(".py"):
        yield os.path.relpath(os.path.join(root, name), REPO)


@pytest.mark.parametrize("path", sorted(modules()))
def test_module_stays_under_the_file_size_limit(path):
  with open(os.path.join(REPO, path)) as f:
    lines = sum(1 for _ in f)
  assert lines <= MAX_LINES, (f"{path} has {lines} lines, over {MAX_LINES}: split it along a "
                              "seam a reader would name")


def test_policy_network_keeps_its_torso_layers_at_their_checkpoint_paths(tmp_path):
  """The torso moved to agents/torso.py as a mixin, not a layer: run folders' checkpoints
  and the weight order actor processes set still fit."""
  from spiral_tf.agents.policy import PolicyNetwork  # pylint: disable=g-import-not-at-top
  env = LibMyPaintEnv(canvas_size=16, grid_size=8, episode_length=2, brush_sizes=(1.0,),
                      use_pressure=False, conditional=False)
  policy = PolicyNetwork(env.observation_spec(), env.action_spec(), conv_channels=4,
                         num_residual_blocks=1, residual_channels=4, torso_size=8, core_size=8,
                         spatial_head="dense", conditioning_hidden=(8, 4),
                         head_mlp_hidden=(4, 8), noise_dim=2,
                         noise_inputs=("torso", "core", "heads"),
                         spatial_components=env.action_rules.spatial_components)
  env.close()
  path = tf.train.Checkpoint(policy=policy).write(str(tmp_path / "ckpt"))
  saved = {name for name, _ in tf.train.list_variables(path)}
  for layer in ("_input_conv", "_prev_embeds/flag", "_conditioning_mlp", "_noise_mlp",
                "_noise_core_mlp", "_noise_heads", "_encoder", "_torso_linear", "_core",
                "_heads", "_value"):
    assert any(name.startswith(f"policy/{layer}/") for name in saved), layer
  names = [w.name for w in policy.weights]
  assert names[0].startswith("input_conv/") and names[-1].startswith("value/"), names
