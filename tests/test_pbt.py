"""Population-based training (tools/pbt.py): the pbt section, explore, the validation split,
the learning rate after a restore, and a whole population of two members on Ray Tune
sharing one critic (tools/pbt.py --shared-critic).

The population test runs on the session's two-node Ray cluster (one CPU
each; tests/conftest.py) and counts its rounds in agent steps, so it trains
the same on a busy machine.
"""
import json
import os
import sys

import numpy as np
import pytest

from spiral_tf import config as config_lib
from spiral_tf import data as data_lib
from spiral_tf.training import pbt

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "tools"))
from conftest import tool_exit  # noqa: E402  pylint: disable=g-import-not-at-top

FRAMES_PER_UPDATE = 4 * 2  # train.batch_size episodes of env.episode_length agent steps
EXPLORE = {"train.policy_learning_rate": [1e-4, 1e-2], "train.entropy_cost": [1e-3, 0.1]}
EXPLORE_START = {"train.policy_learning_rate": 0.003, "train.entropy_cost": 0.01}


def tiny_mnist(shared_data, **pbt_keys):
  """A sixteen-pixel MNIST painter, small enough to train a round in seconds."""
  return {
      "name": "tiny_mnist",
      "env": {"canvas_size": 16, "grid_size": 8, "episode_length": 2, "brush_sizes": [1.5],
              "use_pressure": False},
      "data": {"name": "mnist", "path": os.path.join(shared_data, "mnist"), "eval_images": 4},
      "policy": {"conv_channels": 8, "num_residual_blocks": 1, "residual_channels": 8,
                 "torso_size": 32, "core_size": 32, "spatial_head": "dense",
                 "conditioning_hidden": [16, 8], "head_mlp_hidden": [8, 16]},
      "train": {"conditional": True, "batch_size": 4, "policy_learning_rate": 0.003,
                "max_minutes": 0, "max_agent_steps": 3 * 2 * FRAMES_PER_UPDATE,
                "eval_every_minutes": 100, "checkpoint_every_minutes": 100, "seed": 0},
      "reward": {"kind": "l2", "scale": 10.0},
      "actors": {"count": 1, "envs_per_actor": 4},
      "pbt": dict({"explore": EXPLORE, "interval_agent_steps": 2 * FRAMES_PER_UPDATE,
                   "quantile_fraction": 0.5, "resample_probability": 0.5,
                   "validation_images": 4}, **pbt_keys),
  }


def config(values=None, **sections) -> config_lib.Config:
  cfg = config_lib.apply(config_lib.Config(), {"pbt": {"interval_agent_steps": 8},
                                               "train": {"max_agent_steps": 24}})
  config_lib.apply(cfg, values or {})
  return config_lib.apply(cfg, sections)


def one_line(error) -> str:
  message = str(error.value)
  assert "\n" not in message
  return message


def test_an_unknown_pbt_key_is_one_line_naming_the_key_and_its_likely_meaning():
  with pytest.raises(config_lib.ConfigError) as err:
    config_lib.apply(config_lib.Config(), {"pbt": {"intervl_minutes": 5}})
  assert "pbt.'intervl_minutes'" in one_line(err) and "'interval_minutes'" in one_line(err)


def test_an_explore_key_that_is_not_a_config_key_is_refused_with_a_suggestion():
  cfg = config(pbt={"explore": {"train.learning_rate": [1e-5, 1e-2]}})
  with pytest.raises(config_lib.ConfigError) as err:
    pbt.check_population(cfg, 2)
  assert one_line(err) == ("pbt.explore names 'train.learning_rate', which is not a config key "
                           "(did you mean 'train.policy_learning_rate'?)")


def test_an_explore_key_that_is_not_a_number_is_refused():
  cfg = config(pbt={"explore": {"train.strategy": [0, 1]}})
  with pytest.raises(config_lib.ConfigError, match="train.strategy, which is not a number"):
    pbt.check_population(cfg, 2)


def test_a_range_that_does_not_hold_the_configs_value_is_refused_naming_both():
  cfg = config(train={"policy_learning_rate": 0.05})
  with pytest.raises(config_lib.ConfigError) as err:
    pbt.check_population(cfg, 2)
  assert "train.policy_learning_rate the range [1e-05, 0.01]" in one_line(err)
  assert "its value 0.05" in one_line(err)
  with pytest.raises(config_lib.ConfigError, match=r"pbt\.explore values must each be \[low, "):
    config(pbt={"explore": {"train.entropy_cost": [0.1, 0.01]}})


