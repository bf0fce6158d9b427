"""Keys of the policy learner's acting terms, named by what they measure in each environment.

Two terms are one computation in every environment but mean different
things: the fraction of steps whose mask component was not the no-op, and
the entropy of that component's head. In painting the steps painted and the
component is ``flag``; in MuJoCo Scenes they added or changed an object and
the component is ``kind``. The keys are read from the environment's
``ActionRules``, not written per domain: painting keeps ``paint_fraction`` and
``flag_entropy``, the keys the results pages cite, and MuJoCo Scenes gets
``act_fraction`` (of the family of ``act_prob`` and ``greedy_act_fraction``)
and ``kind_entropy``.
"""
from typing import NamedTuple


class ActingTermNames(NamedTuple):
  """The keys of the acting terms for one environment."""
  verb: str            # what a step that does something does: "paint" or "act"
  acted_fraction: str  # fraction of steps that did something visible
  mask_entropy: str    # mean entropy of the head that decides whether they did


def acting_term_names(rules) -> ActingTermNames:
  """The acting terms' keys for an environment's ``action_rules``."""
  # A domain that draws strokes acts by painting; any other acts in general.
  verb = "paint" if rules.draws_strokes else "act"
  return ActingTermNames(verb, f"{verb}_fraction", f"{rules.mask_component}_entropy")
