"""train -> evaluate -> register against a real MLflow SQLite store."""

import csv
import dataclasses
import json
from pathlib import Path

import pytest

from support import prepared_project, stage_context
from vidops.config import (
    CnnConfig,
    ExtractConfig,
    ModelConfig,
    RegisterConfig,
    TrainConfig,
)
from vidops.models.artifact import load_model_dir
from vidops.stages.evaluate import run_evaluate
from vidops.stages.register import RegisterError, run_register
from vidops.stages.train import TrainError, run_train

FRAMES = ExtractConfig(num_frames=6, size=32)
MODEL = ModelConfig(arch="cnn_lstm", cnn=CnnConfig(width=4, hidden=8))
TRAIN = TrainConfig(epochs=2, batch_size=4)


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    """A project folder with manifest, frames and a passing validation report."""
    return prepared_project(tmp_path_factory.mktemp("proj"), FRAMES)


def _train(root, out, model=MODEL, **kw):
    return run_train(stage_context(root, out, model=model, extract=FRAMES,
                                   train=TrainConfig(**{**vars(TRAIN), **kw})))


def _evaluate(root, out):
    return run_evaluate(stage_context(root, out))


def _below_the_bar(metrics_path: Path) -> None:
    """The candidate's macro F1 as 0.5 (min_f1 can no longer be set above 1 to refuse)."""
    metrics = json.loads(metrics_path.read_text())
    metrics_path.write_text(json.dumps({**metrics, "macro_f1": 0.5}))


def _register(root, out, **kw):
    return run_register(stage_context(root, out, register=RegisterConfig(**kw)))


