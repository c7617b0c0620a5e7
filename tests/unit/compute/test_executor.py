"""The per-clip executor seam: where work runs is chosen from the environment only."""

from __future__ import annotations

import pytest

from vidops.compute import executor as ex
from vidops.compute.tasks import Task


def triple(shared, value):
    return shared * value


def test_where_the_work_runs_comes_from_the_environment(monkeypatch):
    monkeypatch.delenv("VIDOPS_DASK_ADDRESS", raising=False)
    monkeypatch.delenv("DASK_SCHEDULER_ADDRESS", raising=False)
    monkeypatch.setenv("DASK_CONFIG", "/nonexistent")
    monkeypatch.setenv("HOME", "/nonexistent")
    assert ex.scheduler_address() == ("", "")
    monkeypatch.setenv("DASK_SCHEDULER_ADDRESS", "tcp://sched:8786")
    assert ex.scheduler_address() == ("tcp://sched:8786", "DASK_SCHEDULER_ADDRESS")
    monkeypatch.setenv("VIDOPS_DASK_ADDRESS", "tcp://other:8786")  # vidops' own wins
    assert ex.scheduler_address() == ("tcp://other:8786", "VIDOPS_DASK_ADDRESS")
    monkeypatch.setenv("VIDOPS_DASK_ADDRESS", "local")  # this machine, Dask configured or not
    assert ex.scheduler_address() == ("", "")


def test_a_dask_config_file_names_the_scheduler(monkeypatch, tmp_path):
    import dask.config

    monkeypatch.delenv("VIDOPS_DASK_ADDRESS", raising=False)
    monkeypatch.delenv("DASK_SCHEDULER_ADDRESS", raising=False)
    monkeypatch.setenv("DASK_CONFIG", str(tmp_path))
    with dask.config.set({"scheduler-address": "tcp://from-config:8786"}):
        assert ex.scheduler_address() == ("tcp://from-config:8786",
                                          "Dask's scheduler-address setting")


@pytest.mark.parametrize("workers", [1, 2])
def test_every_task_comes_back_once_with_the_shared_object(workers):
    tasks = [Task(str(i), (i,)) for i in range(40)]  # more than one window
    with ex.open_executor(workers) as executor:
        assert isinstance(executor, ex.InProcess if workers == 1 else ex.LocalPool)
        done = list(executor.run(triple, iter(tasks), shared=3))
    assert sorted(int(d.key) for d in done) == list(range(40))
    assert all(d.value == 3 * int(d.key) and not d.crashed for d in done)


def test_a_bug_in_the_task_is_raised_not_recorded():
    with pytest.raises(TypeError):
        list(ex.LocalPool(2).run(triple, [Task("a", (1,))], shared=None))
