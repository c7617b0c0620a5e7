"""The challenger beside the champion, clip by clip: what the gate (gate.py) compares.

The challenger's answers are evaluate's predictions; the champion's are its own pyfunc's
on the same raw test clips (its own frame sampler), so the two are paired clip by clip.
Re-scoring runs the champion's model, so it is the register stage's (registry never
imports torch, not even through serving).
"""

from __future__ import annotations

import csv
from pathlib import Path

from vidops.errors import VidopsError
from vidops.evaluation.intervals import PairedDifference
from vidops.registry.champion import current_champion
from vidops.registry.gate import compare
from vidops.registry.provenance import PROVENANCE


class ComparisonError(VidopsError, ValueError):
    """The champion cannot be compared with the challenger on the same test clips."""


def compare_with_champion(predictions: Path, champion: list[str], test: list
                          ) -> tuple[float, PairedDifference, dict[str, tuple[float, float]]]:
    """The champion's macro F1 on ``test`` (``champion``: its answers, re-scored by its own
    pyfunc on the raw clips), the paired difference and each class's recall (challenger,
    champion): what ``gate.decide`` takes."""
    return compare([c.label for c in test], read_predictions(predictions, test), champion,
                   [c.group for c in test])


def twin_of_champion(client, name: str, provenance: dict[str, str]) -> str | None:
    """The champion's version when it was made from this very code, data and params."""
    from mlflow.exceptions import MlflowException

    champion = current_champion(client, name)
    if champion is None or provenance["git_commit"] == "unknown":
        return None
    try:
        tags = client.get_model_version(name, champion).tags
    except MlflowException:
        return None
    return champion if all(tags.get(k) == provenance[k] for k in PROVENANCE) else None


def read_predictions(path: Path, clips: list) -> list[str]:
    """The challenger's label for each of ``clips``, from evaluate's predictions CSV."""
    with path.open(newline="") as handle:
        by_id = {row["clip_id"]: row["predicted"] for row in csv.DictReader(handle)}
    missing = [c.clip_id for c in clips if c.clip_id not in by_id]
    if missing:
        raise ComparisonError(f"{path}: no prediction for test clip(s) {missing[:3]}: re-run evaluate")
    return [by_id[c.clip_id] for c in clips]
