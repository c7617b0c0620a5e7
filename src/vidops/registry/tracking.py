"""MLflow set-up, done explicitly by the stages that track (never at import), and the
tracker training reports through.

MLflow is imported inside the functions: `vidops ingest` and friends never pay for it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def tracking_uri(root: Path) -> str:
    """``MLFLOW_TRACKING_URI`` when set (a team's server), else the project's SQLite store."""
    uri = os.environ.get("MLFLOW_TRACKING_URI")
    if uri:
        return uri
    store = root.resolve() / "mlruns"
    store.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{store / 'mlflow.db'}"


def setup_mlflow(root: Path, experiment: str) -> str:
    """Point MLflow at the store and make sure ``experiment`` exists; returns its id."""
    import mlflow

    uri = tracking_uri(root)
    mlflow.set_tracking_uri(uri)
    found = mlflow.get_experiment_by_name(experiment)
    if found is not None:
        return found.experiment_id
    location = None
    if uri.startswith("sqlite:///"):
        # Keep artifacts beside the database under mlruns/, not in the current directory.
        location = (Path(uri.removeprefix("sqlite:///")).parent / "artifacts").resolve().as_uri()
    return mlflow.create_experiment(experiment, artifact_location=location)


class MlflowTracker:
    """What training reports through (``vidops.training.tracker.Tracker``), on MLflow's active run."""

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        import mlflow

        mlflow.log_metrics(metrics, step=step)

    def log_params(self, params: dict[str, Any]) -> None:
        import mlflow

        mlflow.log_params(params)

    def set_tags(self, tags: dict[str, str]) -> None:
        import mlflow

        mlflow.set_tags(tags)

    @contextmanager
    def child(self, name: str) -> Iterator[MlflowTracker]:
        import mlflow

        parent = mlflow.active_run()
        # Nested runs belong in the parent's experiment; without one, MLflow's active experiment.
        experiment_id = parent.info.experiment_id if parent else None
        with mlflow.start_run(run_name=name, nested=True, experiment_id=experiment_id):
            yield self


def settle_children(run_id: str, redo: bool) -> int:
    """Child runs a killed training left under ``run_id``: RUNNING ones are marked KILLED;
    with ``redo`` (the model selection they belong to runs again) all are deleted, so the
    resumed run does not collect two sets of ``cv-*`` children. Returns how many were settled.
    """
    from mlflow import MlflowClient

    client = MlflowClient()
    experiment = client.get_run(run_id).info.experiment_id
    children = client.search_runs([experiment], f"tags.mlflow.parentRunId = '{run_id}'")
    for child in children:
        if child.info.status == "RUNNING":
            client.set_terminated(child.info.run_id, status="KILLED")
        if redo:
            client.delete_run(child.info.run_id)
    return len(children) if redo else sum(c.info.status == "RUNNING" for c in children)