def test_unconditional_configs_other_than_mnist_a_lone_member_and_no_budget_are_refused():
  with pytest.raises(config_lib.ConfigError, match="exists for MNIST only, and this config "
                                                   "generates 'synthetic' images"):
    pbt.check_population(config(train={"conditional": False}), 2)
  pbt.check_population(config(train={"conditional": False}, data={"name": "mnist"}), 2)
  with pytest.raises(config_lib.ConfigError, match="--population must be at least 2"):
    pbt.check_population(config(), 1)
  with pytest.raises(config_lib.ConfigError, match="train.max_agent_steps is 0"):
    pbt.check_population(config(train={"max_agent_steps": 0}), 2)
  pbt.check_population(config(), 2)


def test_members_share_the_cpus_or_take_one_beside_ray_actors_and_gpus_only_when_asked():
  import pbt as pbt_tool  # tools/pbt.py  pylint: disable=g-import-not-at-top
  assert pbt_tool.member_resources(config(), 4, 2.0) == {"cpu": 0.5}
  ray_actors = config(actors={"engine": "ray"})
  assert pbt_tool.member_resources(ray_actors, 4, 64.0) == {"cpu": 1.0}
  assert pbt_tool.member_resources(ray_actors, 12, 800.0, cpus=4, gpus=2) == {"cpu": 4, "gpu": 2}


def test_rounds_divide_the_budget_and_the_last_one_ends_at_it():
  schedule = pbt.rounds(config(train={"max_agent_steps": 20}))
  assert (schedule.unit, schedule.count) == ("agent_steps", 3)
  assert [schedule.end(n) for n in (1, 2, 3)] == [8, 16, 20]
  minutes = pbt.rounds(config(pbt={"interval_agent_steps": 0, "interval_minutes": 10.0},
                              train={"max_minutes": 30.0}))
  assert (minutes.unit, minutes.count, minutes.end(2)) == ("minutes", 3, 20.0)


def test_explore_changes_only_declared_keys_clipped_into_their_ranges_and_is_seeded():
  cfg = config(pbt={"explore": EXPLORE, "resample_probability": 0.0,
                    "perturbation_factors": [100.0]})
  values = {"train.policy_learning_rate": 0.003, "train.entropy_cost": 0.01, "train.discount": 0.9}
  up = pbt.explore(values, cfg.pbt, np.random.default_rng(0))
  assert up == {"train.policy_learning_rate": 1e-2, "train.entropy_cost": 0.1,
                "train.discount": 0.9}
  cfg.pbt.perturbation_factors = (1e-6,)
  assert pbt.explore(values, cfg.pbt, np.random.default_rng(0))["train.entropy_cost"] == 1e-3
  cfg.pbt.perturbation_factors, cfg.pbt.resample_probability = (0.8, 1.2), 0.5
  draws = [pbt.explore(values, cfg.pbt, np.random.default_rng(seed)) for seed in range(20)]
  assert draws[3] == pbt.explore(values, cfg.pbt, np.random.default_rng(3))
  assert len({d["train.policy_learning_rate"] for d in draws}) > 2
  for d in draws:
    assert d["train.discount"] == 0.9
    for key, (low, high) in EXPLORE.items():
      assert low <= d[key] <= high
  # An integer key stays an integer.
  cfg.pbt.explore = {"critic_training.warmup_updates": (0.0, 50.0)}
  kinds = pbt.numeric_keys(cfg)
  out = pbt.explore({"critic_training.warmup_updates": 7}, cfg.pbt, np.random.default_rng(1), kinds)
  assert isinstance(out["critic_training.warmup_updates"], int)


def test_member_zero_starts_from_the_config_and_the_others_from_seeded_draws_in_range():
  cfg = config(pbt={"explore": EXPLORE})
  assert pbt.initial_values(cfg, 0) == {"train.policy_learning_rate": 3e-4,
                                        "train.entropy_cost": 0.01}
  first, again = pbt.initial_values(cfg, 1), pbt.initial_values(cfg, 1)
  assert first == again != pbt.initial_values(cfg, 2)
  for key, (low, high) in EXPLORE.items():
    assert low <= first[key] <= high


