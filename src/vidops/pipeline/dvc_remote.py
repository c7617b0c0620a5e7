"""A DVC remote in the loop: push what a run produced, get a registered version back.

After a successful run in a project with a default DVC remote, :func:`push_run` pushes
the data (``data.dvc``) and every cached stage output (``dvc.lock``) to it, and records
on the run's MLflow model version what is needed to get them back: the git commit (tag
``git_commit``, set by register) plus a snapshot of the files that pin the outputs
(``dvc.lock``, ``data.dvc``, ``params.yaml``, ``dvc.yaml`` and the small outputs that DVC
keeps out of its cache, such as ``reports/metrics.json``), logged as run artifacts under
``dvc/``. They are uncommitted at run time, which is why the commit alone is not enough.
:func:`restore_version` writes that snapshot into a clone at the commit and runs
``dvc pull``: the same model file and metrics, byte for byte.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from vidops.errors import VidopsError
from vidops.registry import snapshots
from vidops.registry.provenance import git_commit
from vidops.registry.tracking import tracking_uri

log = logging.getLogger(__name__)

PINNING_FILES = ("dvc.lock", "data.dvc", "params.yaml", "dvc.yaml")


class RemoteError(VidopsError, RuntimeError):
    """Pushing or restoring cannot be done; the message says why and what to do."""


@dataclass(frozen=True)
class PushResult:
    remote: str  # its name in .dvc/config
    url: str
    pushed: int  # files uploaded (0: the remote had them all)
    version: str | None  # the model version the snapshot was recorded on


def default_remote(root: Path) -> tuple[str, str] | None:
    """(name, url) of the project's default DVC remote, or None."""
    from dvc.repo import Repo

    with Repo(str(root)) as repo:
        name = repo.config["core"].get("remote")
        if not name:
            return None
        return name, str(repo.config["remote"].get(name, {}).get("url", ""))


def _uncached_files(root: Path) -> list[str]:
    """Stage outputs with ``cache: false`` that are files (DVC does not push them)."""
    from dvc.repo import Repo

    with Repo(str(root)) as repo:
        paths = [Path(out.fs_path).relative_to(root.resolve()).as_posix()
                 for stage in repo.index.stages for out in stage.outs if not out.use_cache]
    return sorted(p for p in paths if (root / p).is_file())


def push_run(root: Path, promotion_path: Path) -> PushResult | None:
    """Push this run's data and outputs; record the snapshot on its model version.

    None when the project has no default remote (nothing to do). ``promotion_path``:
    register's report, naming the model version and its MLflow run.
    """
    from dvc.exceptions import DvcException
    from dvc.repo import Repo

    from vidops.registry.decision import Decision

    root = root.resolve()
    remote = default_remote(root)
    if remote is None:
        return None
    try:
        with Repo(str(root)) as repo:
            pushed = repo.push()
    except DvcException as err:
        raise RemoteError(f"dvc push to remote {remote[0]!r} ({remote[1]}) failed: {err}; the "
                          "run's results are in the local cache, `dvc push` retries") from None
    version = None
    if promotion_path.is_file():
        promotion = Decision.read(promotion_path)
        version = str(promotion.version)
        _record(root, promotion.model_name, version, promotion.run_id, remote)
    log.info("pushed %d files to DVC remote %s (%s)", pushed, remote[0], remote[1])
    return PushResult(remote[0], remote[1], int(pushed), version)


def _record(root: Path, name: str, version: str, run_id: str, remote: tuple[str, str]) -> None:
    files = [f for f in PINNING_FILES if (root / f).is_file()] + _uncached_files(root)
    snapshots.record_push(tracking_uri(root), name, version, run_id, f"{remote[0]} {remote[1]}",
                          root, files)


@dataclass(frozen=True)
class RestoreResult:
    version: str
    git_commit: str
    files: list[str]  # snapshot files written into the project


def restore_version(root: Path, name: str, version: str, force: bool = False) -> RestoreResult:
    """Write version ``version``'s snapshot into ``root`` and `dvc pull` its data and outputs.

    ``root`` should be a clone checked out at the version's ``git_commit``; another commit
    is refused unless ``force`` (the code would not be the code that trained it).
    """
    from dvc.exceptions import DvcException
    from dvc.repo import Repo

    root = root.resolve()
    uri = tracking_uri(root)
    commit = snapshots.pushed_commit(uri, name, version).removesuffix("-dirty")
    here = git_commit(root).removesuffix("-dirty")
    if commit != here and not force:
        raise RemoteError(f"{root} is at commit {here}, version {version} was trained at "
                          f"{commit}: `git checkout {commit}` first (or --force)")
    with tempfile.TemporaryDirectory(prefix="vidops-restore-") as tmp:
        local = snapshots.download_snapshot(uri, name, version, Path(tmp))
        files = sorted(p.relative_to(local).as_posix() for p in local.rglob("*") if p.is_file())
        for rel in files:
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(local / rel, root / rel)
    try:
        with Repo(str(root)) as repo:
            repo.pull()
    except DvcException as err:
        raise RemoteError(f"dvc pull of version {version} failed: {err}") from None
    return RestoreResult(str(version), commit, files)
