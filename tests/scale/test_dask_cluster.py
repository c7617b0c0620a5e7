"""Per-clip work on a real Dask cluster: `dask scheduler` and `dask worker` processes on
127.0.0.1, each worker in its own working directory. Same bytes as a local run, a worker
killed mid-extraction survived, a clip that kills every worker recorded, and an
unreachable scheduler named."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import threading
import time
from pathlib import Path

import pytest

import support
from servers import dask_cluster
from support import stage_context, write_tiny_dataset
from vidops.compute.dask_cluster import ClusterError, DaskExecutor
from vidops.config import (
    ExtractConfig,
    IngestConfig,
    ModelConfig,
    TrainConfig,
    ValidateConfig,
)
from vidops.data import extraction
from vidops.data.raw_store import import_clips
from vidops.stages.evaluate import run_evaluate
from vidops.stages.extract import run_extract
from vidops.stages.ingest import run_ingest
from vidops.stages.train import run_train
from vidops.stages.validate import run_validate
from vidops.training import clip_features

pytestmark = pytest.mark.slow

FRAMES = ExtractConfig(num_frames=6, size=64, train_views=1)
# Both feature streams: optical flow (OpenCV) and the ImageNet backbone (torch).
MODEL = ModelConfig(arch="fusion_linear")


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = tmp_path_factory.mktemp("proj")
    source = write_tiny_dataset(root / "source")
    import_clips(source, root / "raw", (".mp4",))
    run_ingest(IngestConfig(group_splits={"tr": "train", "va": "val", "te": "test"}),
               root / "raw", root / "manifest.csv")
    return root


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    # Dask's own setting bounds the tries of a task that kills its worker (default 3).
    with dask_cluster(tmp_path_factory.mktemp("dask"), workers=2,
                      env={"DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "1"}) as running:
        yield running


def _pipeline(root: Path, out: Path) -> dict:
    """extract -> validate -> train -> evaluate into ``out``; what each stage returned."""
    extracted = run_extract(FRAMES, root / "manifest.csv", out / "frames", progress=False)
    run_validate(ValidateConfig(), root / "manifest.csv", out / "frames", out / "validation.json",
                 out / "docs")
    train = TrainConfig(feature_cache=str(out / "features"), refit_on_val=False)
    ctx = stage_context(root, out, model=MODEL, train=train, extract=FRAMES)
    ctx = dataclasses.replace(ctx, params=dataclasses.replace(ctx.params, paths=dataclasses.replace(
        ctx.paths, frames=out / "frames", validation=out / "validation.json")))
    run_train(ctx)
    run_evaluate(ctx)
    return {"extract": extracted}


def _files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _figures(metrics: Path) -> dict:
    """metrics.json without wall-clock figures (the only thing allowed to differ)."""
    return {k: v for k, v in json.loads(metrics.read_text()).items()
            if "second" not in k and "time" not in k}


def test_the_cluster_computes_the_same_bytes_as_this_machine(project, cluster, tmp_path,
                                                             monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.setenv("VIDOPS_DASK_ADDRESS", "local")
    # Here: the local pools (extraction's always is with 2 cores; the features' from 1 clip).
    monkeypatch.setattr(clip_features, "_POOL_FROM", 1)
    here = _pipeline(project, tmp_path / "here")
    assert here["extract"].executor == "2 local processes" or os.cpu_count() == 1
    monkeypatch.setenv("VIDOPS_DASK_ADDRESS", cluster.address)
    there = _pipeline(project, tmp_path / "there")

    done_there = there["extract"]
    assert done_there.executor.startswith(f"Dask {cluster.address}")
    # Both workers decoded clips, by their own addresses.
    assert len(done_there.decoded_by) == 2 and all(w.startswith("tcp://127.0.0.1:")
                                                   for w in done_there.decoded_by)
    assert sum(done_there.decoded_by.values()) == 24 == here["extract"].decoded
    frames_here, frames_there = _files(tmp_path / "here/frames"), _files(tmp_path / "there/frames")
    assert len(frames_here) == 24 * 2 + 2  # frames + views per clip, index.csv, params.json
    assert frames_there == frames_here
    features_here = _files(tmp_path / "here/features")
    assert any(k.startswith("appearance-") for k in features_here)
    assert any(k.startswith("flow-") for k in features_here)
    assert _files(tmp_path / "there/features") == features_here
    assert (tmp_path / "there/pred.csv").read_bytes() == (tmp_path / "here/pred.csv").read_bytes()
    assert _figures(tmp_path / "there/metrics.json") == _figures(tmp_path / "here/metrics.json")


def test_a_worker_killed_mid_extraction_costs_nothing(project, tmp_path, monkeypatch):
    monkeypatch.setenv("VIDOPS_DASK_ADDRESS", "local")
    run_extract(FRAMES, project / "manifest.csv", tmp_path / "reference", progress=False)
    with dask_cluster(tmp_path / "dask", workers=2) as own:
        monkeypatch.setenv("VIDOPS_DASK_ADDRESS", own.address)
        monkeypatch.setattr(extraction, "_extract_one", support.slow_extract)
        outcome: dict = {}

        def extract() -> None:
            try:
                outcome["result"] = run_extract(FRAMES, project / "manifest.csv",
                                                tmp_path / "frames", progress=False)
            except BaseException as err:  # surfaced below, in the test's thread
                outcome["error"] = err

        thread = threading.Thread(target=extract)
        thread.start()
        journal = tmp_path / "frames" / extraction.JOURNAL
        support.wait_until("four clips journaled", lambda: outcome or (
            journal.is_file() and len(journal.read_text().splitlines()) > 4), 120, 0.05)
        assert not outcome, f"extraction ended before the kill: {outcome}"
        own.kill_worker(0)
        thread.join(300)
    assert "error" not in outcome, outcome.get("error")
    result = outcome["result"]
    assert result.decoded == 24 and not result.failed
    assert _files(tmp_path / "frames") == _files(tmp_path / "reference")


def test_a_clip_that_kills_every_worker_is_recorded_and_the_rest_extract(project, cluster,
                                                                          tmp_path):
    clips = [c for c in extraction.read_manifest(project / "manifest.csv")][:5]
    crash = tmp_path / "crash.mp4"
    shutil.copy(clips[0].path, crash)
    todo = [*clips, type(clips[0])(**{**vars(clips[0]), "clip_id": "crasher", "path": str(crash)})]
    (tmp_path / "frames").mkdir()
    with DaskExecutor.connect(cluster.address, "the test") as executor:
        rows = [row for row, _ in extraction._decode_all(FRAMES, todo, tmp_path / "frames",
                                                          executor, False,
                                                          work=support.extract_or_crash)]
    assert sorted(r.clip_id for r in rows) == sorted(c.clip_id for c in todo)  # nothing lost
    failed = [(r.clip_id, r.decode_error) for r in rows if r.decode_error]
    assert len(failed) == 1, failed
    (crashed,) = [r for r in rows if r.decode_error]
    assert crashed.clip_id == "crasher"
    assert "crashed every Dask worker it ran on" in crashed.decode_error
    assert all((tmp_path / "frames" / r.frames_file).is_file() for r in rows if r is not crashed)


@pytest.mark.parametrize("variable", ["VIDOPS_DASK_ADDRESS", "DASK_SCHEDULER_ADDRESS"])
def test_an_unreachable_scheduler_is_named_within_seconds(project, tmp_path, monkeypatch,
                                                          variable):
    address = f"tcp://127.0.0.1:{support.free_port()}"
    monkeypatch.delenv("VIDOPS_DASK_ADDRESS", raising=False)
    monkeypatch.setenv(variable, address)
    monkeypatch.setenv("VIDOPS_DASK_TIMEOUT", "3")
    start = time.monotonic()
    with pytest.raises(ClusterError, match=f"Dask scheduler {address}.*did not answer"):
        run_extract(FRAMES, project / "manifest.csv", tmp_path / "frames", progress=False)
    assert time.monotonic() - start < 20
    # No silent fallback to local work: nothing was decoded or written.
    assert not list((tmp_path / "frames").glob("*.npy"))
    assert not (tmp_path / "frames" / "index.csv").exists()
