"""The promotion gate: a pure decision, so it can be tested without MLflow.

Rules (``register.gate``):

- ``paired`` (default): the challenger and the re-scored champion are compared on the
  same test clips by a paired bootstrap of the macro F1 difference; promote when the
  lower end of its 95% interval is above ``-min_delta``: the challenger is not credibly
  worse than the champion by more than ``min_delta``. A lucky score on a small test split
  does not pass for a better model, and an equally good retrain on fresher data is not
  blocked forever either, once the test split is large enough to say so.
- ``paired_better``: promote only when the lower end is above 0: credibly better.
- ``point``: promote when macro F1 >= the champion's + ``min_delta`` (the rule before
  intervals; kept for comparison and for large test splits).

Whatever the rule: never below ``min_f1``; and never when the challenger's recall on some
class is more than ``max_class_drop`` under the champion's (better on average but blind
to one class is a regression a team must see).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from vidops.evaluation.intervals import PairedDifference, paired_difference
from vidops.evaluation.metrics import classification_summary

RULES = ("paired", "paired_better", "point")


@dataclass(frozen=True)
class GateDecision:
    promote: bool
    reason: str
    class_drops: dict[str, float] = field(default_factory=dict)  # classes over max_class_drop


def decide(candidate_f1: float, champion_f1: float | None, min_f1: float, min_delta: float,
           rule: str = "point", paired: PairedDifference | None = None,
           recalls: dict[str, tuple[float, float]] | None = None,
           max_class_drop: float = 1.0) -> GateDecision:
    """Promote or not, and why.

    ``champion_f1`` and ``paired`` must come from the champion re-scored on today's test
    split, not its old tag. ``recalls``: class -> (challenger recall, champion recall).
    """
    if rule not in RULES:
        raise ValueError(f"register.gate must be one of {', '.join(RULES)}, got {rule!r}")
    if candidate_f1 < min_f1:
        return GateDecision(False, f"macro F1 {candidate_f1:.4f} is below min_f1 {min_f1:.4f}")
    if champion_f1 is None:
        return GateDecision(True, f"macro F1 {candidate_f1:.4f} >= min_f1 {min_f1:.4f} "
                                  "and there is no champion yet")
    drops = {c: round(champ - cand, 6) for c, (cand, champ) in sorted((recalls or {}).items())
             if champ - cand > max_class_drop}
    if drops:
        named = ", ".join(f"{c} (recall {recalls[c][0]:.2f} vs champion {recalls[c][1]:.2f})"
                          for c in drops)
        return GateDecision(False, f"recall drops by more than max_class_drop {max_class_drop:.2f} "
                                   f"on class {named}", drops)
    if rule == "point":
        bar = champion_f1 + min_delta
        sign = ">=" if candidate_f1 >= bar else "<"
        return GateDecision(candidate_f1 >= bar, f"macro F1 {candidate_f1:.4f} {sign} champion "
                                                 f"{champion_f1:.4f} + min_delta {min_delta:.4f}")
    if paired is None:
        raise ValueError(f"register.gate {rule} needs the paired comparison")
    low, high = paired.ci
    bar = -min_delta if rule == "paired" else 0.0
    passed = low > bar
    if rule == "paired":
        verdict = ("not credibly worse than" if passed else
                   f"may be worse by more than min_delta {min_delta:.4f} than")
    else:
        verdict = "credibly better than" if passed else "not credibly better than"
    return GateDecision(passed, (
        f"{verdict} champion: macro F1 difference {paired.difference:+.4f}, 95% interval "
        f"[{low:+.4f}, {high:+.4f}] ({paired.units} {paired.unit}s resampled); lower end "
        f"{'>' if passed else '<='} {bar:+.4f} ({rule} rule)"))


def compare(truth: list[str], candidate: list[str], champion: list[str], groups: list[str]
            ) -> tuple[float, PairedDifference, dict[str, tuple[float, float]]]:
    """Champion macro F1, the paired difference and per-class (challenger, champion) recalls."""
    classes = sorted(set(truth) | set(candidate) | set(champion))
    champ = classification_summary(truth, champion, classes)
    cand = classification_summary(truth, candidate, classes)
    recalls = {c: (cand["per_class"][c]["recall"], champ["per_class"][c]["recall"])
               for c in sorted(set(truth))}
    return (float(champ["macro_f1"]), paired_difference(truth, candidate, champion, classes, groups),
            recalls)
