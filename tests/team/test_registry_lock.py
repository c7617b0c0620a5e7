"""Concurrent registrations against the real tracking server, serialised by PostgreSQL's lock.

Four processes (four pipelines) run the gate's critical section at the same instant:
read the champion, take time to re-score, move the alias if better. With the advisory
lock every decision is made against the champion it replaces; the same race without it
loses history events, decides against stale champions and even makes MLflow's own
concurrent writes collide on PostgreSQL's unique keys, which is what the lock is for.
"""

from __future__ import annotations

import itertools
import multiprocessing

import pytest

from support import KILLED_MOVE, REGISTER_KILL_POINTS, evaluated_project, gate_worker, register_after_a_kill

pytestmark = pytest.mark.slow
F1S = ("0.5", "0.9", "0.7", "0.8")


def _register(uri: str, name: str) -> None:
    from mlflow import MlflowClient

    client = MlflowClient(uri)  # no global tracking URI left behind in the test process
    client.create_registered_model(name)
    for f1 in F1S:
        run_id = client.create_run("0").info.run_id
        client.log_text(run_id, "weights\n", "model/weights.txt")
        client.set_terminated(run_id)
        version = client.create_model_version(name, f"runs:/{run_id}/model", run_id).version
        client.set_model_version_tag(name, version, "macro_f1", f1)


def _race(uri: str, name: str, env: dict[str, str], read_together: bool = False) -> list[str]:
    """Run the four registrations at once; returns what is inconsistent afterwards."""
    from mlflow import MlflowClient

    from vidops.registry.champion import current_champion, history

    _register(uri, name)
    context = multiprocessing.get_context("spawn")
    ready = context.Barrier(len(F1S))  # all four enter the critical section at once
    read = context.Barrier(len(F1S)) if read_together else None
    workers = [context.Process(target=gate_worker, args=(uri, name, v, ready, env, read))
               for v in "1234"]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=180)
    # Unserialised, even MLflow's own writes collide: two alias or tag inserts at once
    # fail on PostgreSQL's unique keys, and that registration dies.
    problems = [f"registration of v{v} failed (exit code {w.exitcode})"
                for v, w in zip("1234", workers, strict=True) if w.exitcode != 0]
    client = MlflowClient(uri)
    events = history(client, name)
    if current_champion(client, name) != "2":
        problems.append(f"champion is v{current_champion(client, name)}, not the best (v2)")
    if not events or events[-1].version != current_champion(client, name):
        problems.append("the history does not end at the champion")
    problems += [f"v{after.version} replaced v{after.previous}, but v{before.version} was champion"
                 for before, after in itertools.pairwise(events) if after.previous != before.version]
    problems += [f"v{e.version} decided against another champion: {e.reason}" for e in events
                 if not e.reason.endswith(f"beats v{e.previous}")]
    return problems


def test_concurrent_registrations_leave_one_consistent_champion(stack):
    assert _race(stack.mlflow, "lock-test-locked", {"VIDOPS_REGISTRY_LOCK_URL": stack.lock_url}) == []


def test_the_same_race_without_the_lock_is_inconsistent(stack, monkeypatch):
    monkeypatch.delenv("VIDOPS_REGISTRY_LOCK_URL", raising=False)
    problems = _race(stack.mlflow, "lock-test-unlocked", {}, read_together=True)
    assert problems, "four unserialised registrations should have interleaved"



def test_kill_9_in_a_champion_move_on_postgresql_leaves_alias_and_history_agreeing(stack):
    """#22 on the team store: a real process killed -9 inside a move, then 30 long-reason
    moves (the history once hit PostgreSQL's 5,000-character tag column after ~18)."""
    import subprocess
    import sys

    from mlflow import MlflowClient

    from vidops.registry.champion import current_champion, history, move_champion, rollback

    name = "lock-test-kill"
    _register(stack.mlflow, name)
    client = MlflowClient(stack.mlflow, stack.mlflow)
    move_champion(client, name, "1", "gate", "first")
    killed = subprocess.run([sys.executable, "-c", KILLED_MOVE, stack.mlflow, name],
                            capture_output=True, text=True, timeout=300)
    assert killed.returncode == -9, killed.stderr[-2000:]
    assert current_champion(client, name) == "1"
    assert [e.version for e in history(client, name)] == ["1"]
    for i in range(30):
        move_champion(client, name, "1234"[i % 4], "promote", "r" * 3000)
    assert len(history(client, name)) == 31 and current_champion(client, name) == "2"
    assert rollback(client, name, "back").version == "1"  # the one before the last move


@pytest.mark.parametrize("point", REGISTER_KILL_POINTS)
def test_a_registration_killed_then_run_again_completes_once_on_postgresql(stack, point,
                                                                           tmp_path_factory):
    project = _evaluated(stack, tmp_path_factory)
    name = "kill-pg-" + point.replace(" ", "-")
    assert register_after_a_kill(project, stack.mlflow, name, point) == []


_PROJECTS: dict = {}


def _evaluated(stack, tmp_path_factory):
    """One project trained and evaluated against the team server, shared by the kill points."""
    if stack.mlflow not in _PROJECTS:
        root = tmp_path_factory.mktemp("register-kills-pg")
        _PROJECTS[stack.mlflow] = evaluated_project(root / "project", stack.mlflow)
    return _PROJECTS[stack.mlflow]
