"""The split ledger: every group's split, recorded once and never changed afterwards.

Teams with a few hundred clips have a few dozen groups (people, cameras, sessions); a
hash of the group name gives splits far from the asked shares at that size (a 120-clip
set came out 66 / 42 / 12 clips for 60 / 20 / 20 %), and on three groups it left train
empty. Instead:

- a group already in the ledger (``data/splits.csv``) keeps its split forever, so adding
  data never moves a clip;
- a new group goes to the split furthest below its target share, counted in clips per
  class (a group's need for a split weighs each class by the group's clips of it and by
  the class's size), so every class is split close to ``val_fraction`` /
  ``test_fraction`` even with few groups; while some split with a target is still
  empty and no more new groups than empty splits remain, the group fills an empty one,
  so with three groups or more every split gets at least one;
- new groups are taken in the order of a salted hash of their names (not alphabetically:
  ``person1`` would always land in train), so the result is deterministic;
- ``ingest.group_splits`` pins groups and wins over everything (a pin that moves a
  recorded group is reported).

The ledger is an output of the ingest stage that DVC keeps between runs and git
versions beside ``data.dvc``; a project made before the ledger migrates without moving
a clip: its previous manifest's assignment becomes the ledger.

Each row carries a ``check``: a digest of its group and split as ingest wrote them. A split
changed by hand no longer matches its check, and the check tells which split it was
written with, so the edit is refused even when there is no previous manifest to compare
with (``artifacts/manifest.csv`` deleted, a fresh clone before ``dvc pull``).
"""

from __future__ import annotations

import csv
import hashlib
import logging
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from vidops.data.records import SPLITS, Split
from vidops.errors import VidopsError
from vidops.fileio import atomic_write

log = logging.getLogger(__name__)


class SplitError(VidopsError, ValueError):
    """The groups cannot give every split (or every class in a split) its clips."""


@dataclass(frozen=True)
class Targets:
    val: float
    test: float

    def share(self, split: str) -> float:
        return {"train": 1.0 - self.val - self.test, "val": self.val, "test": self.test}[split]

    def __post_init__(self) -> None:
        if not (self.val >= 0 and self.test >= 0 and self.val + self.test < 1):
            raise SplitError(f"bad split fractions val={self.val} test={self.test}")


def row_check(group: str, split: str) -> str:
    """The ``check`` of a ledger row: which split ingest wrote the group with."""
    return hashlib.sha256(f"vidops-ledger\0{group}\0{split}".encode()).hexdigest()[:12]


def read_ledger(path: Path) -> dict[str, Split]:
    """group -> split, as the file says now."""
    return {group: split for group, split, _ in _rows(path)}


def written_splits(path: Path) -> dict[str, Split]:
    """group -> the split ingest wrote it with, for every row whose check says so (a row
    added by hand has none; a ledger from before the checks gives nothing)."""
    out: dict[str, Split] = {}
    for group, _, check in _rows(path):
        for split in SPLITS:
            if check == row_check(group, split):
                out[group] = split
    return out


def _rows(path: Path) -> list[tuple[str, Split, str]]:
    if not path.is_file():
        return []
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        if not {"group", "split"} <= set(reader.fieldnames or []):
            raise SplitError(f"{path}: needs columns 'group' and 'split'")
        rows = []
        for line, row in enumerate(reader, start=2):
            if row["split"] not in SPLITS:
                raise SplitError(f"{path}:{line}: group {row['group']!r} has unknown split "
                                 f"{row['split']!r} (one of {', '.join(SPLITS)})")
            rows.append((row["group"], row["split"], row.get("check") or ""))
    return rows


