"""Stage ingest: list data/raw into artifacts/manifest.csv with ids, groups and splits."""

from __future__ import annotations

import csv
import logging
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from vidops.config import IngestConfig
from vidops.importer import RAW_LABELS
from vidops.labels import check_label, clip_id, sha256_file
from vidops.manifest import ClipRecord, write_records
from vidops.splits import split_of

log = logging.getLogger(__name__)


class IngestError(ValueError):
    """data/raw cannot be listed into a manifest; the message names the file."""


@dataclass(frozen=True)
class IngestResult:
    clips: int
    per_split: dict[str, int]
    per_label: dict[str, int]
    skipped: list[str] = field(default_factory=list)  # files that are not clips, with reason


def run_ingest(cfg: IngestConfig, raw_dir: Path, manifest_path: Path) -> IngestResult:
    """One manifest row per clip file under ``raw_dir/<label>/``."""
    if not raw_dir.is_dir():
        raise IngestError(f"{raw_dir}: no such folder (import clips first: vidops import SOURCE)")
    groups = _read_groups(raw_dir)
    records, skipped = [], []
    for path in sorted(raw_dir.rglob("*")):
        if not path.is_file() or path.name.startswith("."):
            continue
        rel = path.relative_to(raw_dir)
        reason = _not_a_clip(rel, path, cfg)
        if reason:
            if rel.as_posix() != RAW_LABELS:
                skipped.append(f"{path}: {reason}")
                log.warning("skipped %s: %s", path, reason)
            continue
        label = check_label(rel.parts[0], f"{raw_dir / rel.parts[0]}")
        digest = sha256_file(path)
        cid = clip_id(digest)
        group = groups.get(rel.as_posix()) or cid
        split = split_of(group, cfg.val_fraction, cfg.test_fraction, cfg.split_salt,
                         cfg.group_splits)
        records.append(ClipRecord(cid, path.as_posix(), label, group, split, digest,
                                  path.stat().st_size))
    if not records:
        raise IngestError(f"{raw_dir}: no clips found (expected {raw_dir}/<label>/<clip>)")
    write_records(manifest_path, records, ClipRecord)
    return IngestResult(
        clips=len(records),
        per_split=dict(Counter(r.split for r in records)),
        per_label=dict(sorted(Counter(r.label for r in records).items())),
        skipped=skipped,
    )


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


def _read_groups(raw_dir: Path) -> dict[str, str]:
    """Groups recorded by `vidops import` in data/raw/labels.csv (file relative to data/raw)."""
    path = raw_dir / RAW_LABELS
    if not path.is_file():
        return {}
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        if not {"file", "group"} <= set(reader.fieldnames or []):
            raise IngestError(f"{path}: needs columns 'file' and 'group'")
        return {row["file"]: row["group"].strip() for row in reader if row["group"].strip()}
