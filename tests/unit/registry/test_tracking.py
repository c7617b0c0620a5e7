"""The project's own MLflow store survives the project being moved or copied."""

from __future__ import annotations

import shutil

import pytest

from vidops.registry.tracking import _moved, setup_mlflow, tracking_uri


@pytest.mark.parametrize("location, expected", [
    ("file:///old/p/mlruns/artifacts/abc/artifacts", "file:///new/q/mlruns/artifacts/abc/artifacts"),
    ("/old/p/mlruns/0", "/new/q/mlruns/0"),
    ("/old/mlruns-x/p/mlruns/1", "/new/q/mlruns/1"),
    ("s3://bucket/mlruns/1", "s3://bucket/mlruns/1"),
    ("models:/m-123", "models:/m-123"),
    ("/new/q/mlruns/2", "/new/q/mlruns/2"),
])
def test_locations_move_with_the_store(location, expected):
    assert _moved(location, "/new/q/mlruns") == expected


def test_a_moved_project_finds_its_models_and_a_copy_writes_into_itself(tmp_path, monkeypatch):
    """#22: after `mv` of the project, `vidops predict` failed (`No such artifact`), and a
    copy wrote its models into the original's mlruns/."""
    import mlflow
    from mlflow import MlflowClient

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    old = tmp_path / "old"
    experiment = setup_mlflow(old, "vidops")
    with mlflow.start_run(experiment_id=experiment) as run:
        mlflow.log_text("weights", "model/weights.txt")
    client = MlflowClient()
    client.create_registered_model("m")
    version = client.create_model_version("m", f"runs:/{run.info.run_id}/model",
                                          run.info.run_id).version

    moved = tmp_path / "moved"
    shutil.move(old, moved)
    # A new process in the moved project (mlflow.set_tracking_uri also sets the variable).
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    mlflow.set_tracking_uri(tracking_uri(moved))
    client = MlflowClient()
    local = mlflow.artifacts.download_artifacts(f"models:/m/{version}", dst_path=str(tmp_path / "dl"))
    assert sorted(p.name for p in (tmp_path / "dl").rglob("*.txt")) == ["weights.txt"], local
    assert next((tmp_path / "dl").rglob("weights.txt")).read_text() == "weights"
    assert str(moved) in client.get_run(run.info.run_id).info.artifact_uri

    copy = tmp_path / "copy"
    shutil.copytree(moved, copy)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    setup_mlflow(copy, "vidops")
    with mlflow.start_run(experiment_id=experiment) as second:
        mlflow.log_text("new", "model/weights.txt")
    assert (copy / "mlruns").is_dir()
    assert str(copy) in MlflowClient().get_run(second.info.run_id).info.artifact_uri
    assert not any(p.read_text() == "new" for p in moved.rglob("weights.txt"))


def test_a_relative_sqlite_uri_is_the_projects_store_and_moves_with_it(tmp_path, monkeypatch):
    """#30: with `MLFLOW_TRACKING_URI=sqlite:///mlruns/mlflow.db` (as the README shows) the
    relocation was skipped, so a copy's runs wrote into the original's artifact folders."""
    import mlflow

    original, copy = tmp_path / "original", tmp_path / "copy"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:///mlruns/mlflow.db")
    assert tracking_uri(original) == f"sqlite:///{original / 'mlruns' / 'mlflow.db'}"
    setup_mlflow(original, "vidops")
    shutil.copytree(original, copy)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:///mlruns/mlflow.db")
    experiment = setup_mlflow(copy, "vidops")
    with mlflow.start_run(experiment_id=experiment) as run:
        mlflow.log_text("copy's", "model/weights.txt")
    assert str(copy) in run.info.artifact_uri
    assert not list(original.rglob("weights.txt"))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:////elsewhere/team.db")  # absolute: as given
    assert tracking_uri(copy) == "sqlite:////elsewhere/team.db"


def test_a_dvc_experiments_temporary_workspace_tracks_in_its_project(tmp_path, monkeypatch):
    from vidops.fileio import home_project

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    project = tmp_path / "p"
    workspace = project / ".dvc" / "tmp" / "exps" / "standalone" / "tmpab12"
    workspace.mkdir(parents=True)
    assert home_project(workspace) == project and home_project(project) == project
    assert tracking_uri(workspace) == f"sqlite:///{project / 'mlruns' / 'mlflow.db'}"
    lookalike = tmp_path / "q" / ".dvc" / "tmp" / "exps"  # the folder itself, not a workspace
    lookalike.mkdir(parents=True)
    assert home_project(lookalike) == lookalike


def test_a_run_left_running_by_a_killed_training_is_closed_by_the_next(tmp_path, monkeypatch):
    """#30: after a training was killed and params changed (so it was not resumed), its MLflow
    run stayed RUNNING forever. The next training closes runs whose process is gone."""
    import os
    import subprocess
    import sys

    import mlflow
    from mlflow import MlflowClient

    from vidops.registry.tracking import close_orphans, own_run

    uri = f"sqlite:///{tmp_path}/mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    mlflow.set_tracking_uri(uri)
    experiment = mlflow.create_experiment("vidops", artifact_location=(tmp_path / "a").as_uri())
    killed = subprocess.run([sys.executable, "-c", f"""
import os, signal, mlflow
from vidops.registry.tracking import own_run
run = mlflow.start_run(experiment_id={experiment!r})
own_run(run.info.run_id)
print(run.info.run_id, flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""], capture_output=True, text=True, env=os.environ)
    assert killed.returncode == -9, killed.stderr
    orphan = killed.stdout.split()[0]
    client = MlflowClient()
    assert client.get_run(orphan).info.status == "RUNNING"
    with mlflow.start_run(experiment_id=experiment) as resumed:
        own_run(resumed.info.run_id)  # alive: this process
        untagged = client.create_run(experiment).info.run_id  # not vidops's: left alone
        assert close_orphans(experiment) == [orphan]
        assert close_orphans(experiment) == []
        assert client.get_run(resumed.info.run_id).info.status == "RUNNING"
    assert client.get_run(orphan).info.status == "KILLED"
    assert "was gone when a later training started" in client.get_run(orphan).data.tags["vidops.closed"]
    assert client.get_run(untagged).info.status == "RUNNING"


def test_an_experiment_keeping_artifacts_outside_the_project_store_is_refused(tmp_path,
                                                                              monkeypatch):
    """#30: a local store whose experiment points outside the project would have trainings
    write through it into another folder (a copy into its original)."""
    from mlflow import MlflowClient

    from vidops.registry.champion import RegistryError

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    project = tmp_path / "project"
    project.mkdir()
    setup_mlflow(project, "vidops")  # made by vidops: inside the store, accepted again
    assert setup_mlflow(project, "vidops")
    uri = tracking_uri(project)
    elsewhere = (tmp_path / "elsewhere").as_uri()
    MlflowClient(uri).create_experiment("made-by-hand", artifact_location=elsewhere)
    with pytest.raises(RegistryError, match=rf"'made-by-hand' keeps its artifacts at {elsewhere}, "
                                            r"outside the project's store .*train\.experiment"):
        setup_mlflow(project, "made-by-hand")
    outside = tmp_path / "shared"
    outside.mkdir()
    shared = f"sqlite:///{outside / 'mlflow.db'}"
    MlflowClient(shared).create_experiment("made-by-hand", artifact_location=elsewhere)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", shared)  # a store elsewhere, named on purpose
    assert setup_mlflow(project, "made-by-hand")
