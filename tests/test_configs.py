"""Every shipped config loads in every profile and builds its networks; bad values are errors."""
import dataclasses
import glob
import inspect
import json
import os
import sys

import pytest

from spiral_tf import config as config_lib
from spiral_tf.agents import critic as critic_lib
from spiral_tf.agents import policy as policy_lib
from spiral_tf.training import builder
from spiral_tf.training import run_folder
from spiral_tf.training import trained_agent

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = sorted(glob.glob(os.path.join(REPO, "configs", "*.json")))
sys.path.insert(0, os.path.join(REPO, "tools"))

import train as train_tool  # noqa: E402  pylint: disable=g-import-not-at-top


@pytest.mark.slow
@pytest.mark.parametrize("path", CONFIGS, ids=os.path.basename)
@pytest.mark.parametrize("profile", ["cpu", "paper"])
def test_shipped_config_loads_and_builds_its_networks(path, profile):
  cfg = config_lib.load(path, profile)
  env = builder.make_env(cfg)
  policy = builder.make_policy(cfg, env)
  assert policy.components == tuple(env.action_spec())
  assert policy.conditional == cfg.train.conditional
  if cfg.reward.kind == "critic" or profile == "cpu":
    critic = builder.make_critic(cfg, env)
    assert critic.count_params() > 0
  env.close()


@pytest.mark.parametrize("path", CONFIGS, ids=os.path.basename)
def test_shipped_configs_load_in_both_profiles_with_todays_keys(path):
  for profile in ("cpu", "paper"):
    config_lib.load(path, profile)
  with open(path) as f:
    raw = json.load(f)
  layers = [raw, *raw["profiles"].values()]
  old = [f"{section}.{key}" for layer in layers for section, keys in layer.items()
         if isinstance(keys, dict) for key in keys if (section, key) in config_lib.RENAMED]
  assert not old, old


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


DEFAULT = os.path.join(REPO, "configs", "default.json")


@pytest.mark.parametrize("section, cls", [(config_lib.PolicyConfig, policy_lib.PolicyNetwork),
                                          (config_lib.CriticConfig, critic_lib.Critic)])
def test_policy_and_critic_sections_are_the_constructors_keyword_arguments(section, cls):
  built_by_builder = config_lib.BUILDER_ARGUMENTS[section.SECTION]
  expected = {p.name: p.default for p in inspect.signature(cls.__init__).parameters.values()
              if p.kind == p.KEYWORD_ONLY and p.name not in built_by_builder}
  fields = {f.name: f.default for f in dataclasses.fields(section)}
  assert fields == expected


def test_policy_section_is_a_keyword_dict_and_rejects_unknown_keys():
  cfg = config_lib.load(DEFAULT, "cpu")
  assert dict(cfg.policy) == config_lib.section_kwargs(cfg.policy)
  assert dict(**cfg.policy)["spatial_head"] == "dense"
  with pytest.raises(config_lib.ConfigError, match=r"policy\.'lstm_units'"):
    cfg.policy["lstm_units"] = 3


