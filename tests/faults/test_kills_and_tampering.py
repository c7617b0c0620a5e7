"""Faults on real processes and stores: kill -9 at chosen moments, files edited behind
vidops's back. Each case ends in a clear refusal or a correct recovery (issue #22)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import yaml

from support import KILLED_MOVE, TINY_PARAMS, copy_project, sqlite_registry, wait_until

pytestmark = pytest.mark.slow


def sh(*cmd, cwd, check=True, env=None):
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=900, env=env)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return proc


def set_param(project, section: str, key: str, value) -> None:
    path = project / "params.yaml"
    params = yaml.safe_load(path.read_text())
    params[section][key] = value
    path.write_text(yaml.safe_dump(params, sort_keys=False))


@pytest.fixture
def project(tmp_path, tiny_source):
    params = {**TINY_PARAMS, "extract": {**TINY_PARAMS["extract"], "workers": 1}}
    project = copy_project(tmp_path / "project", params)
    sh("vidops", "import", str(tiny_source), cwd=project)
    sh("dvc", "repro", "extract", cwd=project)
    return project


def test_kill_9_during_a_re_extraction_never_leaves_mixed_frames(project):
    """num_frames 6 -> 3, `dvc repro` killed -9 mid-extraction, back to 6: every frame file
    holds 6 frames again (before: the old fingerprint vouched for a 6/3 mix)."""
    frames = project / "artifacts" / "frames"
    set_param(project, "extract", "num_frames", 3)
    began = time.time()
    run = subprocess.Popen(["dvc", "repro", "extract"], cwd=project, start_new_session=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def some_rewritten() -> bool:
        assert run.poll() is None, "extraction finished before it could be killed"
        return any(p.stat().st_mtime > began for p in frames.glob("*.npy"))

    wait_until("a frame file rewritten with 3 frames", some_rewritten, 120, interval=0.005)
    os.killpg(run.pid, signal.SIGKILL)
    run.wait()
    shapes = {np.load(p).shape[0] for p in frames.glob("*.npy")}
    assert 3 in shapes  # what the kill left (some or all rewritten)

    set_param(project, "extract", "num_frames", 6)
    sh("dvc", "repro", "extract", cwd=project)
    assert {np.load(p).shape for p in frames.glob("*.npy")} == {(6, 32, 32, 3)}
    assert "up to date" in sh("dvc", "status", "extract", cwd=project).stdout


def test_a_truncated_frame_file_is_decoded_again_by_dvc_repro(project):
    frames = project / "artifacts" / "frames"
    victim = sorted(frames.glob("*.npy"))[0]
    good = victim.read_bytes()
    victim.write_bytes(good[: len(good) // 2])
    out = sh("dvc", "repro", "extract", cwd=project)
    assert victim.name in out.stdout + out.stderr  # named, with the reason
    assert victim.read_bytes() == good


def test_an_edited_split_ledger_stops_dvc_repro_naming_the_group(project):
    set_param(project, "ingest", "group_splits", {})  # the ledger alone holds the splits now
    sh("dvc", "repro", "ingest", cwd=project)
    ledger = project / "data" / "splits.csv"
    manifest = (project / "artifacts" / "manifest.csv").read_bytes()
    ledger.write_text(ledger.read_text().replace("tr,train", "tr,test"))
    failed = sh("dvc", "repro", "ingest", cwd=project, check=False)
    assert failed.returncode != 0
    assert "group 'tr' had its clips in train" in failed.stderr
    assert "ingest.group_splits" in failed.stderr
    assert (project / "artifacts" / "manifest.csv").read_bytes() == manifest


def test_a_second_vidops_run_is_refused_at_once(project):
    from vidops.pipeline.repo_lock import repo_lock

    with repo_lock(project):
        began = time.monotonic()
        refused = sh("vidops", "run", cwd=project, check=False)
        took = time.monotonic() - began
    assert refused.returncode == 1 and "already in progress" in refused.stderr
    assert took < 20  # no Prefect server was started first (that alone took ~30 s)



def test_kill_9_in_a_champion_move_leaves_alias_and_history_agreeing(tmp_path):
    """A real process killed -9 inside move_champion, on a real SQLite registry."""
    from vidops.registry.champion import current_champion, history, move_champion

    client, uri = sqlite_registry(tmp_path)
    move_champion(client, "vidops-classifier", "1", "gate", "first")
    killed = subprocess.run([sys.executable, "-c", KILLED_MOVE, uri, "vidops-classifier"],
                            capture_output=True, text=True, timeout=300)
    assert killed.returncode == -signal.SIGKILL
    assert current_champion(client, "vidops-classifier") == "1"
    assert [e.version for e in history(client, "vidops-classifier")] == ["1"]
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri}
    (tmp_path / "params.yaml").write_text("{}\n")
    listed = sh("vidops", "history", cwd=tmp_path, env=env).stdout
    assert "v1" in listed and "killed half-way" not in listed
    promoted = sh("vidops", "promote", "--version", "2", "--reason", "again", cwd=tmp_path, env=env)
    assert "champion is now version 2 (was 1)" in promoted.stdout
    rolled = sh("vidops", "rollback", "--reason", "back", cwd=tmp_path, env=env)
    assert "rolled back to version 1" in rolled.stdout
    assert json.loads(json.dumps([e.version for e in history(client, "vidops-classifier")])) == [
        "1", "2", "1"]