def test_the_validation_split_is_the_first_train_images_and_train_leaves_them_out(shared_data):
  kwargs = dict(name="mnist", path=os.path.join(shared_data, "mnist"), size=16)
  whole = np.stack(list(data_lib.load(split="train", **kwargs).take(10).as_numpy_iterator()))
  validation = np.stack(list(data_lib.load(split=data_lib.VALIDATION, validation_images=4,
                                           **kwargs).as_numpy_iterator()))
  rest = np.stack(list(data_lib.load(split="train", validation_images=4, **kwargs)
                       .take(6).as_numpy_iterator()))
  np.testing.assert_array_equal(validation, whole[:4])
  np.testing.assert_array_equal(rest, whole[4:10])
  test = data_lib.load(split="test", validation_images=4, **kwargs)
  assert int(test.cardinality()) == int(data_lib.load(split="test", **kwargs).cardinality())
  with pytest.raises(ValueError, match="validation_images >= 1"):
    data_lib.load(split=data_lib.VALIDATION, **kwargs)
  with pytest.raises(data_lib.DataError, match=r"holds \d+ images.*leaves none to train on"):
    data_lib.load(split="train", validation_images=10 ** 6, **kwargs)


def write_state(run_dir, member, **state):
  """A member folder holding only the state file train_member keeps."""
  folder = run_dir / "members" / member
  folder.mkdir(parents=True)
  (folder / pbt.STATE_NAME).write_text(json.dumps(dict(member=member, parent=None, **state)))


def test_a_resume_starts_after_the_round_every_member_finished_with_each_members_values(
    tmp_path):
  import pbt as pbt_tool  # tools/pbt.py  pylint: disable=g-import-not-at-top
  cfg = config(pbt={"explore": EXPLORE})
  assert pbt_tool.resume_point(cfg, str(tmp_path), 2) == (
      0, [pbt.initial_values(cfg, 0), pbt.initial_values(cfg, 1)])
  explored = {"train.policy_learning_rate": 0.002, "train.entropy_cost": 0.05}
  # member-00 finished round 3; member-01 copied it and was interrupted in round 3.
  write_state(tmp_path, "member-00", round=3, values=EXPLORE_START, result={"round": 3})
  write_state(tmp_path, "member-01", round=3, values=explored, result=None)
  assert pbt_tool.resume_point(cfg, str(tmp_path), 2) == (2, [EXPLORE_START, explored])


def test_a_population_run_again_with_another_config_or_size_is_refused_in_one_line(tmp_path):
  import pbt as pbt_tool  # tools/pbt.py  pylint: disable=g-import-not-at-top
  from spiral_tf.training import run_folder  # pylint: disable=g-import-not-at-top
  config_dict = json.loads(json.dumps(config().to_dict()))
  record = pbt_tool.load_record(str(tmp_path), config_dict, 2, "agent_steps")
  pbt_tool.write_lineage(str(tmp_path), record)
  longer = json.loads(json.dumps(config_dict))
  longer["train"]["max_agent_steps"] = 48  # a larger budget resumes: more rounds
  assert pbt_tool.load_record(str(tmp_path), longer, 2, "agent_steps")["config"] == longer
  with pytest.raises(run_folder.RunFolderError, match="trained with 2 members"):
    pbt_tool.load_record(str(tmp_path), config_dict, 3, "agent_steps")
  other = json.loads(json.dumps(config_dict))
  other["train"]["entropy_cost"] = 0.02
  with pytest.raises(run_folder.RunFolderError) as err:
    pbt_tool.load_record(str(tmp_path), other, 2, "agent_steps")
  assert "train.entropy_cost: 0.01 -> 0.02" in one_line(err)


def run_tool(argv, capsys):
  """tools/pbt.py as cli.run ends it: (exit code, stderr)."""
  import pbt as pbt_tool  # tools/pbt.py  pylint: disable=g-import-not-at-top
  return tool_exit(pbt_tool.main, argv, capsys)


def test_tools_pbt_without_ray_tune_or_with_a_bad_key_is_one_error_line(
    shared_data, tmp_path, monkeypatch, capsys):
  config_path = tmp_path / "tiny.json"
  config_path.write_text(json.dumps(tiny_mnist(shared_data)))
  argv = ["--config", str(config_path), "--profile", "", "--population", "2",
          "--run-dir", str(tmp_path / "run")]
  code, err = run_tool(argv + ["--set", 'pbt.explore={"train.lr": [0, 1]}'], capsys)
  assert code == 2 and len(err.splitlines()) == 1, err
  assert err.startswith("error: pbt.explore names 'train.lr', which is not a config key")
  monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed
  code, err = run_tool(argv, capsys)
  errors = err.splitlines()
  assert code == 2 and len(errors) == 1, err
  assert errors[0].startswith("error: tools/pbt.py needs Ray Tune")
  assert errors[0].endswith("pip install -e '.[cluster]'")
  assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_a_restore_puts_back_the_checkpoints_learning_rate_and_set_learning_rates_fixes_it(
    shared_data, tmp_path):
  from spiral_tf.training import builder  # pylint: disable=g-import-not-at-top
  values = tiny_mnist(shared_data)
  cfg = config_lib.from_dict(values)
  trainer = builder.build_trainer(cfg, str(tmp_path), log=lambda m: None)
  trainer.restore()
  trainer.save()
  values["train"]["policy_learning_rate"] = 0.0005
  explored = config_lib.from_dict(values)
  resumed = builder.build_trainer(explored, str(tmp_path), log=lambda m: None)
  assert resumed.restore()
  optimizer = resumed.policy_learner.optimizer
  assert float(optimizer.learning_rate.numpy()) == pytest.approx(0.003)  # the pitfall
  pbt.set_learning_rates(resumed, explored)
  assert float(optimizer.learning_rate.numpy()) == pytest.approx(0.0005)