@pytest.mark.parametrize("override, message", [
    ("train.max_minutes=NaN", r"train\.max_minutes must be a finite number"),
    ("train.max_minutes=abc", r"train\.max_minutes must be a number, got 'abc'"),
    ("train.batch_size=true", r"train\.batch_size must be an integer, got True"),
    ('train.checkpoint_every_minutes="x"', r"train\.checkpoint_every_minutes must be a number"),
    ("train.eval_every_minutes=-1", r"train\.eval_every_minutes must be >= 0"),
    ("train.policy_learning_rate=0", r"train\.policy_learning_rate must be > 0"),
    ("train.strategy=gpu", r"train\.strategy must be 'default', 'mirrored', 'multiworker' or 'cpu:N'"),
    # 0 left the learner's critic terms unset: the run crashed once the replay filled.
    ("critic_training.updates_per_learner_update=0",
     r"critic_training\.updates_per_learner_update must be >= 1, got 0"),
    ("reward.kind=ssim", r"reward\.kind must be one of \['l2', 'critic'\]"),
    ("reward.scale=0", r"reward\.scale must be > 0, got 0"),
    ("critic_training.fakes=some", r"critic_training\.fakes must be one of \['final'"),
    ("actors.count=0", r"actors\.count must be >= 1, got 0"),
    ("actors.cuont=2", r"actors\.'cuont' \(did you mean 'count'\?\)"),
    ("reward.knid=l2", r"reward\.'knid' \(did you mean 'kind'\?\)"),
    ('train.entropy_costs={"flag": -1}', r"train\.entropy_costs values must each be >= 0"),
    ("env.brush_sizes=5", r"env\.brush_sizes must be a list, got 5"),
    ("env.brush_sizes=[NaN]", r"env\.brush_sizes\[0\] must be a finite number"),
    ("env.brush_sizes=[0]", r"env\.brush_sizes values must each be > 0"),
    ("env.brush=5", r"env\.brush must be a string, got 5"),
    ("env.canvas_size=32.5", r"env\.canvas_size must be an integer"),
    ("env.grid_size=64", r"env\.grid_size \(64\) must be <= env\.canvas_size \(32\)"),
    ("data.eval_images=-5", r"data\.eval_images must be >= 1, got -5"),
    ("data.path=5", r"data\.path must be a string"),
    ("policy.spatial_head=lstm", r"policy\.spatial_head must be one of \['conv', 'dense'\]"),
    ("critic.channels=[]", r"critic\.channels must not be empty"),
    ("critic.conditional=true", r"critic\.'conditional'"),
    ("env.renderer=cuda", r"env\.renderer must be one of \['libmypaint', 'tf'\]"),
])
def test_bad_config_values_are_config_errors_naming_the_key(override, message):
  with pytest.raises(config_lib.ConfigError, match=message):
    config_lib.load(DEFAULT, "cpu", [override])


def test_sizes_the_networks_cannot_halve_are_config_errors_not_tracebacks():
  with pytest.raises(config_lib.ConfigError, match=r"env\.canvas_size \(33\) must be "
                                                   r"policy\.encoder_output_size \(8\) times"):
    config_lib.load(DEFAULT, "cpu", ["env.canvas_size=33"])
  with pytest.raises(config_lib.ConfigError, match=r"env\.grid_size \(12\) must be 4 times"):
    config_lib.load(DEFAULT, "cpu", ["env.grid_size=12", "policy.spatial_head=conv"])
  cfg = config_lib.load(DEFAULT, "cpu", ["env.grid_size=12", "policy.spatial_head=dense",
                                         "env.canvas_size=64"])
  assert (cfg.env.grid_size, cfg.env.canvas_size) == (12, 64)


def test_the_mnist_critic_config_ships_the_stability_fix_in_both_profiles():
  for profile in ("cpu", "paper"):
    cfg = config_lib.load(os.path.join(REPO, "configs", "mnist_conditional.json"), profile)
    assert cfg.policy.heads_layer_norm and cfg.train.policy_learning_rate <= 3e-4
  assert not config_lib.load(DEFAULT, "cpu").policy.heads_layer_norm  # other configs unchanged


def test_the_tf_renderer_is_for_the_painting_domain_only():
  with pytest.raises(config_lib.ConfigError, match=r"env\.renderer 'tf' .* needs env\.domain "
                                                   r"'libmypaint', not 'mujoco_scenes'"):
    config_lib.load(DEFAULT, "cpu", ["env.domain=mujoco_scenes", "env.renderer=tf"])


def test_data_options_are_checked_against_the_chosen_loader():
  with pytest.raises(config_lib.ConfigError,
                     match=r"data\.options .*'num_imgs' \(did you mean 'num_images'\?\)"):
    config_lib.load(DEFAULT, "cpu", ['data.options={"num_imgs": 5}'])
  with pytest.raises(config_lib.ConfigError, match=r"data\.options\.strokes must be a list of 2"):
    config_lib.load(DEFAULT, "cpu", ['data.options={"strokes": [1]}'])
  with pytest.raises(config_lib.ConfigError, match=r"data\.name 'mnsit' .*did you mean 'mnist'"):
    config_lib.load(DEFAULT, "cpu", ["data.name=mnsit", "data.path=x"])
  with pytest.raises(config_lib.ConfigError, match=r"'num_images'.*valid keys: \['with_labels'\]"):
    config_lib.load(DEFAULT, "cpu", ["data.name=mnist", 'data.options={"num_images": 5}'])
  cfg = config_lib.load(DEFAULT, "cpu", ["data.name=tfds:mnist", 'data.options={"with_labels": true}'])
  assert cfg.data.options == {"with_labels": True}


