"""The Prefect flow against a temporary Prefect server, running the real DVC stages."""

import subprocess

import pytest

from support import copy_project

pytestmark = pytest.mark.slow


def _logs(flow_run_id) -> list[str]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId
    from prefect.logging.handlers import APILogHandler

    APILogHandler().flush()  # logs are sent in batches; make sure all of them arrived
    with get_client(sync_client=True) as client:
        logs = client.read_logs(LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id])))
    return [log.message for log in logs]


def test_flow_imports_and_reproduces_each_stage(tmp_path, tiny_source):
    from vidops.flow import STAGES, video_pipeline

    project = copy_project(tmp_path / "project")
    state = video_pipeline(source=str(tiny_source), root=str(project), return_state=True)
    assert state.is_completed()
    summary = state.result()
    assert summary["imported"]["copied"] == 24
    assert summary["stages"] == dict.fromkeys(STAGES, "ran")
    assert summary["promotion"]["promoted"]

    messages = _logs(state.state_details.flow_run_id)
    # The stage's own output (printed by `vidops extract` in a DVC subprocess) is in Prefect.
    assert any(m.startswith("extract | frames: 24 clips, 24 decoded") for m in messages)
    assert any(m.startswith("register | vidops-classifier version 1") for m in messages)

    # Same flow, nothing new: every stage is skipped by DVC.
    second = video_pipeline(root=str(project), return_state=True)
    assert second.result()["stages"] == dict.fromkeys(STAGES, "up to date")
    status = subprocess.run(["dvc", "status"], cwd=project, capture_output=True, text=True)
    assert "up to date" in status.stdout


def test_failing_stage_fails_the_flow_with_its_own_message(tmp_path, tiny_source):
    from vidops.flow import video_pipeline

    project = copy_project(tmp_path / "project")
    (project / "params.yaml").write_text(
        (project / "params.yaml").read_text().replace("min_clips_per_class: 2", "min_clips_per_class: 9"))
    state = video_pipeline(source=str(tiny_source), root=str(project), return_state=True)
    assert state.is_failed()
    with pytest.raises(Exception, match=r"stage 'validate' failed[\s\S]*min_clips_per_class"):
        state.result()