def small_mnist(folder, shared_data, count=200):
  """The first ``count`` real digits as a lone t10k file pair in ``folder``."""
  import gzip  # pylint: disable=g-import-not-at-top
  from spiral_tf.data import mnist  # pylint: disable=g-import-not-at-top
  images, labels = mnist.load_arrays(os.path.join(shared_data, "mnist"), "all")
  for name, array in (("t10k-images-idx3-ubyte.gz", images[:count]),
                      ("t10k-labels-idx1-ubyte.gz", labels[:count])):
    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(d).to_bytes(4, "big")
                                                       for d in array.shape)
    with gzip.open(os.path.join(folder, name), "wb") as f:
      f.write(header + array.astype(np.uint8).tobytes())
  return str(folder)


@pytest.mark.slow
def test_unconditional_fitness_is_zero_for_the_validation_digits_and_one_for_random_strokes(
    shared_data, tmp_path):
  from spiral_tf.eval import digit_data  # pylint: disable=g-import-not-at-top
  from spiral_tf.eval import scripted_programs  # pylint: disable=g-import-not-at-top
  from spiral_tf.training import builder  # pylint: disable=g-import-not-at-top
  from spiral_tf.training import pbt_fitness  # pylint: disable=g-import-not-at-top
  (tmp_path / "mnist").mkdir()
  raw = tiny_mnist(shared_data, validation_images=16, hold_out_validation=True)
  raw["train"]["conditional"] = False
  raw["reward"] = {"kind": "critic"}
  raw["critic"] = {"channels": [8, 16]}
  raw["data"]["path"] = small_mnist(tmp_path / "mnist", shared_data)  # a classifier in seconds
  cfg = config_lib.from_dict(raw)
  run_dir, lines = str(tmp_path / "population"), []
  pbt_fitness.prepare(cfg, run_dir, lines.append)  # trains the classifier once
  assert os.listdir(pbt_fitness.classifier_cache(run_dir)) and "cached in" in lines[-1]
  make_env = builder.env_factory(cfg)
  digits, _ = digit_data.labelled_digits(cfg, cfg.data.path, "validation")
  assert len(digits) == 16
  same = pbt_fitness._sample_fitness(cfg, run_dir, digits, make_env, lines.append)
  assert same[pbt_fitness.FITNESS] == pytest.approx(0.0, abs=1e-6)
  assert "loaded from" in lines[-1]  # the members read the classifier; none trains it again
  randoms = scripted_programs.random_canvases(make_env, 16, cfg.train.seed)
  scored = pbt_fitness._sample_fitness(cfg, run_dir, randoms, make_env, lines.append)
  assert scored[pbt_fitness.FITNESS] == pytest.approx(1.0)
  assert scored["validation_frechet"] == pytest.approx(scored["validation_random_frechet"])
  assert scored["validation_frechet"] > 0
  policy = builder.make_policy(cfg, make_env())  # untrained: its samples from fresh noise
  result = pbt_fitness.fitness(cfg, policy, run_dir, lines.append)
  assert result[pbt_fitness.FITNESS] == pytest.approx(
      result["validation_frechet"] / result["validation_random_frechet"])
  assert 1 <= result["validation_classes"] <= 10 and result[pbt_fitness.FITNESS] > 0


def checkpoint_variables(prefix: str, scope: str) -> dict:
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  reader = tf.train.load_checkpoint(prefix)
  return {name: reader.get_tensor(name) for name, _ in tf.train.list_variables(prefix)
          if name.startswith(scope + "/")}


