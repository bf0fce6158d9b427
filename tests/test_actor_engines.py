"""Choosing who plays the episodes (actors.engine), without Ray installed or loaded."""
import importlib.util
import os
import subprocess
import sys

import pytest

from spiral_tf import config as config_lib
from spiral_tf.training import pools

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# tools/train.py on a machine where Ray is not installed: find_spec says so.
WITHOUT_RAY = """
import importlib.util, runpy, sys
real = importlib.util.find_spec
importlib.util.find_spec = lambda name, *a: None if name.split('.')[0] == 'ray' else real(name, *a)
sys.argv = ['tools/train.py'] + sys.argv[1:]
runpy.run_path('tools/train.py', run_name='__main__')
"""


def test_the_ray_engine_without_ray_installed_is_a_config_error_naming_the_extra(monkeypatch):
  real = importlib.util.find_spec
  monkeypatch.setattr(importlib.util, "find_spec",
                      lambda name, *a: None if name == "ray" else real(name, *a))
  with pytest.raises(config_lib.ConfigError, match=r"pip install -e '\.\[cluster\]'"):
    pools.check_engine("ray")
  pools.check_engine("processes")  # needs nothing


def test_engine_keys_are_checked_and_the_in_graph_actor_refuses_ray():
  cfg = config_lib.apply(config_lib.Config(), {"actors": {"engine": "ray",
                                                          "ray_address": "10.0.0.5:6379"}})
  assert (cfg.actors.engine, cfg.actors.ray_address) == ("ray", "10.0.0.5:6379")
  with pytest.raises(config_lib.ConfigError, match="actors.engine"):
    config_lib.apply(config_lib.Config(), {"actors": {"engine": "threads"}})
  cfg = config_lib.apply(config_lib.Config(), {"env": {"renderer": "tf"},
                                               "actors": {"engine": "ray"}})
  with pytest.raises(config_lib.ConfigError, match="no actors for actors.engine 'ray'"):
    config_lib.validate(cfg)


@pytest.mark.subprocess
@pytest.mark.parametrize("flags", [["--set", "actors.engine=ray"], ["--ray-address", "auto"]])
def test_train_with_ray_actors_but_no_ray_is_one_error_line_and_writes_no_config(tmp_path, flags):
  run_dir = tmp_path / "run"
  proc = subprocess.run(
      [sys.executable, "-c", WITHOUT_RAY, "--config", "configs/default.json",
       "--run-dir", str(run_dir), *flags],
      capture_output=True, text=True, timeout=600, cwd=REPO)
  assert proc.returncode == 2, proc.stderr[-2000:]
  errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
  assert len(errors) == 1 and "pip install -e '.[cluster]'" in errors[0], proc.stderr[-2000:]
  assert "Traceback" not in proc.stderr
  assert not (run_dir / "config.json").exists()


@pytest.mark.subprocess
def test_importing_spiral_tf_and_building_a_trainer_never_imports_ray():
  code = ("import sys; import spiral_tf; from spiral_tf.training import builder, trainer, pools; "
          "print('ray' in sys.modules)")
  proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                        timeout=300, cwd=REPO)
  assert proc.returncode == 0, proc.stderr[-2000:]
  assert proc.stdout.strip().splitlines()[-1] == "False"