def test_train_evaluate_register_and_the_gate(prepared, tmp_path, monkeypatch):
    from mlflow import MlflowClient

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    first = tmp_path / "first"
    trained = _train(prepared, first)
    assert len(trained.history) == 2 and trained.classes == ["pulse", "slide", "spin", "still"]
    assert (first / "model" / "model.pt").is_file() and (first / "curves.png").stat().st_size > 0
    loaded = load_model_dir(first / "model")
    assert loaded.frames == FRAMES and loaded.classes == trained.classes
    run = MlflowClient().get_run(trained.run_id)
    experiment = MlflowClient().get_experiment(run.info.experiment_id)
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"  # opens on runs
    run_tags = run.data.tags  # what figures reproduce against
    assert run_tags["env.torch"].startswith("2.") and run_tags["env.cpu"] and run_tags["env.av"]

    metrics = _evaluate(prepared, first).metrics.as_dict()  # as metrics.json holds them
    for key in ("accuracy", "macro_f1", "weighted_f1", "macro_precision", "weighted_recall"):
        assert 0.0 <= metrics[key] <= 1.0
    assert set(metrics["per_class"]) == set(trained.classes) and metrics["n_clips"] == 8
    low, high = metrics["macro_f1_ci"]
    assert low <= metrics["macro_f1"] <= high and metrics["accuracy_ci"][0] <= metrics["accuracy"]
    # One test group (te) with 8 clips: too few groups to resample, videos are, and it says so.
    assert metrics["bootstrap"]["unit"] == "video" and "optimistic" in metrics["bootstrap"]["note"]
    video = metrics["video_level"]
    assert video["views"] == 3 and video["n_clips"] == 8 and 0.0 <= video["macro_f1"] <= 1.0
    assert (first / "cm.png").stat().st_size > 0
    wrong = sum(sum(row) for row in metrics["confusion_matrix"]) - sum(
        metrics["confusion_matrix"][i][i] for i in range(len(metrics["classes"])))
    assert sum(c["clips"] for c in metrics["most_confused"]) <= wrong

    promoted = _register(prepared, first, min_f1=0.0)
    assert promoted.promoted and promoted.champion_version is None
    client = MlflowClient()
    champion = client.get_model_version_by_alias("vidops-classifier", "champion")
    assert str(champion.version) == promoted.version
    assert champion.tags["gate"] == "promoted" and champion.tags["data_version"]
    # The UI says what the version is in words; version 1 has no empty tags.
    assert "Test macro F1" in champion.description and "95% interval" in champion.description
    assert "Gate: **promoted**" in champion.description and "cnn_lstm" in champion.description
    assert "champion_before" not in champion.tags and all(champion.tags.values())
    assert "alias `champion`" in client.get_registered_model("vidops-classifier").description
    # The signature names what the served model returns, as it returns it.
    import mlflow
    import pandas as pd

    signature = mlflow.models.get_model_info("models:/vidops-classifier@champion").signature
    assert [c.name for c in signature.outputs.inputs] == ["label", "score", "probabilities", "error"]
    out = mlflow.pyfunc.load_model("models:/vidops-classifier@champion").predict(
        pd.DataFrame({"video": [next((prepared / "raw").rglob("*.mp4")).read_bytes()]}))
    assert list(out.columns) == ["label", "score", "probabilities", "error"]

    # A second model under the bar: registered as challenger, champion untouched.
    second = tmp_path / "second"
    _train(prepared, second, seed=1)
    _evaluate(prepared, second)
    # register gates on what evaluate scored: the first model's figures beside the second
    # model, or predictions replaced since, are refused before anything is registered.
    versions = len(client.search_model_versions("name='vidops-classifier'"))
    with pytest.raises(RegisterError, match=r"first/metrics.json: scores another model than"):
        ctx = stage_context(prepared, second)
        run_register(dataclasses.replace(ctx, params=dataclasses.replace(
            ctx.params, paths=dataclasses.replace(ctx.paths, metrics=first / "metrics.json",
                                                  promotion=tmp_path / "p.json"))))
    predictions = (second / "pred.csv").read_bytes()
    (second / "pred.csv").write_bytes(predictions.replace(b"spin", b"slide"))
    with pytest.raises(RegisterError, match=r"pred.csv: not the predictions written with"):
        _register(prepared, second)
    (second / "pred.csv").write_bytes(predictions)
    assert len(client.search_model_versions("name='vidops-classifier'")) == versions
    assert not (tmp_path / "p.json").exists() and not (second / "promotion.json").exists()
    measured = (second / "metrics.json").read_bytes()
    _below_the_bar(second / "metrics.json")
    refused = _register(prepared, second, min_f1=0.99)
    (second / "metrics.json").write_bytes(measured)
    assert not refused.promoted and "below min_f1" in refused.reason
    assert refused.champion_version == promoted.version
    assert refused.champion_f1 is not None  # the champion was re-scored on today's test split
    alias = client.get_model_version_by_alias
    assert str(alias("vidops-classifier", "champion").version) == promoted.version
    assert str(alias("vidops-classifier", "challenger").version) == refused.version
    decision = json.loads((second / "promotion.json").read_text())
    assert decision["promoted"] is False and decision["version"] == refused.version

    # A challenger that does not beat the re-scored champion by min_delta is refused. Run
    # again with other register params, the same run is decided on again: its one version.
    worse = _register(prepared, second, min_f1=0.0, min_delta=1.0, gate="point",
                      max_class_drop=1.0)  # the point rule alone
    assert not worse.promoted and f"< champion {worse.champion_f1:.4f}" in worse.reason
    assert worse.version == refused.version
    assert str(alias("vidops-classifier", "champion").version) == promoted.version

    # The same model, when it clears the bar (min_delta -1: any F1 beats champion - 1), is
    # promoted; its version's tags now say so, not what the refusals before said.
    accepted = _register(prepared, second, min_f1=0.0, min_delta=-1.0, gate="point",
                         max_class_drop=1.0)
    assert accepted.promoted and accepted.champion_version == promoted.version
    assert accepted.version == refused.version
    assert str(alias("vidops-classifier", "champion").version) == accepted.version
    tags = client.get_model_version("vidops-classifier", accepted.version).tags
    assert tags["gate"] == "promoted" and tags["registration"] == "complete"
    assert tags["gate_reason"] == accepted.reason and tags["gate_rule"] == "point"
    again = _register(prepared, second, min_f1=0.0)  # already champion: nothing moves
    assert again.version == accepted.version and again.promoted
    assert len(client.search_model_versions("name='vidops-classifier'")) == versions + 1

    # The paired rule (the default): a model retrained identically is not credibly worse.
    third = tmp_path / "third"
    _train(prepared, third, seed=1)
    _evaluate(prepared, third)
    same = _register(prepared, third, min_f1=0.0)
    decision = json.loads((third / "promotion.json").read_text())
    assert same.promoted and decision["rule"] == "paired"
    assert decision["f1_difference"] == 0.0 and decision["f1_difference_ci"] == [0.0, 0.0]
    assert set(decision["class_recall"]) == set(trained.classes)
    assert client.get_model_version("vidops-classifier", same.version).tags["gate_rule"] == "paired"
    from vidops.registry.champion import history

    assert [(e.action, e.version) for e in history(client, "vidops-classifier")] == [
        ("gate", promoted.version), ("gate", accepted.version), ("gate", same.version)]


