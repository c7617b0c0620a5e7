"""Snapshots on a model version: what a DVC remote push needs to get the version back.

The pipeline pushes data and outputs to the DVC remote; here, on the MLflow side, the
files that pin them (``dvc.lock``, ``data.dvc``, params, uncached reports) are logged as
the run's ``dvc/`` artifacts and the version is tagged with the remote, and read back
for ``vidops restore``.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from vidops.registry.champion import RegistryError

SNAPSHOT_DIR = "dvc"  # artifact folder of the MLflow run


def _client(uri: str):
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def record_push(uri: str, name: str, version: str, run_id: str, where: str, root: Path,
                files: list[str]) -> None:
    """Log ``files`` (relative to ``root``) on the version's run; tag the version with ``where``."""
    client = _client(uri)
    if client.get_model_version(name, version).tags.get("dvc_remote") == where:
        return  # recorded by an earlier run (nothing new was registered since)
    with tempfile.TemporaryDirectory(prefix="vidops-snapshot-") as tmp:
        for rel in files:
            (Path(tmp) / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(root / rel, Path(tmp) / rel)
        client.log_artifacts(run_id, tmp, SNAPSHOT_DIR)
    client.set_model_version_tag(name, version, "dvc_remote", where)
    client.set_model_version_tag(name, version, "dvc_restore",
                                 f"git checkout <git_commit> && vidops restore --version {version}")


def _pushed_version(uri: str, name: str, version: str):
    from mlflow.exceptions import MlflowException

    try:
        mv = _client(uri).get_model_version(name, version)
    except MlflowException as err:
        raise RegistryError(f"{name} has no version {version!r}: {err.message}") from None
    if "dvc_remote" not in mv.tags:
        raise RegistryError(f"{name} version {version} was never pushed to a DVC remote (no "
                            "dvc_remote tag): add one (`dvc remote add -d ...`) before the run")
    return mv


def pushed_commit(uri: str, name: str, version: str) -> str:
    """The git commit a pushed version was trained at."""
    return _pushed_version(uri, name, version).tags.get("git_commit", "unknown")


def download_snapshot(uri: str, name: str, version: str, dest: Path) -> Path:
    """The version's snapshot files, downloaded under ``dest``; returns their folder."""
    import mlflow

    mv = _pushed_version(uri, name, version)
    return Path(mlflow.artifacts.download_artifacts(
        run_id=mv.run_id, artifact_path=SNAPSHOT_DIR, dst_path=str(dest), tracking_uri=uri))
