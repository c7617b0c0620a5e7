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
