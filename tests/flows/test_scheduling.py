"""A real `prefect server`, the flow served with a cron schedule, a run by hand."""

import os
import signal
import subprocess

import pytest

from support import answers, copy_project, free_port, stop_group, wait_until

pytestmark = pytest.mark.slow
# the six DVC stages, then the push to the DVC remote (a no-op without one, still a task)
STAGES = {"ingest", "extract", "validate", "train", "evaluate", "register", "dvc-push"}


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
    port = str(free_port())
    api = f"http://127.0.0.1:{port}/api"
    env = {**os.environ, "PREFECT_API_URL": api, "PREFECT_HOME": str(tmp_path / "prefect"),
           # the scheduler looks for due deployments every 5 s instead of every minute
           "PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS": "5"}
    server_log, serve_log = (tmp_path / "server.log").open("w"), (tmp_path / "serve.log").open("w")
    server = subprocess.Popen(["prefect", "server", "start", "--host", "127.0.0.1", "--port", port],
                              env=env, stdout=server_log, stderr=subprocess.STDOUT,
                              start_new_session=True)
    runner = None
    try:
        wait_until("prefect server", lambda: answers(f"{api}/health"), 120)
        runner = subprocess.Popen(["vidops", "schedule", "--cron", "* * * * *",
                                   "--name", "every-minute"], cwd=project, env=env,
                                  stdout=serve_log, stderr=subprocess.STDOUT, start_new_session=True)
        with temporary_settings({PREFECT_API_URL: api}), get_client(sync_client=True) as client:
            deployment = wait_until("the served deployment", lambda: _deployment(client), 120)
            assert deployment.schedules[0].schedule.cron == "* * * * *"
            manual = client.create_flow_run_from_deployment(deployment.id)  # a run by hand

            def finished():
                # The cron made its runs (the scheduler's); the run by hand went through the
                # served flow as a scheduled one does. That a cron run itself completes, on a
                # worker, is tests/team's (it waits for the minute; this one need not).
                runs = client.read_flow_runs(deployment_filter=DeploymentFilter(
                    id=DeploymentFilterId(any_=[deployment.id])))
                broken = [r for r in runs if r.state and (r.state.is_failed() or r.state.is_crashed())]
                assert not broken, f"{broken[0].name}: {broken[0].state.message}"
                done = {r.id for r in runs if r.state and r.state.is_completed()}
                scheduled = [r for r in runs if r.auto_scheduled]
                return scheduled if manual.id in done and scheduled else None

            scheduled = wait_until("a scheduled run and the manual run", finished, 420)
            assert all(r.expected_start_time.second == 0 for r in scheduled)  # on the minute
            tasks = client.read_task_runs(flow_run_filter=FlowRunFilter(
                id=FlowRunFilterId(any_=[manual.id])))
            assert {t.name for t in tasks if t.state.is_completed()} == STAGES
    finally:
        stop_group(runner)
        stop_group(server)
    assert (project / "reports" / "promotion.json").is_file()
    # SIGTERM stops `vidops schedule` cleanly: no un-awaited coroutine, no SIGKILL needed.
    serve_log.close()
    said = (tmp_path / "serve.log").read_text()
    assert "never awaited" not in said, said[-3000:]
    assert runner.returncode != -signal.SIGKILL


def _deployment(client):
    from prefect.exceptions import ObjectNotFound

    try:
        return client.read_deployment_by_name("video-pipeline/every-minute")
    except ObjectNotFound:
        return None
