"""The sections of a config: one typed dataclass per section, with defaults and ranges.

A config is ``name`` plus the sections of ``Config``: what is painted
(``env``, ``data``), the networks (``policy``, ``critic``: their
constructors' keyword arguments) and how they are trained (``train``: the
run, its schedule and the policy's optimisation; ``reward``: the policy's
rewards; ``critic_training``: the critic's learner and its replay;
``actors``: who plays the episodes; ``pbt``: population-based training,
read by tools/pbt.py only). A count names its unit: agent steps
(one action in one environment), learner updates, episodes or minutes.
Loading, merging and the checks across sections are in ``config.py``.
"""
import collections.abc
import dataclasses
from typing import Any, Dict, Optional, Tuple

from spiral_tf.config_checks import at_least, between, each, one_of, option, positive, \
    strategy_name, unknown_key


@dataclasses.dataclass
class EnvConfig:
  """The rendering environment: 'libmypaint' painting or 'mujoco_scenes'."""
  domain: str = option("libmypaint", one_of("libmypaint", "mujoco_scenes"))
  canvas_size: int = option(64, at_least(2))  # canvas (or MuJoCo render) side in pixels
  grid_size: int = option(32, at_least(2))  # cells per side of the grid of locations
  episode_length: int = option(20, at_least(1))  # agent steps
  brush: str = option("classic/dry_brush", lambda v: None if v else "must not be empty")
  # Brush radii in pixels (libmypaint's radius), one per value of the size component.
  brush_sizes: Tuple[float, ...] = option((1.0, 2.0, 4.0, 8.0, 12.0, 24.0), each(positive))
  use_color: bool = False
  use_pressure: bool = True
  shadows: bool = False               # mujoco_scenes only
  # Who paints training episodes: actor processes with libmypaint, or the
  # in-graph actor with the TF renderer (libmypaint only; evaluation always
  # paints with libmypaint).
  renderer: str = option("libmypaint", one_of("libmypaint", "tf"))


@dataclasses.dataclass
class DataConfig:
  """The data set of real images (targets when conditional)."""
  name: str = "synthetic"             # checked against spiral_tf.data.LOADERS or 'tfds:<name>'
  path: Optional[str] = None
  # Extra keyword arguments of the loader (e.g. synthetic num_images), checked
  # against spiral_tf.data.loader_options(name).
  options: Dict[str, Any] = option({})
  eval_images: int = option(64, at_least(1))


class _KeywordSection(collections.abc.Mapping):
  """A section that is also a constructor's keyword arguments: ``Cls(**cfg.policy)``."""

  def __getitem__(self, key):
    if key not in self.keys():
      raise KeyError(key)
    return getattr(self, key)

  def __setitem__(self, key, value):
    if key not in self.keys():
      raise unknown_key(key, self.keys(), f"{self.SECTION}.")
    setattr(self, key, value)

  def __iter__(self):
    return iter(self.keys())

  def __len__(self):
    return len(self.keys())

  def keys(self):
    return [f.name for f in dataclasses.fields(self)]


# Keyword-only arguments of the constructors that the builder fills itself (from
# the environment's rules or train.conditional), so they are not config keys.
BUILDER_ARGUMENTS = {"policy": ("name", "spatial_components"),
                     "critic": ("name", "conditional")}


@dataclasses.dataclass(eq=True)
class PolicyConfig(_KeywordSection):
  """Keyword arguments of agents.policy.PolicyNetwork but BUILDER_ARGUMENTS (same defaults)."""
  SECTION = "policy"
  conv_channels: int = option(32, at_least(1))
  num_residual_blocks: int = option(8, at_least(0))
  residual_channels: int = option(32, at_least(1))
  encoder_output_size: int = option(8, at_least(1))
  embed_dim: int = option(16, at_least(1))
  conditioning_hidden: Tuple[int, ...] = option((64, 32), each(positive, nonempty=False))
  noise_dim: int = option(10, at_least(0))
  torso_size: int = option(256, at_least(1))
  core_size: int = option(256, at_least(1))
  head_mlp_hidden: Tuple[int, ...] = option((16, 32), each(positive, nonempty=False))
  spatial_head: str = option("conv", one_of("conv", "dense"))
  decoder_channels: int = option(32, at_least(1))
  decoder_residual_blocks: int = option(8, at_least(0))
  # Each action head reads its latent layer-normalised, so that no weight of
  # an earlier head sets the temperature of the later ones (docs/design.md,
  # "Stability"; on in the MNIST critic config).
  heads_layer_norm: bool = False
  blind: bool = False
  # Where the unconditional agent's noise enters: 'torso' (the paper), 'core', 'heads'.
  noise_inputs: Tuple[str, ...] = option(("torso",), each(one_of("torso", "core", "heads")))