def test_changing_data_name_drops_the_previous_data_sets_options_and_path(tmp_path):
  cfg = config_lib.load(DEFAULT, "cpu", ["data.name=mnist"])
  assert cfg.data.options == {} and cfg.data.path is None
  # Set in the same layer (in any order), they are kept.
  cfg = config_lib.load(DEFAULT, "cpu", ['data.options={"with_labels": true}', "data.name=mnist",
                                         "data.path=/data/mnist"])
  assert cfg.data.options == {"with_labels": True} and cfg.data.path == "/data/mnist"
  # The same name again is not a change: the file's options stay.
  cfg = config_lib.load(DEFAULT, "cpu", ["data.name=synthetic"])
  assert cfg.data.options["num_images"] == 4000
  mnist = config_lib.load(os.path.join(REPO, "configs", "mnist_conditional.json"), "cpu",
                          ["data.name=folder"])
  assert mnist.data.path is None, "the MNIST folder is not an image folder"


def test_old_config_json_with_partial_policy_and_critic_still_loads():
  old = json.loads(json.dumps(config_lib.load(DEFAULT, "cpu").to_dict()))
  old["policy"] = {"conv_channels": 16, "spatial_head": "dense"}  # as to_dict wrote them before
  old["critic"] = {"channels": [32, 64, 128]}
  cfg = config_lib.from_dict(old)
  assert cfg.policy.conv_channels == 16 and cfg.policy.core_size == 256
  assert cfg.critic.channels == (32, 64, 128)
  assert config_lib.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
  old["train"]["max_minutes"] = "abc"
  with pytest.raises(config_lib.ConfigError, match="train.max_minutes"):
    config_lib.from_dict(old)


def test_an_override_of_one_option_keeps_the_other_options():
  cfg = config_lib.load(DEFAULT, "cpu", ["data.options.num_images=10"])
  assert cfg.data.options == {"num_images": 10, "strokes": (1, 3), "seed": 0}
  cfg = config_lib.load(DEFAULT, "cpu", ['data.options={"num_images": 10}'])
  assert cfg.data.options == {"num_images": 10}, "a whole dict replaces the dict"
  cfg = config_lib.load(DEFAULT, "cpu", ["train.entropy_costs.end=0.05"])
  assert cfg.train.entropy_costs == {"flag": 0.2, "end": 0.05}
  cfg = config_lib.load(DEFAULT, "cpu", ["data.name=mnist", "data.options.with_labels=true"])
  assert cfg.data.options == {"with_labels": True}, "a new data set starts from no options"


def test_a_folder_given_as_the_config_is_named_a_folder_with_its_json_files(tmp_path):
  with pytest.raises(config_lib.ConfigError) as empty:
    config_lib.load(str(tmp_path), "cpu")
  assert str(empty.value) == (f"config {str(tmp_path)!r} is a folder and holds no .json file; "
                              "give a config JSON file, e.g. configs/default.json")
  (tmp_path / "config.json").write_text("{}")  # a run folder's
  (tmp_path / "notes.txt").write_text("")
  with pytest.raises(config_lib.ConfigError) as run_folder:
    config_lib.load(str(tmp_path), "cpu")
  assert str(run_folder.value) == (f"config {str(tmp_path)!r} is a folder; give one of its JSON "
                                   f"files: {tmp_path / 'config.json'}")
  assert "does not exist" not in str(run_folder.value)


# A config.json as tools/train.py wrote it before the keys named their units and
# train.* was split into sections: every renamed key, each with a value that is
# not its default, so a key moved to the wrong place cannot pass.
OLD_SAVED_TRAIN = {
    "conditional": True, "batch_size": 16, "max_steps": 1000, "summary_every_steps": 5,
    "reward": "critic", "shaped_reward": False, "reward_scale": 10.0,
    "reward_normalization": "running", "new_stroke_penalty": 0.05, "empty_canvas_penalty": 1.0,
    "color_emd_weight": 0.1, "critic_learning_rate": 0.0002, "critic_beta1": 0.4,
    "critic_updates_per_step": 2, "critic_loss": "non_saturating", "critic_input": "complement",
    "critic_fakes": "all", "critic_warmup_steps": 100, "critic_reward_polyak": 0.01,
    "gradient_penalty_weight": 5.0, "centering_weight": 0.01, "replay_batches": 10,
    "num_actors": 3, "envs_per_actor": 8, "weight_sync_interval": 2, "max_actor_restarts": 4,
    "actor_threads": 2}