def write_ledger(path: Path, ledger: Mapping[str, str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)

    def write(handle) -> None:
        writer = csv.writer(handle)
        writer.writerow(["group", "split", "check"])
        for group, split in sorted(ledger.items()):
            writer.writerow([group, split, row_check(group, split)])

    atomic_write(path, write, text=True)


def _order(group: str, salt: str) -> bytes:
    return hashlib.sha256(f"{salt}:{group}".encode()).digest()


def check_unedited(ledger: Mapping[str, str], previous: Mapping[str, str], ledger_path: Path,
                   pinned: Mapping[str, str] | None = None) -> None:
    """Refuse a ledger that disagrees with the split the last run gave a group.

    ``previous``: group -> split of the last run (its manifest, and the split each ledger
    row was written with: ``written_splits``). A group keeps its split forever: a
    ledger row changed or deleted by hand would silently move clips between train and test
    (and make every later figure incomparable). Moving a group on purpose is a pin in
    ``ingest.group_splits``, which is visible in params.yaml and in DVC's params diff.
    """
    pinned = pinned or {}
    for group, split in sorted(previous.items()):
        if pinned.get(group):
            continue
        now = ledger.get(group)
        if now != split:
            change = f"records it in {now}" if now else "no longer records it"
            raise SplitError(
                f"{ledger_path}: group {group!r} had its clips in {split} at the last run, but the "
                f"ledger {change}: the ledger was edited. A group keeps its split; put the row "
                f"back ({group},{split}), or move the group on purpose with ingest.group_splits: "
                f"{{{group}: {now or 'SPLIT'}}}")


def assign(groups: Mapping[str, Counter], ledger: Mapping[str, str], targets: Targets,
           salt: str, pinned: Mapping[str, str] | None = None) -> dict[str, Split]:
    """The ledger extended to every group in ``groups`` (group -> clips per label).

    Groups in ``ledger`` keep their split (unless pinned elsewhere); groups that are no
    longer present stay recorded, so a group that comes back returns to its split.
    """
    pinned = dict(pinned or {})
    for group, split in pinned.items():
        if split not in SPLITS:
            raise SplitError(f"ingest.group_splits: group {group!r} is pinned to unknown split "
                             f"{split!r} (one of {', '.join(SPLITS)})")
    out: dict[str, Split] = dict(ledger)  # type: ignore[arg-type]
    for group, split in pinned.items():
        if group in out and out[group] != split and group in groups:
            log.warning("group %s moves from %s to %s: pinned by ingest.group_splits", group,
                        out[group], split)
        out[group] = split  # type: ignore[assignment]
    totals: Counter = Counter()
    for labels in groups.values():
        totals.update(labels)
    counts = {s: Counter() for s in SPLITS}
    for group, labels in groups.items():
        if group in out:
            counts[out[group]].update(labels)
    wanted = [s for s in SPLITS if targets.share(s) > 0]
    new = sorted((g for g in groups if g not in out), key=lambda g: _order(g, salt))
    for i, group in enumerate(new):
        labels = groups[group]
        empty = [s for s in wanted if not counts[s]]
        choices = empty if empty and len(new) - i <= len(empty) else wanted

        def need(split: str, labels: Counter = labels) -> tuple[float, float]:
            deficit = sum(n * (targets.share(split) - counts[split][c] / totals[c])
                          for c, n in labels.items())
            return deficit, targets.share(split)

        split = max(choices, key=need)  # ties: the larger share, then train, val, test
        out[group] = split
        counts[split].update(labels)
    return out


def check_coverage(groups: Mapping[str, Counter], ledger: Mapping[str, str], targets: Targets,
                   where: Path) -> None:
    """Refuse splits that leave a split, or a class in a split, without clips."""
    present = {g: ledger[g] for g in groups}
    wanted = [s for s in SPLITS if targets.share(s) > 0]
    if len(groups) < len(wanted):
        raise SplitError(
            f"{len(groups)} group(s) ({', '.join(sorted(groups))}) cannot fill the "
            f"{len(wanted)} splits {', '.join(wanted)}: a group never spans two splits. "
            f"Add clips of more groups, or set ingest.val_fraction / test_fraction to 0 for "
            f"a split you do not want")
    by_class: dict[str, dict[str, list[str]]] = {}
    for group, labels in groups.items():
        for label in labels:
            by_class.setdefault(label, {}).setdefault(present[group], []).append(group)
    for label, splits in sorted(by_class.items()):
        for split in wanted:
            if split not in splits:
                having = sorted(g for gs in splits.values() for g in gs)
                raise SplitError(
                    f"class {label!r} has no clip in the {split} split: its clips come from "
                    f"group(s) {', '.join(having[:8])} only, assigned in {where}. Add clips of "
                    f"{label!r} from more groups, or pin one of its groups to {split} with "
                    f"ingest.group_splits")