@pytest.mark.cluster
def test_a_population_of_two_exploits_explores_records_its_lineage_and_shares_a_critic(
    ray_cluster, shared_data, tmp_path):
  """Two members, three rounds, the critic reward and --shared-critic: one population (the
  cluster tier's slowest test) checks exploit, explore, the lineage and the shared critic."""
  import pbt as pbt_tool  # tools/pbt.py  pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from spiral_tf.training import shared_critic  # pylint: disable=g-import-not-at-top
  raw = tiny_mnist(shared_data, shared_critic_pull_updates=1)
  raw["reward"], raw["critic"] = {"kind": "critic"}, {"channels": [8, 16]}
  # In-graph actors: a member's round then starts no actor process (PBT does not depend on
  # the engine; process actors in PBT trained the RESULTS population): 66-75 s instead of
  # 86 s, for the cluster tier's three minutes.
  raw["env"]["renderer"] = "tf"
  config_path = tmp_path / "tiny.json"
  config_path.write_text(json.dumps(raw))
  run_dir = tmp_path / "population"
  argv = ["--config", str(config_path), "--profile", "", "--population", "2",
          "--run-dir", str(run_dir), "--shared-critic"]
  assert pbt_tool.main(argv) == 0
  record = json.loads((run_dir / "pbt.json").read_text())
  assert record["config"]["pbt"]["shared_critic"] is True
  assert (run_dir / "pbt.png").stat().st_size > 0
  # (c) every member's every round, with its parent and a fitness.
  rounds = {(e["member"], e["round"]): e for e in record["rounds"]}
  assert sorted(rounds) == [(f"member-0{m}", r) for m in range(2) for r in (1, 2, 3)]
  for e in rounds.values():
    assert "parent" in e and np.isfinite(e[pbt.FITNESS]) and e[pbt.FITNESS] > 0
    assert e["agent_steps"] == e["round"] * 2 * FRAMES_PER_UPDATE
  # With two members and quantile 0.5, the weaker one copies the stronger after rounds 1 and 2.
  for number in (2, 3):
    child, = [e for e in record["rounds"] if e["round"] == number and e["parent"]]
    before = {e["member"]: e[pbt.FITNESS] for e in record["rounds"] if e["round"] == number - 1}
    assert child["parent"] != child["member"]
    assert before[child["parent"]] <= before[child["member"]]
  # (a) the whole checkpoint the last child trained from is its parent's of round 2 (a
  # later exploit may have replaced the first child's copy).
  update = rounds[child["parent"], 2]["learner_updates"]
  copied = str(run_dir / "members" / child["member"] / "checkpoints" / f"ckpt-{update}")
  source = str(run_dir / "members" / child["parent"] / "checkpoints" / f"ckpt-{update}")
  for scope in ("policy", "policy_optimizer", "frames", "learner_step"):
    mine, theirs = checkpoint_variables(copied, scope), checkpoint_variables(source, scope)
    assert mine and sorted(mine) == sorted(theirs), scope
    for name in mine:
      np.testing.assert_array_equal(mine[name], theirs[name], err_msg=name)
  base = record["config"]
  from spiral_tf.training import run_folder  # pylint: disable=g-import-not-at-top
  for member in ("member-00", "member-01"):
    folder = run_dir / "members" / member
    saved = json.loads((folder / "config.json").read_text())
    # (b) explore changed only declared keys, within their ranges.
    changed = {line.split(":")[0] for line in run_folder.config_differences(base, saved, ())}
    assert changed <= set(EXPLORE) | {"train.seed", "train.max_agent_steps", "train.max_minutes"}
    for key, (low, high) in EXPLORE.items():
      section, name = key.split(".")
      assert low <= saved[section][name] <= high
    # (d) the optimiser trained with the member's own (explored) rate, not its parent's.
    last = rounds[member, 3]
    newest = str(folder / "checkpoints" / f"ckpt-{last['learner_updates']}")
    rate = [v for k, v in checkpoint_variables(newest, "policy_optimizer").items()
            if "learning_rate" in k]
    assert rate and float(rate[0]) == pytest.approx(last["values"]["train.policy_learning_rate"])
    assert saved["train"]["policy_learning_rate"] == last["values"]["train.policy_learning_rate"]
    assert (folder / "metrics.json").exists()
    # (e) the member trained against the population's critic, not a critic of its own.
    assert saved["pbt"]["shared_critic"] is True
    assert "shared critic: took the population's critic" in (folder / "train.log").read_text()
  # The server saved after every round: its count is every member's updates together.
  counts = [e["shared_critic_updates"] for e in record["rounds"]]
  assert len(counts) == 6 and all(c >= 1 for c in counts)
  newest = tf.train.latest_checkpoint(str(run_dir / shared_critic.FOLDER))
  assert int(tf.train.load_variable(newest, "updates/.ATTRIBUTES/VARIABLE_VALUE")) == sum(counts)
  # The same command again finds every round trained and leaves the population as it was.
  before = (run_dir / "pbt.json").read_text()
  assert pbt_tool.main(argv) == 0
  assert (run_dir / "pbt.json").read_text() == before