@pytest.mark.parametrize("old", sorted(config_lib.RENAMED), ids=".".join)
def test_a_renamed_key_is_refused_naming_its_new_key_in_files_profiles_and_overrides(
    tmp_path, old):
  section, key = old
  new_section, new_key = config_lib.RENAMED[old]
  verb = "was renamed" if new_section == section else "moved to"
  expected = f"{section}.{key} {verb} {new_section}.{new_key}"
  value = OLD_SAVED_TRAIN[key]
  path = tmp_path / "old.json"
  path.write_text(json.dumps({section: {key: value}}))
  with pytest.raises(config_lib.ConfigError) as in_file:
    config_lib.load(str(path), profile=None)
  path.write_text(json.dumps({"profiles": {"cpu": {section: {key: value}}}}))
  with pytest.raises(config_lib.ConfigError) as in_profile:
    config_lib.load(str(path), "cpu")
  with pytest.raises(config_lib.ConfigError) as in_override:
    config_lib.load(DEFAULT, "cpu", [f"{section}.{key}={json.dumps(value)}"])
  assert str(in_file.value) == str(in_profile.value) == str(in_override.value) == expected


def test_the_renamed_keys_name_their_new_place_in_one_line():
  with pytest.raises(config_lib.ConfigError, match=r"^train\.max_steps was renamed "
                                                   r"train\.max_agent_steps$"):
    config_lib.load(DEFAULT, "cpu", ["train.max_steps=100"])
  with pytest.raises(config_lib.ConfigError, match=r"^train\.reward moved to reward\.kind$"):
    config_lib.load(DEFAULT, "cpu", ["train.reward=critic"])
  assert {key for _, key in config_lib.RENAMED} == set(OLD_SAVED_TRAIN) - {"conditional",
                                                                          "batch_size"}


def test_a_run_folders_old_config_json_loads_to_the_same_values_and_resumes(tmp_path):
  old = {"name": "old_run", "data": {"name": "synthetic", "options": {"num_images": 10}},
         "train": dict(OLD_SAVED_TRAIN)}
  (tmp_path / "config.json").write_text(json.dumps(old))
  cfg = trained_agent.load_config(str(tmp_path))
  for (section, key), (new_section, new_key) in config_lib.RENAMED.items():
    assert getattr(getattr(cfg, new_section), new_key) == old[section][key], (key, new_key)
  assert cfg.train.batch_size == 16 and cfg.data.options == {"num_images": 10}
  assert config_lib.from_dict(old) == cfg
  # Resuming it with today's keys is not a changed config (tools/train.py).
  today = builder.config_dict(cfg)
  assert not set(today["train"]) & (set(OLD_SAVED_TRAIN) - {"conditional", "batch_size"})
  folder = run_folder.RunFolder(str(tmp_path))
  (tmp_path / "metrics.json").write_text(json.dumps({"history": [{"step": 5}]}))
  assert folder.has_trained()
  assert train_tool.recorded_config(folder) == today
  folder.check_config(today, train_tool.recorded_config(folder))


@pytest.mark.parametrize("damage", ['{"train": {"batch_size": 16,', b"\xff\xfe\x80"],
                         ids=["truncated", "binary"])
def test_a_damaged_config_json_of_a_run_folder_is_a_config_error_saying_what_to_do(
    tmp_path, damage):
  path = tmp_path / "config.json"
  if isinstance(damage, bytes):
    path.write_bytes(damage)
  else:
    path.write_text(damage)
  for read in (lambda: trained_agent.load_config(str(tmp_path)),
               lambda: train_tool.recorded_config(run_folder.RunFolder(str(tmp_path)))):
    with pytest.raises(config_lib.ConfigError) as err:
      read()
    message = str(err.value)
    assert message.startswith(f"{path} is damaged: it is not valid JSON"), message
    assert "metrics.json" in message and "\n" not in message
