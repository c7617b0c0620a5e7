"""``reports/metrics.json``: the figures evaluate writes, as one typed record.

Every reader (register, the summary, the Prefect artifact, the version description, the
CLI) goes through :class:`TestFigures`, never through string keys of the JSON.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vidops.errors import DataError
from vidops.fileio import atomic_write_json


@dataclass(frozen=True)
class RecipeCV:
    status: str  # "scored", or why it did not run
    folds: int = 0
    clips: int = 0
    groups: int = 0
    macro_f1: float | None = None
    macro_f1_ci: list[float] = field(default_factory=list)
    accuracy: float | None = None
    fold_f1: list[float] = field(default_factory=list)
    fold_winner: list[str] = field(default_factory=list)  # the architecture each fold chose
    # No wall time here: the same data and params write the same metrics.json (its cost is
    # the MLflow metric cv_seconds and the log line).
    bootstrap: dict = field(default_factory=dict)

    def scores(self) -> dict[str, float]:
        """The flat figures of ``scores.json`` (nothing when it did not run)."""
        if self.macro_f1 is None:
            return {}
        low, high = self.macro_f1_ci
        return {"cv_macro_f1": round(self.macro_f1, 4), "cv_macro_f1_low": round(low, 4),
                "cv_macro_f1_high": round(high, 4)}


@dataclass(frozen=True, kw_only=True)
class TestFigures:
    """The fields in the order metrics.json has always had them (a pure restructure of the
    code that writes it changes no byte of it)."""

    __test__ = False  # not a pytest test class, whatever its name

    views: int | None = None  # video level only: views averaged per video
    accuracy: float
    n_clips: int
    macro_precision: float
    macro_recall: float
    macro_f1: float
    weighted_precision: float
    weighted_recall: float
    weighted_f1: float
    per_class: dict[str, dict[str, float]]  # class -> precision, recall, f1, support
    classes: list[str]
    confusion_matrix: list[list[int]]
    most_confused: list[dict[str, Any]]
    accuracy_ci: list[float]  # 95%, bootstrap over groups
    macro_f1_ci: list[float]
    bootstrap: dict[str, Any]
    level: str | None = None  # "clip": what the gate compares, one centred view per clip
    video_level: TestFigures | None = None  # the same figures over several views per video
    recipe_cv: RecipeCV | None = None  # the whole recipe, cross-validated over every clip
    # which model folder (file digests) and predictions file these figures belong to
    scored: dict[str, Any] | None = None

    @classmethod
    def of(cls, figures: dict[str, Any]) -> TestFigures:
        """From the summary dicts evaluation computes; keys it does not know are refused."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(figures) - names)
        if unknown:
            raise ValueError(f"not figures of metrics.json: {unknown}")
        return cls._typed(figures)

    @classmethod
    def _typed(cls, data: dict[str, Any]) -> TestFigures:
        known = {f.name: data[f.name] for f in dataclasses.fields(cls) if f.name in data}
        if isinstance(known.get("video_level"), dict):
            known["video_level"] = cls._typed(known["video_level"])
        if isinstance(known.get("recipe_cv"), dict):
            cv = known["recipe_cv"]
            known["recipe_cv"] = RecipeCV(**{f.name: cv[f.name] for f in dataclasses.fields(RecipeCV)
                                             if f.name in cv})
        return cls(**known)

    @classmethod
    def read(cls, path: Path) -> TestFigures:
        try:
            return cls._typed(json.loads(path.read_text()))
        except (OSError, ValueError, TypeError) as err:
            raise DataError(f"{path}: not the figures evaluate writes ({err}); run `dvc repro "
                            "evaluate` (or `vidops run`)") from None

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_json(path, self.as_dict())

    def as_dict(self) -> dict[str, Any]:
        """As written to metrics.json: the optional parts only where they are."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        for name in ("views", "level", "video_level", "recipe_cv", "scored"):
            if out[name] is None:
                del out[name]
        if self.video_level is not None:
            out["video_level"] = self.video_level.as_dict()
        if self.recipe_cv is not None:
            out["recipe_cv"] = dataclasses.asdict(self.recipe_cv)
        return out
