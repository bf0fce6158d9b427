"""Benchmark: does the configured critic's reward carry the l2 signal? (issue 8)

  python tools/bench_critic_signal.py --config configs/mnist_conditional.json \
      --set data.path=../shared/data/mnist [--set critic_training.loss=non_saturating ...] \
      [--updates 400] [--targets 64]

Trains the config's critic (builder.make_critic, critic_loss_fn, CriticLearner
with critic_training.loss, input and fakes, critic.spectral_norm) for
--updates steps on training images against fakes made without an agent:
half the fake episodes are random programs, half the ink oracle's
(eval/scripted_programs: greedy strokes along the target's missing ink, 20%
random steps), stored in a replay by critic_training.fakes (final canvases, or
also intermediate ones). Then, on held-out targets:
  spearman        mean per-target Spearman correlation between the reward
                  (builder.score_fn) and -l2 over candidates from blank to
                  the target: blank, a random program, the oracle's
                  reconstruction, the target with 75/50/25% of its ink
                  erased, blurred by 1.5 and 0.75 px, and the target;
  sign_agreement  how often the reward's step differences along recorded
                  programs agree in sign with the step's l2 improvement,
                  over the steps that change l2. The programs are the
                  oracle's (mostly improving steps) and random programs'
                  (mostly worsening ones) on the same targets, so a critic
                  that merely likes (or dislikes) ink cannot score well.
Prints a table, then as its last line a JSON object with spearman,
sign_agreement and the settings.
"""
import argparse
import json
import time

import numpy as np

