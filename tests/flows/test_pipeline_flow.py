"""The Prefect flow against a temporary Prefect server, running the real DVC stages."""

import json
import os
import subprocess
import sys
import time

import pytest

from support import copy_project

pytestmark = pytest.mark.slow


def _log_records(flow_run_id) -> list:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId
    from prefect.logging.handlers import APILogHandler

    APILogHandler().flush()  # logs are sent in batches; make sure all of them arrived
    with get_client(sync_client=True) as client:
        return client.read_logs(LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id])))


def _logs(flow_run_id) -> list[str]:
    return [log.message for log in _log_records(flow_run_id)]


def _artifacts(flow_run_id) -> dict:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    with get_client(sync_client=True) as client:
        found = client.read_artifacts(artifact_filter=ArtifactFilter(
            flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id])))
    return {a.key: a for a in found}


def _new_clip(landing, seed: int):
    """One more demo clip with bytes no earlier clip has."""
    import numpy as np

    from vidops.data.synthetic import SynthSpec, render_clip, write_clip

    spec = SynthSpec(width=64, height=48, min_frames=10, max_frames=14)
    (landing / "spin").mkdir(parents=True, exist_ok=True)
    write_clip(landing / "spin" / f"new_{seed}.mp4",
               render_clip("spin", np.random.default_rng([99, seed]), spec), spec.fps)


def test_flow_runs_skips_retrains_on_new_data_and_refuses_a_concurrent_run(tmp_path, tiny_source):
    from prefect.settings import PREFECT_API_URL

    from vidops.pipeline.prefect_flow import stages_of, video_pipeline

    project = copy_project(tmp_path / "project")
    stages = stages_of(project)
    assert stages == ("ingest", "extract", "validate", "train", "evaluate", "register")
    state = video_pipeline(source=str(tiny_source), root=str(project), return_state=True)
    assert state.is_completed()
    summary = state.result()
    assert summary["imported"]["copied"] == 24
    assert summary["stages"] == dict.fromkeys(stages, "ran")
    assert summary["promotion"]["promoted"] and set(summary["seconds"]) == set(stages)

    records = _log_records(state.state_details.flow_run_id)
    messages = [r.message for r in records]
    # The stage's own output (printed by `vidops extract` in a DVC subprocess) is in Prefect.
    assert any(m.startswith("extract | frames: 24 clips, 24 decoded") for m in messages)
    assert any(m.startswith("register | vidops-classifier version 1") for m in messages)
    # Live: each line carries the time it was written, so a stage's lines are spread over
    # the time it ran instead of all arriving together when it ended.
    train = sorted(r.timestamp for r in records if r.message.startswith("train | "))
    assert len(train) > 5 and (train[-1] - train[0]).total_seconds() > 1.0, train
    # DVC's four-line "git add dvc.lock / autostage" hint: said once for the run, not per stage.
    assert not any("autostage" in m for m in messages)
    assert sum("git add dvc.lock" in m for m in messages) == 1
    # The result on the flow-run page: figures with their interval, the gate, the version.
    artifacts = _artifacts(state.state_details.flow_run_id)
    result = artifacts["pipeline-result"].data
    assert "macro F1" in result and "95% interval" in result
    assert "promoted to `champion`" in result and "vidops-classifier version 1" in result
    confusion = json.loads(artifacts["confusion-matrix"].data)
    assert {row["true label"] for row in confusion} == {"pulse", "slide", "spin", "still"}

    # Same flow, nothing new: every stage is skipped by DVC, quickly.
    started = time.monotonic()
    second = video_pipeline(root=str(project), return_state=True)
    assert second.result()["stages"] == dict.fromkeys(stages, "up to date")
    assert time.monotonic() - started < 60
    assert "every stage is up to date" in "\n".join(_logs(second.state_details.flow_run_id))

    # A landing folder that brings another class is another task: refused before anything
    # is copied (#31), unless new_classes says it is on purpose.
    stray = tmp_path / "stray"
    (stray / "wave").mkdir(parents=True)
    (stray / "wave" / "w.mp4").write_bytes((tiny_source / "spin" / "spin_000.mp4").read_bytes()
                                           + b"\0")
    other_task = video_pipeline(source=str(stray), root=str(project), return_state=True)
    assert other_task.is_failed()
    with pytest.raises(Exception, match=r"brings 1 class\(es\) this project's data does not "
                                        r"have \(wave"):
        other_task.result()
    assert not (project / "data" / "raw" / "wave").exists()

    # New data from a landing folder, in another process; meanwhile a second run is refused.
    landing = tmp_path / "landing"
    _new_clip(landing, seed=1)
    env = {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value()}
    other = subprocess.Popen([sys.executable, "flows/pipeline.py", "--source", str(landing)],
                             cwd=project, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
    lock = project / ".vidops.lock"
    deadline = time.monotonic() + 120
    while not (lock.is_file() and "pid" in lock.read_text()):
        assert other.poll() is None, other.stderr.read()[-3000:]
        assert time.monotonic() < deadline, "the first run never took the repository lock"
        time.sleep(0.2)
    refused = video_pipeline(root=str(project), return_state=True)
    assert refused.is_failed()
    with pytest.raises(Exception, match="a pipeline run is already in progress"):
        refused.result()
    out, err = other.communicate(timeout=600)
    assert other.returncode == 0, err[-3000:]
    retrained = json.loads(out[out.index("{"):])
    assert retrained["imported"]["copied"] == 1
    assert retrained["stages"]["extract"] == "ran" and retrained["stages"]["train"] == "ran"
    assert "extract | frames: 25 clips, 1 decoded, 24 reused" in err  # only the new clip decoded


def test_failing_stage_fails_the_flow_with_its_own_message(tmp_path, tiny_source):
    from vidops.pipeline.prefect_flow import video_pipeline

    project = copy_project(tmp_path / "project")
    (project / "params.yaml").write_text(
        (project / "params.yaml").read_text().replace("min_clips_per_class: 2", "min_clips_per_class: 9"))
    state = video_pipeline(source=str(tiny_source), root=str(project), return_state=True)
    assert state.is_failed()
    with pytest.raises(Exception, match=r"stage 'validate' failed[\s\S]*min_clips_per_class"):
        state.result()