@dataclasses.dataclass(eq=True)
class CriticConfig(_KeywordSection):
  """Keyword arguments of agents.critic.Critic but BUILDER_ARGUMENTS (same defaults)."""
  SECTION = "critic"
  channels: Tuple[int, ...] = option((64, 128, 256, 512), each(positive))
  leaky_slope: float = option(0.2, at_least(0.0))
  layer_norm: bool = False
  spectral_norm: bool = False


@dataclasses.dataclass
class TrainConfig:
  """The run: conditional or not, its devices and schedule, the policy's optimisation."""
  conditional: bool = True
  batch_size: int = option(64, at_least(1))  # episodes per learner update (both learners)
  discount: float = option(1.0, between(0.0, 1.0))
  seed: int = option(0, at_least(0))
  # 'default' (one device), 'mirrored' (this machine's GPUs), 'multiworker'
  # (learners on several machines, from TF_CONFIG), 'cpu:N' (N logical CPUs).
  strategy: str = option("default", strategy_name)
  learner_threads: int = option(1, at_least(0))  # 0 = TensorFlow's default
  # The schedule. An agent step is one action in one environment (a frame);
  # a learner update is one batch of episodes.
  max_agent_steps: int = option(0, at_least(0))  # 0 = no limit
  max_minutes: float = option(30.0, at_least(0.0))  # 0 = no limit
  eval_every_minutes: float = option(2.0, at_least(0.0))
  checkpoint_every_minutes: float = option(5.0, at_least(0.0))
  # > 0: besides the newest three, keep a checkpoint every this many minutes
  # (a long run scored afterwards along its length, tools/score_samples.py).
  keep_checkpoint_every_minutes: float = option(0.0, at_least(0.0))
  summary_every_updates: int = option(20, at_least(1))
  # A run folder whose newest policy weights start this run (transfer, e.g.
  # an MNIST agent fine-tuned on Omniglot). Used only when the run starts
  # from step 0; the optimiser, critic and counters start fresh. The two
  # runs need the same policy.* and action space.
  init_policy_from: str = ""
  # When an evaluation finds the greedy policy painting nothing after it has
  # painted, put back the learners' state of the last evaluation at which it
  # painted and go on with a new seed (training/collapse_guard.py); each
  # restore is listed in metrics.json.
  collapse_guard: bool = False
  # The policy's optimisation (A2C with V-trace, Adam).
  policy_learning_rate: float = option(3e-4, positive)
  policy_max_grad_norm: float = option(40.0, positive)
  baseline_cost: float = option(0.5, at_least(0.0))
  entropy_cost: float = option(0.01, at_least(0.0))
  # Per-component overrides; the move/paint flag needs a larger bonus or the
  # agent collapses to never painting (docs/design.md, "The never-paint trap"). Component names
  # depend on the environment, so the builder checks them.
  entropy_costs: Dict[str, float] = option({"flag": 0.2}, each(at_least(0.0), nonempty=False))


@dataclasses.dataclass
class RewardConfig:
  """The policy's rewards: how a canvas is scored, and the terms added to the score."""
  kind: str = option("l2", one_of("l2", "critic"))
  # Potential-based shaping of the score: per-step reward = score(c_t) -
  # score(c_{t-1}). The return telescopes to the final score minus the blank
  # canvas' score, so the optimum is unchanged, but credit reaches the step
  # that earned it. Applied to the critic's score only when the critic also
  # trains on intermediate canvases (critic_training.fakes), else its scores
  # of half-painted canvases mean nothing.
  shaped: bool = True
  scale: float = option(1.0, positive)
  # 'running': divide the (scaled) reward by the running standard deviation
  # of episode returns; needed for the critic reward, whose scale is arbitrary.
  normalization: str = option("none", one_of("none", "running"))
  new_stroke_penalty: float = option(0.0, at_least(0.0))
  empty_canvas_penalty: float = option(0.0, at_least(0.0))
  color_emd_weight: float = option(0.0, at_least(0.0))


@dataclasses.dataclass
class CriticTrainingConfig:
  """The critic's learner (reward.kind 'critic'): optimiser, loss, what it sees, its replay."""
  learning_rate: float = option(1e-4, positive)
  beta1: float = option(0.5, between(0.0, 0.999))
  updates_per_learner_update: int = option(1, at_least(1))
  # How the critic is trained: 'wgan_gp' (the paper: WGAN-GP with the
  # centering term) or 'non_saturating' (SPIRAL++: the non-saturating GAN
  # loss, usually with critic.spectral_norm).
  loss: str = option("wgan_gp", one_of("wgan_gp", "non_saturating"))
  # What the conditional critic sees: 'pair' (render, target) or
  # 'complement' (SPIRAL++ 2.3: one random half of the target beside the
  # other half of the render, so it cannot compare them pixel by pixel).
  input: str = option("pair", one_of("pair", "complement"))
  # Which canvases the critic sees as fakes: 'final' renders (the paper,
  # section 3.4), 'final_and_random' (plus one random earlier canvas of each
  # episode, blank included) or 'all' (every canvas of the episode).
  fakes: str = option("final", one_of("final", "final_and_random", "all"))
  # Learner updates at the start during which only the critic trains (the
  # policy acts but is not updated), so its first rewards are not noise.
  warmup_updates: int = option(0, at_least(0))
  # 0: rewards from the live critic; tau > 0: from a slow copy, updated
  # copy <- (1 - tau) copy + tau critic after each critic update
  # (LearningToPaint: tau = 1e-3).
  reward_polyak: float = option(0.0, between(0.0, 1.0))
  gradient_penalty_weight: float = option(10.0, at_least(0.0))
  centering_weight: float = option(1e-3, at_least(0.0))
  replay_batches: int = option(20, at_least(1))  # the replay holds this many train.batch_size


