"""File helpers every layer may use: content hashes and writes that a kill cannot tear.

``atomic_write`` is the one write-to-temp-then-rename of vidops: the data goes to a
temporary file in the target's folder (same filesystem, so the rename is atomic), and
only a complete file ever appears under the real name. A kill leaves either the old file
or the new one, plus at most a stray ``.<name>.<pid>.tmp`` that the next write replaces.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from vidops.errors import VidopsError


class DiskFull(VidopsError, OSError):
    """A write ran out of space; the file it was replacing is intact."""


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes, read in chunks (clips can be large)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def digest_bytes(data: bytes) -> str:
    """The content digest vidops records for what it reuses (frames, features): BLAKE2b-128."""
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def digest_file(path: Path, chunk: int = 1 << 20) -> str:
    """``digest_bytes`` of a file's content, read in chunks."""
    digest = hashlib.blake2b(digest_size=16)
    with path.open("rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


# digest_file by what the file system says about the file. Every stage checks each clip's
# frames against extract's digest, and the feature cache names entries by the same digest;
# a recipe cross-validation looks every clip up some 40 times. Hashing 2.4 MB each time was
# 15 of 130 s of an evaluate on 120 clips. A rewritten file (new mtime, size or inode) is
# hashed again.
_DIGESTS: dict[tuple[str, int, int, int], str] = {}


def file_digest(path: Path) -> str:
    """``digest_file(path)``, read and hashed once per version of the file per process."""
    st = path.stat()
    stamp = (str(path.resolve()), st.st_ino, st.st_size, st.st_mtime_ns)
    found = _DIGESTS.get(stamp)
    if found is None:
        found = _DIGESTS[stamp] = digest_file(path)
    return found


def temp_name(path: Path) -> Path:
    """The temporary sibling ``atomic_write`` uses for ``path`` in this process."""
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def atomic_write(path: Path, write: Callable[[IO[Any]], object], text: bool = False) -> None:
    """Call ``write`` on a temporary file, then rename it to ``path``."""
    tmp = temp_name(path)
    try:
        handle = tmp.open("w", newline="", encoding="utf-8") if text else tmp.open("wb")
        with handle:
            write(handle)
        os.replace(tmp, path)
    except BaseException as err:
        tmp.unlink(missing_ok=True)  # never a 0-byte or partial temp file left behind
        if isinstance(err, OSError) and err.errno in (errno.ENOSPC, errno.EDQUOT):
            raise DiskFull(f"{path}: no space left on the device (or quota exceeded) while "
                           f"writing it; the previous version of the file is untouched. Free "
                           f"space and run again.") from err
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda handle: handle.write(text), text=True)


def atomic_write_json(path: Path, value: Any) -> None:
    atomic_write_text(path, json.dumps(value, indent=2) + "\n")


def digest_path(path: Path) -> Path:
    """Where ``write_with_digest`` keeps the digest of ``path``'s bytes: ``<name>.b2`` beside it."""
    return path.with_name(path.name + ".b2")


def write_with_digest(path: Path, data: bytes) -> None:
    """``data`` to ``path``, then its digest beside it. The digest goes last: a file without
    a matching one was not finished (or was changed since) and is never trusted."""
    atomic_write(path, lambda handle: handle.write(data))
    atomic_write(digest_path(path), lambda handle: handle.write(digest_bytes(data).encode()))


def digest_problem(path: Path, data: bytes | None = None) -> str:
    """Why ``path`` is not the file ``write_with_digest`` wrote, or "" when it is.
    ``data``: the file's bytes, when the caller has read them already."""
    check = digest_path(path)
    if not check.is_file():
        return "no digest beside it (not finished, or written by an older release)"
    actual = digest_bytes(data) if data is not None else digest_file(path)
    if actual != check.read_text().strip():
        return "its bytes differ from the digest written with it"
    return ""



# Where DVC runs `dvc exp run --temp` and queued experiments (`--queue`, `--run-all`):
# a fresh copy of the workspace in <project>/.dvc/tmp/exps/<random>/, deleted afterwards
# (dvc.repo.experiments.executor.local.TempDirExecutor).
DVC_EXPERIMENT_WORKSPACES = (".dvc", "tmp", "exps")


def home_project(root: Path) -> Path:
    """The project ``root`` belongs to: itself, or, inside a DVC experiment's temporary
    workspace, the project that queued it. What outlives a run (the MLflow store, the
    feature cache) lives there, so a temporary experiment registers in the project's
    registry and reuses its features instead of making its own and losing them."""
    parts = root.resolve().parts
    n = len(DVC_EXPERIMENT_WORKSPACES)
    for i in range(len(parts) - n, 0, -1):
        if parts[i:i + n] == DVC_EXPERIMENT_WORKSPACES and len(parts) > i + n:
            home = Path(*parts[:i])
            if (home / ".dvc").is_dir():
                return home
    return root.resolve()
