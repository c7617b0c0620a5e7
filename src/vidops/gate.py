"""The promotion gate: a pure decision, so it can be tested without MLflow."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class GateDecision:
    promote: bool
    reason: str


def decide(candidate_f1: float, champion_f1: float | None, min_f1: float,
           min_delta: float) -> GateDecision:
    """Promote when macro F1 clears ``min_f1`` and beats the champion by ``min_delta``.

    ``champion_f1`` must be the champion re-scored on today's test split, not its old tag:
    a test split that grew or changed makes old figures incomparable.
    """
    if candidate_f1 < min_f1:
        return GateDecision(False, f"macro F1 {candidate_f1:.4f} is below min_f1 {min_f1:.4f}")
    if champion_f1 is None:
        return GateDecision(True, f"macro F1 {candidate_f1:.4f} >= min_f1 {min_f1:.4f} "
                                  "and there is no champion yet")
    bar = champion_f1 + min_delta
    if candidate_f1 >= bar:
        return GateDecision(True, f"macro F1 {candidate_f1:.4f} >= champion {champion_f1:.4f} "
                                  f"+ min_delta {min_delta:.4f}")
    return GateDecision(False, f"macro F1 {candidate_f1:.4f} < champion {champion_f1:.4f} "
                               f"+ min_delta {min_delta:.4f}")
