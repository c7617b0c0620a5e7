"""Label sets the registry understands (#31): a model over other classes is another task.
The gate never compares across class sets; promote and rollback to a version whose classes
differ from the project's data need --force. All on a real MLflow registry."""

from __future__ import annotations

import json
import os

import pytest
from typer.testing import CliRunner

from support import evaluated_project, sqlite_registry, stage_context
from vidops import cli
from vidops.data.records import ClipRecord, write_records


def _data(project, classes: list[str]) -> None:
    write_records(project / "artifacts" / "manifest.csv",
                  [ClipRecord(f"c{i}", f"data/raw/{c}/x.mp4", c, "g", "train", "0" * 64, 1)
                   for i, c in enumerate(classes)], ClipRecord)


@pytest.fixture
def registry(tmp_path, monkeypatch):
    """Version 1 over a, b (champion, then replaced by 2 on purpose); version 2 over a, b, c."""
    from vidops.registry.champion import move_champion

    client, uri = sqlite_registry(tmp_path, versions=2)
    client.set_model_version_tag("vidops-classifier", "1", "classes", json.dumps(["a", "b"]))
    client.set_model_version_tag("vidops-classifier", "2", "classes", json.dumps(["a", "b", "c"]))
    move_champion(client, "vidops-classifier", "1", "gate", "first")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    (tmp_path / "params.yaml").write_text("{}\n")
    return client


def test_promote_to_other_classes_needs_force_and_names_the_difference(registry, tmp_path):
    runner = CliRunner()
    _data(tmp_path, ["a", "b"])
    refused = runner.invoke(cli.app, ["promote", "--version", "2", "--reason", "try"])
    assert refused.exit_code == 1
    assert "version 2 answers over other classes than this project's data" in refused.output
    assert "only in version 2: c" in refused.output
    forced = runner.invoke(cli.app, ["promote", "--version", "2", "--reason", "new task",
                                     "--force"])
    assert forced.exit_code == 0 and "champion is now version 2" in forced.output


def test_rollback_to_other_classes_needs_force(registry, tmp_path):
    runner = CliRunner()
    _data(tmp_path, ["a", "b", "c"])  # the data moved on to three classes with version 2
    assert runner.invoke(cli.app, ["promote", "--version", "2", "--reason", "r"]).exit_code == 0
    refused = runner.invoke(cli.app, ["rollback", "--reason", "back"])
    assert refused.exit_code == 1 and "only here: c" in refused.output
    assert str(registry.get_model_version_by_alias("vidops-classifier", "champion").version) == "2"
    forced = runner.invoke(cli.app, ["rollback", "--reason", "back", "--force"])
    assert forced.exit_code == 0 and "rolled back to version 1" in forced.output


def test_the_gate_does_not_compare_a_model_of_other_classes_with_the_champion(tmp_path):
    """#31: a 4-class champion re-scored on a 10-class test split read F1 0.30, and the
    10-class model was promoted as "not credibly worse"."""
    from mlflow import MlflowClient

    from vidops.config import RegisterConfig
    from vidops.stages.register import run_register

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    def register(project):
        out = project / "out"
        os.environ["MLFLOW_TRACKING_URI"] = uri
        try:
            return run_register(stage_context(project, out, register=RegisterConfig(min_f1=0.0)))
        finally:
            del os.environ["MLFLOW_TRACKING_URI"]

    first = register(evaluated_project(tmp_path / "p", uri))
    assert first.promoted and first.version == "1"
    client = MlflowClient(uri, uri)
    recorded = json.loads(client.get_model_version("vidops-classifier", "1").tags["classes"])
    assert recorded == json.loads((tmp_path / "p/out/model/model.json").read_text())["classes"]
    # The champion answers another task: one class more than this model knows.
    client.set_model_version_tag("vidops-classifier", "1", "classes",
                                 json.dumps([*recorded, "ghost"]))
    client.delete_registered_model_alias("vidops-classifier", "champion")
    client.set_registered_model_alias("vidops-classifier", "champion", "1")
    # A second training run of the same data: what the gate is asked about.
    second = register(evaluated_project(tmp_path / "q", uri))
    assert not second.promoted and second.champion_version == "1"
    assert second.reason.startswith("a different task: champion version 1 answers over")
    assert "only in champion version 1: ghost" in second.reason
    assert second.champion_f1 is None  # nothing was re-scored as if it were comparable
    assert str(client.get_model_version_by_alias("vidops-classifier", "champion").version) == "1"
