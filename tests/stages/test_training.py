"""The train stage on tiny real clips: 3D models, training views, resume after a kill, DDP."""

import csv
import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from support import stage_context, write_tiny_dataset
from vidops.config import (
    AugmentConfig,
    CnnConfig,
    ExtractConfig,
    IngestConfig,
    ModelConfig,
    TrainConfig,
    ValidateConfig,
    section_dict,
)
from vidops.data.raw_store import import_clips
from vidops.models.artifact import load_model_dir
from vidops.stages.extract import run_extract
from vidops.stages.ingest import run_ingest
from vidops.stages.train import run_train
from vidops.stages.validate import run_validate

FRAMES = ExtractConfig(num_frames=6, size=32, train_views=2)
VIEWS = AugmentConfig(crop_scale=0.7, flip=True, color=0.3)
RUNTIME = ("seconds", "clips_per_s", "data_wait")  # how fast, not what was computed


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """manifest, frames (with 2 jittered views per clip) and a passing validation report."""
    root = tmp_path_factory.mktemp("train-proj")
    source = write_tiny_dataset(root / "source")
    import_clips(source, root / "raw", (".mp4",))
    run_ingest(IngestConfig(group_splits={"tr": "train", "va": "val", "te": "test"}),
               root / "raw", root / "manifest.csv")
    run_extract(FRAMES, root / "manifest.csv", root / "frames", progress=False)
    run_validate(ValidateConfig(), root / "manifest.csv", root / "frames", root / "validation.json",
                 root / "docs")
    return root


def _outputs(out: Path) -> list[Path]:
    return [out / "model", out / "log.csv", out / "curves.png", out / "selection.json",
            out / "selection.png"]


def _stage(root: Path, out: Path, model: ModelConfig, train: TrainConfig):
    return run_train(stage_context(root, out, model=model, train=train, extract=FRAMES))


def test_jittered_views_are_stored_beside_the_deterministic_one(project):
    frames = sorted(p for p in (project / "frames").glob("*.npy") if ".views" not in p.name)
    views = sorted((project / "frames").glob("*.views.npy"))
    assert len(frames) == len(views) == 24
    main, stored = np.load(frames[0]), np.load(views[0])
    assert stored.shape == (2, *main.shape) and stored.dtype == np.uint8
    assert not np.array_equal(stored[0], main) and not np.array_equal(stored[0], stored[1])


