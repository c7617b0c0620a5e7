"""Does clip metadata alone predict the label? A shortcut a video model will happily learn.

When every clip of one class came from another camera (its own resolution, frame rate,
codec or length), a model can score well by reading those properties instead of the
action. A quick group-cross-validated decision tree on the metadata alone measures, per
class, how much of the label it gives away; single-field trees name the fields that
tell the most. Per class, because the usual leak is one class filmed differently: the
macro F1 over all classes dilutes it.

File size is deliberately not a field: it depends on the content (motion costs bits,
a still scene compresses to little), so it predicts the action for honest reasons. On
the demo data, where the recording is identical for every class, adding it moved the
per-class F1 of 'spin' from 0.31 to 0.52.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

FIELDS = ["duration_s", "decoded_frames", "width", "height", "aspect", "fps", "codec"]
SHAPE_FIELDS = {"width", "height", "aspect"}


@dataclass(frozen=True)
class ClassLeak:
    label: str
    f1: float  # one class's F1 of the metadata-only classifier, out of fold
    chance: float  # its share of the clips: the F1 of guessing at that rate
    limit: float  # above this the metadata gives the class away
    telling: list[str]  # fields that alone find this class best, with values per class

    @property
    def leaks(self) -> bool:
        return self.f1 > self.limit


@dataclass(frozen=True)
class LeakReport:
    ran: bool
    reason: str  # why it did not run, or what was measured
    classes: list[ClassLeak]

    @property
    def leaking(self) -> list[ClassLeak]:
        return [c for c in self.classes if c.leaks]


def metadata_table(table: pd.DataFrame) -> pd.DataFrame:
    """The metadata fields of ``table`` (validate's clip table), one row per decoded clip."""
    usable = table[table["decode_error"].isna()].drop_duplicates("clip_id").copy()
    usable["aspect"] = usable["width"] / usable["height"]
    return usable[["label", "group", *FIELDS]].reset_index(drop=True)


def check_metadata_leak(meta: pd.DataFrame, margin: float, seed: int = 0,
                        folds: int = 5) -> LeakReport:
    """Per class: out-of-fold F1 of a depth-3 tree that sees only the metadata.

    ``margin``: a class leaks when its F1 is over ``chance + margin * (1 - chance)``.
    """
    from sklearn.metrics import f1_score
    from sklearn.model_selection import StratifiedGroupKFold, cross_val_predict
    from sklearn.tree import DecisionTreeClassifier

    labels = sorted(meta["label"].unique())
    k = min(folds, meta["group"].nunique())
    if len(labels) < 2 or k < 2:
        return LeakReport(False, f"needs 2 classes and 2 groups, have {len(labels)} and "
                          f"{meta['group'].nunique()}", [])
    x = meta[FIELDS].copy()
    x["codec"] = x["codec"].astype("category").cat.codes  # a tree splits codes like categories
    x = x.astype(float).to_numpy()
    y, groups = meta["label"].to_numpy(), meta["group"].to_numpy()
    cv = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)

    def per_class_f1(columns: list[int], depth: int) -> np.ndarray:
        tree = DecisionTreeClassifier(max_depth=depth, random_state=seed)
        pred = cross_val_predict(tree, x[:, columns], y, groups=groups, cv=cv)
        return f1_score(y, pred, labels=labels, average=None, zero_division=0)

    overall = per_class_f1(list(range(len(FIELDS))), depth=3)
    single = {name: per_class_f1([i], depth=2) for i, name in enumerate(FIELDS)}
    out = []
    for j, label in enumerate(labels):
        chance = float(np.mean(y == label))
        best = sorted(((f[j], name) for name, f in single.items()), reverse=True)[:2]
        telling = [f"{name} (F1 {f1:.2f} alone; {_per_class(meta, name)})"
                   for f1, name in best if f1 > chance]
        out.append(ClassLeak(label, float(overall[j]), chance,
                             chance + margin * (1.0 - chance), telling))
    return LeakReport(True, f"a depth-3 tree on {', '.join(FIELDS)} over {k} group folds", out)


def _per_class(meta: pd.DataFrame, name: str) -> str:
    """Each class's typical value of one field, e.g. ``wave: 320, walk: 640``."""
    if name == "codec":
        values = meta.groupby("label")[name].agg(lambda s: s.mode().iloc[0])
    else:
        values = meta.groupby("label")[name].median().map(_fmt)
    return ", ".join(f"{label}: {v}" for label, v in values.items())


def _fmt(value: float) -> str:
    return f"{value:.0f}" if abs(value) >= 100 or float(value).is_integer() else f"{value:.2f}"
