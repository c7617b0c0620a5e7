"""`vidops import`: bring new clips into data/raw and version them with DVC.

Sources are a folder per class (``SOURCE/<label>/<clip>``) or a folder with
``labels.csv`` (``file,label[,group]``, ``file`` relative to SOURCE). Every label is
checked before anything is copied; identical bytes already present are skipped and
reported; groups are kept in ``data/raw/labels.csv`` so that ingest can split by them.
"""

from __future__ import annotations

import csv
import logging
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from vidops.data.labels import LabelError, check_label
from vidops.errors import DataError
from vidops.fileio import atomic_write, sha256_file

log = logging.getLogger(__name__)

RAW_LABELS = "labels.csv"  # inside data/raw: file,label,group of every imported clip


@dataclass(frozen=True)
class Candidate:
    source: Path
    label: str
    group: str  # "" when the source gives none


@dataclass
class ImportResult:
    copied: list[Path] = field(default_factory=list)  # new files under data/raw
    duplicates: list[tuple[Path, Path]] = field(default_factory=list)  # (source, existing copy)
    conflicts: list[str] = field(default_factory=list)  # same bytes, another label: not copied
    ignored: list[str] = field(default_factory=list)  # not a video extension, with reason
    dvc_added: bool = False


def find_candidates(source: Path, extensions: tuple[str, ...], group_column: str = "group"
                    ) -> tuple[list[Candidate], list[str]]:
    """Clips named by ``source`` and the files left out with the reason."""
    if not source.is_dir():
        raise FileNotFoundError(f"{source}: not a folder")
    labels_csv = source / "labels.csv"
    if labels_csv.is_file():
        return _from_labels_csv(labels_csv, extensions, group_column), []
    found, ignored = [], []
    for path in sorted(source.rglob("*")):
        if not path.is_file() or path.name.startswith("."):
            continue
        rel = path.relative_to(source)
        if not path.resolve().is_relative_to(source.resolve()):
            # labels.csv mode refuses the same: a link must not import /etc/... into data/raw,
            # the DVC cache and the remote.
            ignored.append(f"{path}: refused, a symbolic link to {path.resolve()}, outside {source}")
        elif len(rel.parts) < 2:
            ignored.append(f"{path}: not inside a class folder")
        elif path.suffix.lower() not in extensions:
            ignored.append(f"{path}: extension {path.suffix!r} is not a video extension")
        else:
            found.append(Candidate(path, check_label(rel.parts[0], str(path.parent)), ""))
    if not found and ignored:
        raise DataError(f"{source}: no clip to import ({len(ignored)} file(s) found, none in a "
                        f"class folder): put clips in {source}/<label>/<clip>, or list them in "
                        f"{source}/labels.csv with columns file,label[,group]")
    return found, ignored


def _from_labels_csv(labels_csv: Path, extensions: tuple[str, ...], group_column: str
                     ) -> list[Candidate]:
    with labels_csv.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        columns = reader.fieldnames or []
        if "file" not in columns or "label" not in columns:
            raise LabelError(f"{labels_csv}: needs columns 'file' and 'label', has {columns}")
        rows = list(reader)
    found = []
    for line, row in enumerate(rows, start=2):
        where = f"{labels_csv}:{line}"
        path = (labels_csv.parent / row["file"]).resolve()
        if not path.is_relative_to(labels_csv.parent.resolve()):
            raise LabelError(f"{where}: file {row['file']!r} lies outside {labels_csv.parent}")
        if not path.is_file():
            raise FileNotFoundError(f"{where}: file {row['file']!r} does not exist")
        if path.suffix.lower() not in extensions:
            raise LabelError(f"{where}: {row['file']!r} does not have a video extension")
        group = (row.get(group_column) or "").strip()
        found.append(Candidate(path, check_label(row["label"] or "", where), group))
    return found


