"""MLflow set-up, done explicitly by the stages that track (never at import), and the
tracker training reports through.

MLflow is imported inside the functions: `vidops ingest` and friends never pay for it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

from vidops.fileio import home_project


def tracking_uri(root: Path) -> str:
    """``MLFLOW_TRACKING_URI`` when set (a team's server), else the project's SQLite store.

    The project is ``root``'s home (fileio.home_project): a DVC experiment run in a
    temporary workspace tracks and registers in the project that queued it. A relative
    SQLite URI (``sqlite:///mlruns/mlflow.db``, as the README shows) names a store inside
    the project: it is resolved there and relocated like the default store, so a copied
    project never writes through its original's artifact locations.
    """
    uri = os.environ.get("MLFLOW_TRACKING_URI")
    if uri and not _relative_sqlite(uri):
        return uri
    database = home_project(root) / (uri.removeprefix("sqlite:///") if uri else "mlruns/mlflow.db")
    store = database.parent
    store.mkdir(parents=True, exist_ok=True)
    if database.is_file():
        relocate_store(store, database.name)
    return f"sqlite:///{database}"


def _project_store(uri: str, root: Path) -> bool:
    """Whether ``uri`` is a SQLite store inside the project (not a team's server, nor a
    store elsewhere named on purpose)."""
    if not uri.startswith("sqlite:///"):
        return False
    return Path(uri.removeprefix("sqlite:///")).resolve().is_relative_to(home_project(root).resolve())


def _refuse_outside(uri: str, experiment) -> None:
    """The project's store keeps its artifacts inside it. A location outside (an experiment
    made by another tool, a store copied from elsewhere that ``relocate_store`` cannot
    place) would have trainings write through the project into another folder."""
    from vidops.registry.champion import RegistryError

    location = experiment.artifact_location or ""
    path = location.removeprefix("file://")
    store = Path(uri.removeprefix("sqlite:///")).parent.resolve()
    if path.startswith("/") and not Path(path).resolve().is_relative_to(store):
        raise RegistryError(
            f"{uri}: experiment {experiment.name!r} keeps its artifacts at {location}, outside "
            f"the project's store {store}: a training would write there. Name another "
            f"experiment (train.experiment), or move those artifacts under {store} and the "
            "experiment's artifact_location with them")


def _relative_sqlite(uri: str) -> bool:
    return uri.startswith("sqlite:///") and not uri.removeprefix("sqlite:///").startswith("/")


# Columns where MLflow's SQLite store keeps absolute artifact locations.
_LOCATIONS = (("experiments", "artifact_location"), ("runs", "artifact_uri"),
              ("model_versions", "storage_location"), ("logged_models", "artifact_location"))


def relocate_store(store: Path, database: str = "mlflow.db") -> int:
    """Point the store's artifact locations at ``store`` when the project was moved or copied.

    MLflow records absolute paths (``file:///old/place/mlruns/...``): after ``mv`` the models
    were not found, and a copy wrote its models into the original's folder. The old place is
    read off the locations themselves (the part before ``/mlruns``), so stores made by any
    release are repaired. Returns the number of locations rewritten.
    """
    import sqlite3

    new = str(store)
    changed = 0
    with closing(sqlite3.connect(store / database, timeout=30)) as db, db:
        # Every command calls this: look at the few experiments first, and only when one of
        # them points elsewhere walk the (possibly large) runs and versions tables.
        tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if "experiments" not in tables:
            return 0  # not initialised yet
        experiments = db.execute("SELECT artifact_location FROM experiments").fetchall()
        if all(_moved(location, new) == location for (location,) in experiments):
            return 0
        for table, column in _LOCATIONS:
            if table not in tables:
                continue
            rows = db.execute(f"SELECT rowid, {column} FROM {table} WHERE {column} LIKE '%/mlruns%'")
            for rowid, value in rows.fetchall():
                moved = _moved(value, new)
                if moved != value:
                    db.execute(f"UPDATE {table} SET {column} = ? WHERE rowid = ?", (moved, rowid))
                    changed += 1
    return changed


def _moved(location: str, store: str) -> str:
    """``location`` with its ``.../mlruns`` prefix replaced by ``store``, if it is a local path."""
    scheme = "file://" if location.startswith("file://") else ""
    path = location.removeprefix(scheme)
    if not path.startswith("/"):
        return location  # s3://, models:/, a server's mlflow-artifacts:/: not ours to move
    at = path.rfind("/mlruns/") if "/mlruns/" in path else (
        len(path) - len("/mlruns") if path.endswith("/mlruns") else -1)
    if at < 0 or path[: at + len("/mlruns")] == store:
        return location
    return f"{scheme}{store}{path[at + len('/mlruns'):]}"


# Marks the experiment as model training, not GenAI. MLflow 3.17's UI still opens it on its
# GenAI overview unless the URL carries descriptions.TRAINING_VIEW (checked in Chromium).
EXPERIMENT_KIND = "mlflow.experimentKind"
CLASSIC_ML = "custom_model_development"


def setup_mlflow(root: Path, experiment: str) -> str:
    """Point MLflow at the store and make sure ``experiment`` exists; returns its id."""
    import mlflow

    uri = tracking_uri(root)
    mlflow.set_tracking_uri(uri)
    found = mlflow.get_experiment_by_name(experiment)
    if found is not None and _project_store(uri, root):
        _refuse_outside(uri, found)
    if found is not None:
        if found.tags.get(EXPERIMENT_KIND) != CLASSIC_ML:
            mlflow.MlflowClient().set_experiment_tag(found.experiment_id, EXPERIMENT_KIND, CLASSIC_ML)
        return found.experiment_id
    location = None
    if uri.startswith("sqlite:///"):
        # Keep artifacts beside the database under mlruns/, not in the current directory.
        location = (Path(uri.removeprefix("sqlite:///")).parent / "artifacts").resolve().as_uri()
    return mlflow.create_experiment(experiment, artifact_location=location,
                                    tags={EXPERIMENT_KIND: CLASSIC_ML})


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


OWNER_HOST, OWNER_PROCESS = "vidops.host", "vidops.process"  # machine; "pid started-at"


def own_run(run_id: str) -> None:
    """Tag a training run with the process that writes it (see ``close_orphans``)."""
    import os
    import socket

    from mlflow import MlflowClient

    client = MlflowClient()
    client.set_tag(run_id, OWNER_HOST, socket.gethostname())
    client.set_tag(run_id, OWNER_PROCESS, _process(os.getpid()))


def close_orphans(experiment_id: str, keep: str | None = None) -> list[str]:
    """Runs of ``experiment_id`` left RUNNING by a training process of this machine that is
    gone (killed, out of memory, the machine rebooted): marked KILLED, with a tag saying
    why, so the MLflow UI does not show them running forever. A run whose training is
    resumed (``keep``) and runs of other machines (a team's server) are left alone: only
    this machine can tell whether its processes live. Returns the ids closed."""
    import socket

    from mlflow import MlflowClient

    client = MlflowClient()
    host, closed = socket.gethostname(), []
    for run in client.search_runs([experiment_id], "attributes.status = 'RUNNING'",
                                  max_results=1000):
        owner = run.data.tags.get(OWNER_PROCESS, "")
        if run.info.run_id == keep or run.data.tags.get(OWNER_HOST) != host or not owner:
            continue
        pid = owner.split()[0]
        if pid.isdigit() and _process(int(pid)) == owner:
            continue  # still running
        client.set_terminated(run.info.run_id, status="KILLED")
        client.set_tag(run.info.run_id, "vidops.closed", f"its training process ({owner}) on "
                       f"{host} was gone when a later training started")
        closed.append(run.info.run_id)
    return closed


def _process(pid: int) -> str:
    """``"pid started-at"``: names one process, not whichever later reuses its pid ("" if gone)."""
    import psutil

    try:
        return f"{pid} {psutil.Process(pid).create_time():.2f}"
    except psutil.Error:
        return ""


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
