"""Every shipped config loads in every profile and builds its networks."""
import glob
import os

import pytest

from spiral_tf import config as config_lib
from spiral_tf.training import experiment

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = sorted(glob.glob(os.path.join(REPO, "configs", "*.json")))


@pytest.mark.parametrize("path", CONFIGS, ids=os.path.basename)
@pytest.mark.parametrize("profile", ["cpu", "paper"])
def test_shipped_config_loads_and_builds_its_networks(path, profile):
  cfg = config_lib.load(path, profile)
  env = experiment.make_env(cfg)
  policy = experiment.make_policy(cfg, env)
  assert policy.components == tuple(env.action_spec())
  assert policy.conditional == cfg.train.conditional
  if cfg.train.reward == "critic" or profile == "cpu":
    critic = experiment.make_critic(cfg, env)
    assert critic.count_params() > 0
  env.close()


def test_cpu_profiles_shrink_the_paper_sizes():
  for path in CONFIGS:
    cpu, paper = config_lib.load(path, "cpu"), config_lib.load(path, "paper")
    assert cpu.env.canvas_size <= paper.env.canvas_size
    assert paper.env.canvas_size == 64 and paper.env.episode_length == 20, path


def test_bad_config_files_get_errors_that_name_the_problem(tmp_path):
  with pytest.raises(config_lib.ConfigError, match="does not exist"):
    config_lib.load(str(tmp_path / "nope.json"))
  bad = tmp_path / "bad.json"
  bad.write_text("{not json")
  with pytest.raises(config_lib.ConfigError, match="not valid JSON"):
    config_lib.load(str(bad))
  bad.write_text('{"trian": {}}')
  with pytest.raises(config_lib.ConfigError, match="'trian'.*did you mean 'train'"):
    config_lib.load(str(bad), profile=None)
  with pytest.raises(config_lib.ConfigError, match="no profile 'gpu'"):
    config_lib.load(os.path.join(REPO, "configs", "default.json"), "gpu")
  with pytest.raises(config_lib.ConfigError, match="must be an integer"):
    config_lib.load(os.path.join(REPO, "configs", "default.json"), "cpu",
                    ["train.batch_size=\"big\""])
  with pytest.raises(config_lib.ConfigError, match="needs a target"):
    config_lib.load(os.path.join(REPO, "configs", "default.json"), "cpu",
                    ["train.conditional=false"])
