"""Stage ingest: list data/raw into artifacts/manifest.csv with ids, groups and splits.

Splits come from the split ledger (splits.py): recorded groups keep their split, new
groups are assigned to balance every class's shares, and the ledger is written back.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from vidops.config import IngestConfig
from vidops.data.labels import check_label, clip_id
from vidops.data.raw_store import RAW_LABELS, read_raw_labels
from vidops.data.records import SPLITS, ClipRecord, read_manifest, write_records
from vidops.data.splits import (
    SplitError,
    Targets,
    assign,
    check_coverage,
    check_unedited,
    read_ledger,
    write_ledger,
    written_splits,
)
from vidops.errors import VidopsError
from vidops.fileio import sha256_file

log = logging.getLogger(__name__)


class IngestError(VidopsError, ValueError):
    """data/raw cannot be listed into a manifest; the message names the file."""


@dataclass(frozen=True)
class IngestResult:
    clips: int
    per_split: dict[str, int]
    per_label: dict[str, int]
    skipped: list[str] = field(default_factory=list)  # files that are not clips, with reason
    per_split_label: dict[str, dict[str, int]] = field(default_factory=dict)  # split -> label -> clips
    new_groups: int = 0  # groups this run added to the ledger
    migrated: bool = False  # the ledger was seeded from the previous manifest


def run_ingest(cfg: IngestConfig, raw_dir: Path, manifest_path: Path,
               ledger_path: Path | None = None) -> IngestResult:
    """One manifest row per clip file under ``raw_dir/<label>/``; the ledger extended.

    ``ledger_path`` None: splits are assigned the same way but not recorded (tests, tools).
    """
    if not raw_dir.is_dir():
        raise IngestError(f"{raw_dir}: no such folder (import clips first: vidops import SOURCE)")
    groups = {f: g for f, (_, g) in read_raw_labels(raw_dir).items() if g}
    rows, skipped = [], []
    for path in sorted(raw_dir.rglob("*")):
        if not path.is_file() or path.name.startswith("."):
            continue
        rel = path.relative_to(raw_dir)
        reason = _not_a_clip(rel, path, cfg)
        if reason:
            if rel.as_posix() != RAW_LABELS:
                # A name that is not UTF-8 is shown with its odd bytes escaped (caf\xe9.mp4):
                # as decoded, it holds surrogates that no UTF-8 file, log or report can take.
                shown = str(path).encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
                skipped.append(f"{shown}: {reason}")
                log.warning("skipped %s: %s", shown, reason)
            continue
        label = check_label(rel.parts[0], f"{raw_dir / rel.parts[0]}")
        digest = sha256_file(path)
        cid = clip_id(digest)
        rows.append((cid, path, label, groups.get(rel.as_posix()) or cid, digest))
    if not rows:
        raise IngestError(f"{raw_dir}: no clips found (expected {raw_dir}/<label>/<clip>)")
    last_run = read_manifest(manifest_path) if manifest_path.is_file() else []
    rows = _groups_kept_on_rename(rows, raw_dir, groups, last_run)
    clips_of: dict[str, Counter] = {}
    for _, _, label, group, _ in rows:
        clips_of.setdefault(group, Counter())[label] += 1
    recorded = read_ledger(ledger_path) if ledger_path else {}
    previous = {r.group: r.split for r in last_run}
    migrated = not recorded and bool(previous) and not (ledger_path and ledger_path.is_file())
    # What each ledger row was written with: an edit shows even without a previous manifest.
    previous = {**(written_splits(ledger_path) if ledger_path else {}), **previous}
    if migrated:  # a project from before the ledger: its current assignment is recorded
        recorded = dict(previous)
    targets = Targets(cfg.val_fraction, cfg.test_fraction)
    try:
        if ledger_path:
            check_unedited(recorded, previous, ledger_path, cfg.group_splits)
        ledger = assign(clips_of, recorded, targets, cfg.split_salt, cfg.group_splits)
        check_coverage(clips_of, ledger, targets, ledger_path or Path("(no ledger file)"))
    except (SplitError, ValueError) as err:
        raise IngestError(str(err)) from None
    if ledger_path:
        write_ledger(ledger_path, ledger)
    records = [ClipRecord(cid, path.as_posix(), label, group, ledger[group], digest,
                          path.stat().st_size) for cid, path, label, group, digest in rows]
    write_records(manifest_path, records, ClipRecord)
    return IngestResult(
        clips=len(records),
        per_split=dict(Counter(r.split for r in records)),
        per_label=dict(sorted(Counter(r.label for r in records).items())),
        skipped=skipped,
        per_split_label={s: dict(sorted(Counter(r.label for r in records if r.split == s).items()))
                         for s in SPLITS},
        new_groups=sum(1 for g in clips_of if g not in recorded),
        migrated=migrated,
    )


def _groups_kept_on_rename(rows: list, raw_dir: Path, groups: dict[str, str],
                           last_run: list[ClipRecord]) -> list:
    """A clip renamed in ``data/raw`` loses its ``labels.csv`` row, and with it its group:
    it would become a group of its own and the leakage rule could no longer see the person.
    Its content is the same, so the previous manifest knows its group: kept, with a warning
    naming the file. Without a previous manifest, ``labels.csv`` rows whose file is gone
    beside clips without a row are refused, naming both (renamed, most likely)."""
    present = {path.relative_to(raw_dir).as_posix() for _, path, _, _, _ in rows}
    stale = sorted(f for f in groups if f not in present)
    unlabelled = present - set(groups)
    if not stale or not unlabelled:
        return rows
    known = {r.clip_id: (r.group, r.path) for r in last_run}
    out, lost = [], []
    for cid, path, label, group, digest in rows:
        was, rowless = known.get(cid), path.relative_to(raw_dir).as_posix() in unlabelled
        if rowless and was and was[0] != cid:
            log.warning("%s: no row in %s/%s; it has the content of %s, so it keeps that "
                        "clip's group %r (renamed? add its row to %s)", path, raw_dir, RAW_LABELS,
                        was[1], was[0], RAW_LABELS)
            group = was[0]
        elif rowless and not known:
            lost.append(path)
        out.append((cid, path, label, group, digest))
    if lost:
        raise IngestError(
            f"{raw_dir / RAW_LABELS}: names {len(stale)} file(s) that are not in {raw_dir} "
            f"({', '.join(stale[:5])}{', ...' if len(stale) > 5 else ''}), and {len(lost)} clip(s) "
            f"have no row ({', '.join(p.relative_to(raw_dir).as_posix() for p in lost[:5])}"
            f"{', ...' if len(lost) > 5 else ''}): renamed clips would lose their group. Give "
            f"them their rows (file,label,group), or remove the stale rows if those clips are gone")
    return out


def _not_a_clip(rel: Path, path: Path, cfg: IngestConfig) -> str:
    try:
        str(rel).encode("utf-8")
    except UnicodeEncodeError:
        return "file name is not valid UTF-8; rename it"
    if len(rel.parts) < 2:
        return "not inside a class folder"
    if path.suffix.lower() not in cfg.extensions:
        return f"extension {path.suffix!r} is not one of ingest.extensions"
    return ""


