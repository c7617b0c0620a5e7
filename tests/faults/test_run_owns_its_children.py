"""`vidops run` killed alone (not its process group): what it started dies with it, and
the repository stays locked until then (issue #30)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess

import psutil
import pytest

from support import TINY_PARAMS, copy_project, wait_until

pytestmark = pytest.mark.slow


def test_kill_9_of_vidops_run_alone_stops_its_stage_and_server_and_holds_the_lock_until(
        tmp_path, tiny_source):
    params = {**TINY_PARAMS, "model": {**TINY_PARAMS["model"], "arch": "cnn_pool"},
              "train": {**TINY_PARAMS["train"], "epochs": 400, "patience": 0}}
    project = copy_project(tmp_path / "project", params)
    subprocess.run(["vidops", "import", str(tiny_source)], cwd=project, check=True,
                   capture_output=True)
    run = subprocess.Popen(["vidops", "run"], cwd=project, start_new_session=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        parent = psutil.Process(run.pid)

        def training() -> list[psutil.Process]:
            assert run.poll() is None, f"vidops run ended first: {run.stderr.read()}"
            return [p for p in parent.children(recursive=True) if "train" in _cmd(p)]

        wait_until("vidops train running under vidops run", training, 240, interval=0.2)
        left = parent.children(recursive=True)
        assert any("uvicorn" in _cmd(p) for p in left)  # the Prefect server
        os.kill(run.pid, signal.SIGKILL)  # the pid alone: its group is left as it is
        run.wait()

        second = subprocess.run(["vidops", "run"], cwd=project, capture_output=True, text=True,
                                timeout=120)
        assert second.returncode == 1 and "already in progress" in second.stderr

        wait_until("everything vidops run started gone",
                   lambda: not [p for p in left if p.is_running()], 60, interval=0.5)
        wait_until("the repository free again", lambda: _free(project), 10, interval=0.2)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(run.pid, signal.SIGKILL)


def _cmd(proc: psutil.Process) -> str:
    try:
        return " ".join(proc.cmdline())
    except psutil.Error:  # gone or a zombie meanwhile
        return ""


def _free(project) -> bool:
    from vidops.pipeline.repo_lock import RepoBusy, repo_lock

    try:
        with repo_lock(project):
            return True
    except RepoBusy:
        return False
