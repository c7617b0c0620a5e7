"""A real `prefect server`, the flow served with a cron schedule, a run by hand."""

import os
import signal
import socket
import subprocess
import time
import urllib.request

import pytest

from support import copy_project

pytestmark = pytest.mark.slow
STAGES = {"ingest", "extract", "validate", "train", "evaluate", "register"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(what: str, check, timeout: float):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(1)


def _stop(process: subprocess.Popen | None) -> None:
    # SIGTERM to the whole group: `serve` pauses its deployment and its runs end with it.
    if process is not None and process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


def test_cron_schedule_creates_a_run_and_a_manual_run_completes(tmp_path, tiny_source):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterId,
        FlowRunFilter,
        FlowRunFilterId,
    )
    from prefect.settings import PREFECT_API_URL, temporary_settings

    project = copy_project(tmp_path / "project")
    subprocess.run(["vidops", "import", str(tiny_source)], cwd=project, check=True,
                   capture_output=True)
    api = f"http://127.0.0.1:{_free_port()}/api"
    env = {**os.environ, "PREFECT_API_URL": api, "PREFECT_HOME": str(tmp_path / "prefect"),
           # the scheduler looks for due deployments every 5 s instead of every minute
           "PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS": "5"}
    port = api.split(":")[2].split("/")[0]
    server_log, serve_log = (tmp_path / "server.log").open("w"), (tmp_path / "serve.log").open("w")
    server = subprocess.Popen(["prefect", "server", "start", "--host", "127.0.0.1", "--port", port],
                              env=env, stdout=server_log, stderr=subprocess.STDOUT,
                              start_new_session=True)
    runner = None
    try:
        _wait("prefect server", lambda: _healthy(api), 120)
        runner = subprocess.Popen(["vidops", "schedule", "--cron", "* * * * *",
                                   "--name", "every-minute"], cwd=project, env=env,
                                  stdout=serve_log, stderr=subprocess.STDOUT, start_new_session=True)
        with temporary_settings({PREFECT_API_URL: api}), get_client(sync_client=True) as client:
            deployment = _wait("the served deployment", lambda: _deployment(client), 120)
            assert deployment.schedules[0].schedule.cron == "* * * * *"
            manual = client.create_flow_run_from_deployment(deployment.id)  # a run by hand

            def finished():
                runs = client.read_flow_runs(deployment_filter=DeploymentFilter(
                    id=DeploymentFilterId(any_=[deployment.id])))
                broken = [r for r in runs if r.state and (r.state.is_failed() or r.state.is_crashed())]
                assert not broken, f"{broken[0].name}: {broken[0].state.message}"
                done = {r.id for r in runs if r.state and r.state.is_completed()}
                scheduled = [r for r in runs if r.auto_scheduled and r.id in done]
                return scheduled if manual.id in done and scheduled else None

            scheduled = _wait("a scheduled run and the manual run", finished, 420)
            for run_id in (manual.id, scheduled[0].id):
                tasks = client.read_task_runs(flow_run_filter=FlowRunFilter(
                    id=FlowRunFilterId(any_=[run_id])))
                assert {t.name for t in tasks if t.state.is_completed()} == STAGES
    finally:
        _stop(runner)
        _stop(server)
    assert (project / "reports" / "promotion.json").is_file()


def _healthy(api: str) -> bool:
    try:
        with urllib.request.urlopen(f"{api}/health", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def _deployment(client):
    from prefect.exceptions import ObjectNotFound

    try:
        return client.read_deployment_by_name("video-pipeline/every-minute")
    except ObjectNotFound:
        return None