@pytest.mark.parametrize("arch", ["r3d_18", "mc3_18", "r2plus1d_18", "appearance_tsn"])
def test_big_nets_train_an_epoch_with_training_views(project, tmp_path, monkeypatch, arch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    train = TrainConfig(epochs=1, batch_size=4, augment=VIEWS,
                        checkpoint_dir=str(tmp_path / "ckpt"))
    result = _stage(project, tmp_path, ModelConfig(arch=arch), train)
    (stats,) = result.history
    assert result.arch == arch and np.isfinite(stats.train_loss) and stats.clips_per_s > 0
    assert 0.0 <= stats.data_wait < 1.0
    loaded = load_model_dir(tmp_path / "model")
    clips = np.load(sorted((project / "frames").glob("*.npy"))[0])[None]
    assert loaded.predict_proba(clips).shape == (1, 4)
    assert not (tmp_path / "ckpt").exists() or not any((tmp_path / "ckpt").iterdir())


def test_bf16_autocast_trains_on_the_cpu(project, tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    train = TrainConfig(epochs=1, batch_size=4, amp="bf16", checkpoint_dir=str(tmp_path / "ckpt"))
    (stats,) = _stage(project, tmp_path, ModelConfig(arch="cnn_pool", cnn=CnnConfig(width=4)), train).history
    assert np.isfinite(stats.train_loss) and np.isfinite(stats.val_loss)


def _params(path: Path, model: ModelConfig, train: TrainConfig) -> Path:
    params = {"extract": dataclasses.asdict(FRAMES), "model": dataclasses.asdict(model),
              "train": dataclasses.asdict(train)}
    path.write_text(yaml.safe_dump(json.loads(json.dumps(params))))
    return path


def _cli(root: Path, out: Path, params: Path, env: dict) -> list[str]:
    names = ["--model", "--log", "--curves", "--selection", "--selection-plot"]
    args = [str(a) for pair in zip(names, _outputs(out), strict=True) for a in pair]
    return [sys.executable, "-m", "vidops.cli", "train", "--manifest", str(root / "manifest.csv"),
            "--frames", str(root / "frames"), "--validation", str(root / "validation.json"),
            *args, "--params", str(params)]


def _figures(log: Path) -> list[dict]:
    with log.open() as handle:
        return [{k: v for k, v in row.items() if k not in RUNTIME} for row in csv.DictReader(handle)]


def test_a_killed_training_resumes_to_the_same_result(project, tmp_path, monkeypatch):
    db = tmp_path / "mlflow.db"
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{db}"}
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{db}")
    model = ModelConfig(arch="cnn_pool", cnn=CnnConfig(width=8))
    epochs = 12

    def train(name: str) -> TrainConfig:
        return TrainConfig(epochs=epochs, batch_size=4, patience=0, augment=VIEWS,
                           checkpoint_dir=str(tmp_path / f"ckpt-{name}"), experiment=name)

    reference = tmp_path / "reference"  # uninterrupted, in this process
    _stage(project, reference, model, train("reference"))

    killed = tmp_path / "killed"
    cmd = _cli(project, killed, _params(tmp_path / "killed.yaml", model, train("killed")), env)
    process = subprocess.Popen(cmd, cwd=project, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    _wait_for_checkpoint(tmp_path / "ckpt-killed", process, min_epoch=2)
    os.killpg(process.pid, signal.SIGKILL)  # no clean-up runs: a power cut, an OOM kill
    process.wait()
    assert not (killed / "model").exists()
    # Read after the kill: the kill may land in the middle of the next epoch's save, and that
    # must leave a finished epoch to resume from (CI once caught it leaving none).
    checkpoint, done = _finished_epoch(tmp_path / "ckpt-killed")
    assert torch.load(checkpoint, weights_only=True)["epoch"] == done
    assert 2 <= done < epochs

    resumed = subprocess.run(cmd, cwd=project, env=env, check=True, capture_output=True, text=True)
    assert f"resumed from the checkpoint of epoch {done}" in resumed.stdout

    assert _figures(killed / "log.csv") == _figures(reference / "log.csv")
    assert len(_figures(killed / "log.csv")) == epochs
    ref_w = torch.load(reference / "model" / "model.pt", weights_only=True)
    got_w = torch.load(killed / "model" / "model.pt", weights_only=True)
    assert ref_w.keys() == got_w.keys() and all(torch.equal(ref_w[k], got_w[k]) for k in ref_w)
    assert not checkpoint.parent.exists()  # cleared once the model folder holds the result

    from mlflow import MlflowClient

    client = MlflowClient(f"sqlite:///{db}")
    (run,) = client.search_runs([client.get_experiment_by_name("killed").experiment_id])
    assert run.info.status == "FINISHED" and run.data.tags["resumed_from_epoch"] == str(done)
    steps = {m.step for m in client.get_metric_history(run.info.run_id, "val_f1")}
    assert steps == set(range(1, epochs + 1))


def _finished_epoch(folder: Path) -> tuple[Path, int] | None:
    """The newest checkpoint with its digest beside it (written after it), and its epoch."""
    from vidops.fileio import digest_problem

    for checkpoint in sorted(folder.glob("*/epoch-*.pt"), reverse=True):
        try:
            if not digest_problem(checkpoint):
                return checkpoint, int(checkpoint.stem.split("-")[1])
        except OSError:  # replaced or removed while it was read: the next one is coming
            continue
    return None


def _wait_for_checkpoint(folder: Path, process: subprocess.Popen, min_epoch: int) -> None:
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        assert process.poll() is None, "training ended before it could be killed"
        found = _finished_epoch(folder)
        if found and found[1] >= min_epoch:
            return
        time.sleep(0.05)
    raise AssertionError(f"no checkpoint of epoch {min_epoch} in {folder} after 300 s")


def test_two_process_ddp_with_gloo(project, tmp_path):
    db = tmp_path / "mlflow.db"
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{db}"}
    train = TrainConfig(epochs=2, batch_size=2, processes=2, checkpoint_dir=str(tmp_path / "ckpt"),
                        experiment="ddp")
    params = _params(tmp_path / "params.yaml", ModelConfig(arch="cnn_pool", cnn=CnnConfig(width=4)), train)
    done = subprocess.run(_cli(project, tmp_path, params, env), cwd=project, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "trained cnn_pool on 2 processes on cpu" in done.stdout
    for rank in (0, 1):  # the distributed sampler gave each process half of the 8 train clips
        assert f"rank {rank}/2 trains on 4 of 8 clips per epoch" in done.stderr
    assert len(_figures(tmp_path / "log.csv")) == 2

    from mlflow import MlflowClient

    client = MlflowClient(f"sqlite:///{db}")
    runs = client.search_runs([client.get_experiment_by_name("ddp").experiment_id])
    assert len(runs) == 1, "only rank 0 may log to MLflow"
    assert runs[0].data.tags["processes"] == "2" and runs[0].data.params["train.processes"] == "2"
    assert section_dict(train)["augment.crop_scale"] == 1.0  # nested params are flattened


def test_settings_a_feature_family_ignores_are_said_not_dropped(project, tmp_path, monkeypatch,
                                                                 caplog):
    """flow_linear fits a head on the deterministic view: stored views and augmentation are
    named at run time and tagged on the run, not silently ignored."""
    import mlflow

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    train = TrainConfig(augment=VIEWS, checkpoint_dir=str(tmp_path / "ckpt"),
                        feature_cache=str(tmp_path / "features"))
    with caplog.at_level("WARNING", logger="vidops"):
        result = _stage(project, tmp_path, ModelConfig(arch="flow_linear"), train)
    said = [r.getMessage() for r in caplog.records if "not used" in r.getMessage()]
    assert len(said) == 1 and "extract.train_views=2" in said[0] and "train.augment" in said[0]
    tags = mlflow.get_run(result.run_id).data.tags
    assert tags["unused_settings"] == "extract.train_views=2,train.augment"


def test_a_selection_killed_half_way_leaves_no_running_or_duplicate_child_runs(project, tmp_path,
                                                                               monkeypatch):
    """#22: after a kill in model selection two cv-* runs stayed RUNNING forever, and the
    resumed run collected a second set of cv-* children."""
    from mlflow import MlflowClient

    from vidops.data.clips import usable_clips
    from vidops.stages import train as train_stage
    from vidops.training.checkpoint import Checkpoints, training_key

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    model = ModelConfig(arch="auto", candidates=("motion_linear", "flow_linear"))
    train = TrainConfig(checkpoint_dir=str(tmp_path / "ckpt"), feature_cache=str(tmp_path / "f"))
    clips = usable_clips(project / "manifest.csv", project / "frames", project / "validation.json")
    key = training_key(model, train, FRAMES, [c for c in clips if c.split == "train"],
                       [c for c in clips if c.split == "val"])
    # What the kill left: the training's run, one finished and one RUNNING cv child.
    experiment = train_stage.setup_mlflow(project, train.experiment)
    client = MlflowClient()
    parent = client.create_run(experiment, run_name="train-auto")
    done = client.create_run(experiment, run_name="cv-motion_linear",
                             tags={"mlflow.parentRunId": parent.info.run_id})
    client.set_terminated(done.info.run_id)
    left = client.create_run(experiment, run_name="cv-flow_linear",
                             tags={"mlflow.parentRunId": parent.info.run_id})
    Checkpoints(tmp_path / "ckpt", key).write_json(train_stage.RUN_FILE,
                                                   {"run_id": parent.info.run_id})
    assert client.get_run(left.info.run_id).info.status == "RUNNING"

    result = _stage(project, tmp_path, model, train)
    assert result.run_id == parent.info.run_id  # resumed in the same run
    children = client.search_runs([experiment], f"tags.mlflow.parentRunId = '{result.run_id}'")
    names = sorted(c.info.run_name for c in children)
    assert names == ["cv-flow_linear", "cv-motion_linear"]
    assert all(c.info.status == "FINISHED" for c in children)