def test_training_reproducible_on_cpu(prepared, tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    a = _train(prepared, tmp_path / "a")
    b = _train(prepared, tmp_path / "b")
    assert [s.train_loss for s in a.history] == [s.train_loss for s in b.history]


def test_training_refuses_failed_validation(prepared, tmp_path):
    bad = tmp_path / "validation.json"
    bad.write_text(json.dumps({"success": False, "errors": ["group_in_two_splits"]}))
    with pytest.raises(TrainError, match="group_in_two_splits"):
        ctx = stage_context(prepared, tmp_path, model=MODEL, train=TRAIN, extract=FRAMES)
        run_train(dataclasses.replace(ctx, params=dataclasses.replace(
            ctx.params, paths=dataclasses.replace(ctx.paths, validation=bad))))


def test_first_model_below_min_f1_leaves_no_champion(prepared, tmp_path, monkeypatch):
    from mlflow import MlflowClient

    from vidops.registry.champion import current_champion

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    _train(prepared, tmp_path, epochs=1)
    _evaluate(prepared, tmp_path)
    _below_the_bar(tmp_path / "metrics.json")
    result = _register(prepared, tmp_path, min_f1=0.99)
    assert not result.promoted and result.champion_version is None
    assert current_champion(MlflowClient(), "vidops-classifier") is None


@pytest.mark.parametrize("arch", ["motion_linear", "fusion_linear"])
def test_feature_family_through_the_stages_and_the_served_pyfunc(prepared, tmp_path, monkeypatch,
                                                                 arch):
    """A linear family goes through train, evaluate, register and the raw-video pyfunc.

    fusion_linear: the pretrained backbone and the flow code run inside the served model
    on decoded bytes, and must agree with evaluate, which ran them on extracted frames.
    """
    import mlflow
    import pandas as pd

    from vidops.data.records import read_manifest

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    out = tmp_path / arch
    trained = _train(prepared, out, model=ModelConfig(arch=arch))
    assert trained.arch == arch and len(trained.history) == 1
    assert json.loads((out / "selection.json").read_text())["mode"] == "fixed"
    metrics = _evaluate(prepared, out).metrics.as_dict()
    registered = _register(prepared, out, min_f1=0.0)
    assert registered.promoted

    served = mlflow.pyfunc.load_model("models:/vidops-classifier@champion")
    test_clips = [r for r in read_manifest(prepared / "manifest.csv") if r.split == "test"]
    videos = [Path(r.path).read_bytes() for r in test_clips]  # absolute in this test
    answer = served.predict(pd.DataFrame({"video": videos}))
    # The served model, fed raw bytes, agrees with evaluate's per-clip predictions.
    predicted = {row["path"]: row["predicted"]
                 for row in csv.DictReader((out / "pred.csv").open())}
    assert list(answer["label"]) == [predicted[r.path] for r in test_clips]
    assert metrics["macro_f1"] == pytest.approx(registered.candidate_f1)


def test_auto_trains_the_winner_and_reports_every_candidate(prepared, tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    out = tmp_path / "auto"
    auto = ModelConfig(arch="auto", candidates=("motion_linear", "cnn_lstm"),
                       cnn=CnnConfig(width=4, hidden=8))
    trained = _train(prepared, out, model=auto)
    report = json.loads((out / "selection.json").read_text())
    assert report["mode"] == "auto" and report["winner"] == trained.arch
    assert [c["arch"] for c in report["candidates"]] == ["motion_linear", "cnn_lstm"]
    assert report["folds"] == 2  # groups tr and va: one fold each way
    # The best macro F1; on a tie, the lower held-out cross-entropy.
    best = max(report["candidates"], key=lambda c: (c["mean_f1"], -c["mean_loss"]))
    assert trained.arch == best["arch"]
    assert load_model_dir(out / "model").model.__class__.__name__ == (
        "MotionLinear" if trained.arch == "motion_linear" else "CnnLstm")
    assert (out / "selection.png").stat().st_size > 0
    from mlflow import MlflowClient

    runs = MlflowClient().search_runs(
        [MlflowClient().get_experiment_by_name("vidops").experiment_id],
        f"tags.mlflow.parentRunId = '{trained.run_id}'")
    assert sorted(r.data.params["arch"] for r in runs) == ["cnn_lstm", "motion_linear"]
    assert all(len(MlflowClient().get_metric_history(r.info.run_id, "fold_f1")) == 2 for r in runs)


def test_a_champion_of_the_release_before_the_split_loads_serves_and_is_rescored(
        prepared, tmp_path, monkeypatch):
    """Users' champions were registered by the flat-module release: they must keep working."""
    import sys
    import tarfile

    import mlflow
    import pandas as pd
    from mlflow import MlflowClient

    from vidops.data.records import read_manifest

    monkeypatch.chdir(tmp_path)  # MLflow's Default experiment keeps artifacts under ./mlruns
    # Loading a model puts its code copy (here: the old flat package) first on sys.path;
    # later tests' spawned worker processes inherit sys.path, so it is restored afterwards.
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    with tarfile.open(Path(__file__).parents[1] / "fixtures" / "champion-0.1.0.tar.gz") as tar:
        # Python < 3.11.4 has no extraction filters; the archive is this repo's own fixture.
        safe = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
        tar.extractall(tmp_path / "old", **safe)
    old = tmp_path / "old" / "champion-0.1.0"
    assert (old / "code" / "vidops" / "serving.py").is_file()  # the flat layout it was made with
    with mlflow.start_run() as run:
        mlflow.log_artifacts(str(old), "model")
    version = str(mlflow.register_model(f"runs:/{run.info.run_id}/model", "vidops-classifier").version)
    MlflowClient().set_registered_model_alias("vidops-classifier", "champion", version)

    served = mlflow.pyfunc.load_model("models:/vidops-classifier@champion")
    test_clips = [r for r in read_manifest(prepared / "manifest.csv") if r.split == "test"]
    answer = served.predict(pd.DataFrame({"video": [Path(r.path).read_bytes() for r in test_clips]}))
    assert len(answer) == len(test_clips)
    assert set(answer["label"]) <= {"pulse", "slide", "spin", "still"}

    out = tmp_path / "new"
    _train(prepared, out, model=ModelConfig(arch="motion_linear"))
    _evaluate(prepared, out)
    result = _register(prepared, out, min_f1=0.0)
    assert result.champion_version == version and result.champion_f1 is not None
    assert result.version != version


def test_a_dvc_experiment_registers_but_never_moves_the_champion(prepared, tmp_path, monkeypatch):
    """#22: `dvc exp run -S ...` went through register and moved production."""
    from mlflow import MlflowClient

    from vidops.registry.champion import current_champion

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.setenv("DVC_EXP_NAME", "curly-lamb")  # what DVC sets for `dvc exp run`
    _train(prepared, tmp_path, model=ModelConfig(arch="motion_linear"))
    _evaluate(prepared, tmp_path)
    result = _register(prepared, tmp_path, min_f1=0.0)
    assert not result.promoted and "DVC experiment curly-lamb" in result.reason
    client = MlflowClient()
    assert current_champion(client, "vidops-classifier") is None
    tags = client.get_model_version("vidops-classifier", result.version).tags
    assert (tags["gate"], tags["dvc_experiment"]) == ("passed, not moved", "curly-lamb")
    asked = _register(prepared, tmp_path, min_f1=0.0, promote_experiments=True)
    assert asked.promoted and current_champion(client, "vidops-classifier") == asked.version


def test_a_retrain_from_the_champions_own_inputs_registers_nothing(prepared, tmp_path, monkeypatch):
    """#22: the same code, data and params retrained registered a duplicate of the champion,
    which the gate then promoted over itself."""
    import subprocess

    from mlflow import MlflowClient

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    repo = tmp_path / "repo"  # provenance needs a git commit, a params.yaml and a data.dvc
    repo.mkdir()
    (repo / "params.yaml").write_text("register:\n  min_f1: 0.0\n")
    (repo / "data.dvc").write_text("outs:\n- md5: 0123456789abcdef.dir\n  path: data/raw\n")
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    subprocess.run(["git", "add", "-A"], cwd=repo, check=True)
    subprocess.run(["git", "commit", "-qm", "project"], cwd=repo, check=True)
    def retrain(out):  # a new training run from the same code, data and params
        _train(prepared, out, model=ModelConfig(arch="motion_linear"))
        _evaluate(prepared, out)
        return out

    def register(out):
        ctx = stage_context(prepared, out, register=RegisterConfig(min_f1=0.0))
        return run_register(dataclasses.replace(ctx, root=repo))

    first = register(retrain(tmp_path / "first"))
    assert first.promoted and first.version == "1"
    twice = register(tmp_path / "first")  # the same run again: its own version, still champion
    assert (twice.version, twice.promoted, twice.registered) == ("1", True, True)
    again = register(retrain(tmp_path / "again"))
    assert (again.version, again.promoted) == ("1", False) and "nothing registered" in again.reason
    written = json.loads((tmp_path / "again" / "promotion.json").read_text())
    assert written["reason"] == again.reason and written["registered"] is False and first.registered
    client = MlflowClient()
    assert len(client.search_model_versions("name = 'vidops-classifier'")) == 1
    (repo / "params.yaml").write_text("register:\n  min_f1: 0.0\n  min_delta: 0.04\n")
    assert register(retrain(tmp_path / "other")).version == "2"  # other params: another version
