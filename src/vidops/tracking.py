"""MLflow set-up, done explicitly by the stages that track (never at import)."""

from __future__ import annotations

import os
from pathlib import Path


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