def import_clips(source: Path, raw_dir: Path, extensions: tuple[str, ...],
                 group_column: str = "group", dvc_root: Path | None = None,
                 new_classes: bool = True) -> ImportResult:
    """Copy new clips from ``source`` into ``raw_dir/<label>/``; ``dvc add`` when ``dvc_root``.

    ``new_classes`` False: clips of a class the project's data does not have yet are refused
    before anything is written (a model over other classes is another task: the demo's
    four classes plus a user's six made a ten-class model nobody asked for)."""
    candidates, ignored = find_candidates(source, extensions, group_column)
    have = _classes(raw_dir)
    added = sorted({c.label for c in candidates} - have)
    if have and added and not new_classes:
        raise DataError(
            f"{source}: brings {len(added)} class(es) this project's data does not have "
            f"({', '.join(added[:10])}{', ...' if len(added) > 10 else ''}; it has "
            f"{', '.join(sorted(have)[:10])}{', ...' if len(have) > 10 else ''}). A model over "
            "both is another task: import into a project of its own, or pass --new-classes "
            "to add them here")
    result = ImportResult(ignored=ignored)
    existing = _existing_hashes(raw_dir)
    groups = read_raw_labels(raw_dir)
    for cand in candidates:
        digest = sha256_file(cand.source)
        if digest in existing:
            present = existing[digest]
            present_label = present.relative_to(raw_dir).parts[0]
            if present_label != cand.label:
                result.conflicts.append(
                    f"{cand.source}: same bytes as {present} (label {present_label!r}) "
                    f"but labelled {cand.label!r}: not imported")
            else:
                result.duplicates.append((cand.source, present))
            continue
        target = _free_name(raw_dir / cand.label / cand.source.name, digest)
        target.parent.mkdir(parents=True, exist_ok=True)
        # atomic: a killed import leaves no half clip under its real name
        with cand.source.open("rb") as source:
            atomic_write(target, lambda handle, source=source: shutil.copyfileobj(source, handle))
        existing[digest] = target
        result.copied.append(target)
        if cand.group:
            groups[target.relative_to(raw_dir).as_posix()] = (cand.label, cand.group)
    if groups:
        _write_groups(raw_dir, groups)
    if dvc_root is not None and (result.copied or not (dvc_root / "data.dvc").exists()):
        dvc_add_raw(dvc_root, raw_dir)
        result.dvc_added = True
    return result


def _classes(raw_dir: Path) -> set[str]:
    """The classes of the clips already in ``raw_dir`` (folders holding a file)."""
    if not raw_dir.is_dir():
        return set()
    return {d.name for d in raw_dir.iterdir() if d.is_dir() and not d.name.startswith(".")
            and any(p.is_file() for p in d.rglob("*"))}


def _existing_hashes(raw_dir: Path) -> dict[str, Path]:
    if not raw_dir.is_dir():
        return {}
    return {sha256_file(p): p for p in sorted(raw_dir.rglob("*"))
            if p.is_file() and p.parent != raw_dir and not p.name.startswith(".")}


def _free_name(target: Path, digest: str) -> Path:
    """``target`` itself, or the name with the clip id added when another clip holds it."""
    if not target.exists():
        return target
    return target.with_name(f"{target.stem}-{digest[:16]}{target.suffix}")


def read_raw_labels(raw_dir: Path) -> dict[str, tuple[str, str]]:
    """``data/raw/labels.csv`` as written by `vidops import`: file (relative to data/raw) ->
    (label, group). The one reader of that file (ingest takes the groups from it)."""
    path = raw_dir / RAW_LABELS
    if not path.is_file():
        return {}
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        if not {"file", "group"} <= set(reader.fieldnames or []):
            raise DataError(f"{path}: needs columns 'file' and 'group', has {reader.fieldnames}")
        return {row["file"]: ((row.get("label") or "").strip(), (row["group"] or "").strip())
                for row in reader}


def _write_groups(raw_dir: Path, groups: dict[str, tuple[str, str]]) -> None:
    def write(handle) -> None:
        writer = csv.writer(handle)
        writer.writerow(["file", "label", "group"])
        for file, (label, group) in sorted(groups.items()):
            writer.writerow([file, label, group])

    atomic_write(raw_dir / RAW_LABELS, write, text=True)


def dvc_add_raw(root: Path, raw_dir: Path) -> None:
    """Version ``raw_dir`` in a ``data.dvc`` at the project root.

    ``dvc add data/raw`` writes ``data/raw.dvc``; we keep the dataset's version in one
    well-known file at the root instead, with ``path:`` pointing back at ``data/raw``.
    A later ``dvc add data/raw`` finds the output in that file and updates it in place.
    """
    rel = raw_dir.resolve().relative_to(root.resolve()).as_posix()
    root_file = root / "data.dvc"
    written = root / f"{rel}.dvc"
    if root_file.exists() and written.exists():
        # An import killed between the two steps below: data.dvc was already written from
        # this file (atomically), so it is the leftover; DVC refuses an output tracked twice.
        log.warning("%s: left by an interrupted import (data.dvc holds its record); removed",
                    written)
        written.unlink()
    done = subprocess.run(["dvc", "add", "--quiet", rel], cwd=root, capture_output=True, text=True)
    if done.returncode != 0:
        said = (done.stderr or done.stdout).strip() or f"no message; `dvc add {rel}` shows why"
        raise DataError(f"`dvc add {rel}` failed in {root}: {said}")
    if root_file.exists():
        return  # dvc found the output in data.dvc and updated it in place
    text = written.read_text(encoding="utf-8")
    # Paths in a .dvc file are relative to the file itself.
    text = text.replace(f"path: {Path(rel).name}\n", f"path: {rel}\n")
    atomic_write(root_file, lambda handle: handle.write(text), text=True)
    written.unlink()