@dataclasses.dataclass
class ActorsConfig:
  """Who plays the training episodes: actors, each stepping a batch of environments."""
  # 'processes': child processes of the learner, on its machine; 'ray': Ray
  # actors on any node of a Ray cluster (pip install -e '.[cluster]').
  engine: str = option("processes", one_of("processes", "ray"))
  # engine 'ray': '' starts a Ray instance on this machine for the run; 'auto'
  # or 'HOST:PORT' joins a running cluster (tools/train.py --ray-address).
  ray_address: str = ""
  count: int = option(2, at_least(1))
  envs_per_actor: int = option(16, at_least(1))
  # Episodes (of each environment, played together) between weight fetches.
  weight_sync_every_episodes: int = option(1, at_least(1))
  max_restarts: int = option(10, at_least(0))  # crashed actors restarted, in all
  threads: int = option(1, at_least(0))  # TensorFlow threads of each actor; 0 = its default


def _ordered_range(bounds):
  return None if bounds[0] <= bounds[1] else "must be [low, high] with low <= high"


@dataclasses.dataclass
class PbtConfig:
  """Population-based training (tools/pbt.py): what a member may change, and when it is judged."""
  # Dotted config keys -> [low, high]: explore perturbs these keys and no
  # other, and keeps each in its range (tools/pbt.py checks that the keys
  # exist, are numbers and that the ranges hold the config's values). The
  # defaults are the levers RESULTS.md tuned by hand: the two learning
  # rates, the entropy bonus and the empty-canvas penalty.
  explore: Dict[str, Tuple[float, float]] = option(
      {"train.policy_learning_rate": (1e-5, 1e-2), "critic_training.learning_rate": (1e-5, 1e-3),
       "train.entropy_cost": (1e-3, 0.1), "reward.empty_canvas_penalty": (0.0, 10.0)},
      each(_ordered_range, nonempty=False))
  interval_minutes: float = option(10.0, positive)  # training minutes between PBT decisions
  # > 0: rounds of this many agent steps instead of minutes (train.max_agent_steps
  # is then the budget): the same on a busy machine as on a quiet one.
  interval_agent_steps: int = option(0, at_least(0))
  perturbation_factors: Tuple[float, ...] = option((0.8, 1.2), each(positive))
  resample_probability: float = option(0.25, between(0.0, 1.0))  # else multiply by a factor
  # The bottom fraction copies a member of the top one (Ray Tune allows up to 0.5).
  quantile_fraction: float = option(0.25, between(0.0, 0.5))
  # Fitness is held-out l2 on these first images of the train split, which
  # members do not train on once hold_out_validation is true (tools/pbt.py
  # sets it; a single run keeps its whole train split).
  validation_images: int = option(64, at_least(1))
  hold_out_validation: bool = False
  # One critic for the whole population (tools/pbt.py --shared-critic, as in
  # SPIRAL++): a Ray actor that every member's renders train; each member
  # copies its weights every shared_critic_pull_updates of its critic updates.
  shared_critic: bool = False
  shared_critic_pull_updates: int = option(10, at_least(1))


@dataclasses.dataclass
class Config:
  """A whole experiment."""
  name: str = "experiment"
  env: EnvConfig = dataclasses.field(default_factory=EnvConfig)
  data: DataConfig = dataclasses.field(default_factory=DataConfig)
  policy: PolicyConfig = dataclasses.field(default_factory=PolicyConfig)
  critic: CriticConfig = dataclasses.field(default_factory=CriticConfig)
  train: TrainConfig = dataclasses.field(default_factory=TrainConfig)
  reward: RewardConfig = dataclasses.field(default_factory=RewardConfig)
  critic_training: CriticTrainingConfig = dataclasses.field(default_factory=CriticTrainingConfig)
  actors: ActorsConfig = dataclasses.field(default_factory=ActorsConfig)
  pbt: PbtConfig = dataclasses.field(default_factory=PbtConfig)

  def to_dict(self) -> Dict[str, Any]:
    return dataclasses.asdict(self)


SECTIONS = {f.name: f.default_factory for f in dataclasses.fields(Config) if f.name != "name"}


def section_kwargs(section) -> Dict[str, Any]:
  """A section's values as a dict of keyword arguments (e.g. ``PolicyNetwork(**...)``)."""
  return {f.name: getattr(section, f.name) for f in dataclasses.fields(section)}