import spiral_tf  # noqa: F401  (selects Keras 2 before TensorFlow loads)
from spiral_tf import cli
from spiral_tf import config as config_lib


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  cli.add_debug_flag(parser)
  parser.add_argument("--config", default="configs/mnist_conditional.json")
  parser.add_argument("--profile", default="cpu")
  parser.add_argument("--set", action="append", default=[], help="section.key=value override")
  parser.add_argument("--updates", type=cli.positive_int, default=400, help="critic updates")
  parser.add_argument("--fake-episodes", type=cli.positive_int, default=256,
                      help="episodes painted for the fakes, one per training image")
  parser.add_argument("--targets", type=cli.positive_int, default=64, help="held-out targets")
  parser.add_argument("--seed", type=int, default=0)
  args = parser.parse_args(argv)
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  import tf_keras as keras  # pylint: disable=g-import-not-at-top
  from spiral_tf.eval import critic_signal  # pylint: disable=g-import-not-at-top
  from spiral_tf.eval import sample_scores  # pylint: disable=g-import-not-at-top
  from spiral_tf.eval import scripted_programs  # pylint: disable=g-import-not-at-top
  from spiral_tf.training import builder  # pylint: disable=g-import-not-at-top
  from spiral_tf.training import critic_learner as critic_learner_lib  # pylint: disable=g-import-not-at-top
  from spiral_tf.training import devices  # pylint: disable=g-import-not-at-top
  from spiral_tf.training import replay as replay_lib  # pylint: disable=g-import-not-at-top

  cfg = config_lib.load(args.config, args.profile, args.set + ["reward.kind=critic"])
  if cfg.env.domain != "libmypaint":
    raise cli.UserError(f"bench_critic_signal paints with libmypaint; {args.config} is "
                        f"{cfg.env.domain!r}")
  t, c = cfg.train, cfg.critic_training
  devices.set_threads(t.learner_threads, print)
  # Keras 2's unseeded initializers ignore tf.random.set_seed alone; this seeds them too.
  keras.utils.set_random_seed(args.seed)
  start = time.perf_counter()
  make_env = builder.env_factory(cfg)
  env = make_env()
  train_images = builder.load_images(cfg, "train", 10 ** 6)  # all of them
  held_out = builder.load_images(cfg, "test", args.targets)
  fake_targets = train_images[:args.fake_episodes]
  episodes = critic_signal.fake_episodes(make_env, fake_targets, seed=args.seed)
  replay = replay_lib.RenderReplay(args.fake_episodes * (cfg.env.episode_length + 1),
                                   env.observation_spec()["canvas"].shape, t.conditional,
                                   seed=args.seed, fakes=c.fakes)
  critic_signal.add_to_replay(replay, episodes, fake_targets if t.conditional else None)

  critic = builder.make_critic(cfg, env)
  optimizer = keras.optimizers.Adam(c.learning_rate, beta_1=c.beta1)
  # pylint: disable-next=protected-access
  critic_fn = builder.critic_fn(cfg, critic, training=True)
  learner = critic_learner_lib.CriticLearner(critic, optimizer, tf.distribute.get_strategy(),
                                             loss_fn=builder.critic_loss_fn(cfg),
                                             critic_fn=critic_fn)
  painted = time.perf_counter()
  terms = critic_signal.train_critic(learner, train_images, replay, t.batch_size, args.updates,
                                     seed=args.seed)
  trained = time.perf_counter()

  # Held-out programs and candidates.
  rng = np.random.default_rng(args.seed + 1)
  eval_env = make_env()
  oracle = [scripted_programs.play(eval_env, scripted_programs.InkOracle(), x, rng)
            for x in held_out]
  randoms = [scripted_programs.play(eval_env, scripted_programs.random_choice, x, rng)
             for x in held_out]
  eval_env.close()
  cands = np.stack([critic_signal.candidates(x, r.canvases[-1], o.canvases[-1], rng)
                    for x, r, o in zip(held_out, randoms, oracle)])  # [N, K, S, S, C]
  score = builder.score_fn(cfg, critic)
  condition = held_out[:, None] if t.conditional else None
  cand_scores = critic_signal.scores_of(score, cands, condition)  # [N, K]
  cand_l2 = critic_signal.l2(cands, held_out[:, None])            # [N, K]
  per_target = critic_signal.ranking(cand_scores, cand_l2)
  agreement = {}
  for kind, eps in (("oracle", oracle), ("random", randoms)):
    canvases = np.stack([e.canvases for e in eps])  # [N, T + 1, S, S, C]
    agreement[kind] = sample_scores.sign_agreement(
        critic_signal.scores_of(score, canvases, condition),
        critic_signal.l2(canvases, held_out[:, None]))
  counted = sum(n for _, n in agreement.values())
  overall = sum(r * n for r, n in agreement.values() if n) / max(counted, 1)
  done = time.perf_counter()

  print(f"critic: loss {c.loss}, input {c.input if t.conditional else 'image'}, "
        f"fakes {c.fakes}, spectral norm {cfg.critic.spectral_norm}; {args.updates} "
        f"updates of {t.batch_size} on {len(replay)} replayed fakes from {args.fake_episodes} "
        f"episodes ({time.perf_counter() - start:.0f} s)")
  print(f"{'candidate':24s} {'mean score':>10s} {'mean l2':>9s}")
  for k, name in enumerate(critic_signal.CANDIDATES):
    print(f"{name:24s} {cand_scores[:, k].mean():10.3f} {cand_l2[:, k].mean():9.4f}")
  valid = per_target[~np.isnan(per_target)]
  print(f"spearman(score, -l2) over {len(critic_signal.CANDIDATES)} candidates: mean "
        f"{valid.mean():.3f} over {len(valid)} targets (min {valid.min():.2f})")
  for kind, (rate, n) in agreement.items():
    print(f"sign agreement along {kind} programs: {rate:.3f} of {n} steps that change l2")
  report = dict(
      spearman=float(valid.mean()), sign_agreement=float(overall),
      sign_agreement_oracle=agreement["oracle"][0], sign_agreement_random=agreement["random"][0],
      steps_counted=counted, targets=len(held_out), candidates=list(critic_signal.CANDIDATES),
      config=args.config, profile=args.profile, overrides=args.set, updates=args.updates,
      fake_episodes=args.fake_episodes, replayed_fakes=len(replay), batch_size=t.batch_size,
      conditional=t.conditional, critic_loss=c.loss, critic_input=c.input,
      critic_fakes=c.fakes, spectral_norm=cfg.critic.spectral_norm,
      critic_terms=terms, seconds=dict(fakes=round(painted - start, 1),
                                       training=round(trained - painted, 1),
                                       measuring=round(done - trained, 1)))
  print(json.dumps(report))
  return 0


if __name__ == "__main__":
  # The same settings give the same numbers (float sums in a fixed order);
  # process-wide, so only for the command line, not for callers of main().
  import tensorflow  # pylint: disable=g-import-not-at-top
  tensorflow.config.experimental.enable_op_determinism()
  cli.run(main)
