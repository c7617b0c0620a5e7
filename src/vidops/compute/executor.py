"""The one seam per-clip work goes through: decoding clips, computing their features.

``open_executor`` picks where the work runs, from the environment and never from
``params.yaml`` (where work runs is not a parameter of the result, so it never enters a
fingerprint, a DVC hash or ``dvc.lock``):

- ``VIDOPS_DASK_ADDRESS``, else Dask's own ``scheduler-address`` setting (the
  ``DASK_SCHEDULER_ADDRESS`` variable or a Dask config file): the Dask cluster there
  (compute/dask_cluster.py). ``VIDOPS_DASK_ADDRESS=local`` keeps the work on this machine
  even when Dask is configured.
- otherwise this machine: in this process for one worker, a pool of spawned processes for more.

Every executor has the same contract. A task is ``fn(shared, *args)``: ``shared`` (a model,
say) reaches each worker once, not once per task. Results come back to the caller; what
is written where is the task's business (extraction lets processes on this machine write
their own frames, while a cluster's workers send the bytes back: ``Executor.remote``).
A task that crashes the process running it (a decoder segfault) is
tried a bounded number of times and then comes back as ``Done.crashed``; it never takes
the run down. An exception raised by ``fn`` is a bug and propagates.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import multiprocessing
import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Protocol

from vidops.compute.tasks import Done, Task, window

log = logging.getLogger(__name__)

ADDRESS_VARIABLE = "VIDOPS_DASK_ADDRESS"
GPU_VARIABLE = "VIDOPS_DASK_GPU"  # 1: backbone features on the workers with --resources GPU=1
THIS_MACHINE = "local"


class Executor(Protocol):
    where: str  # for logs: "this process", "2 local processes", "Dask tcp://..."
    workers: int
    remote: bool  # True when the workers may not see this machine's files

    def run(self, fn: Callable[..., Any], tasks: Iterable[Task], shared: Any = None,
            resources: dict[str, float] | None = None) -> Iterator[Done]:
        """``fn(shared, *task.args)`` for every task, yielded as each finishes (any order).

        ``tasks`` is consumed lazily, a bounded window ahead of the results, so tasks that
        carry data (a clip's frames) never pile up in this process.

        ``resources``: what each task needs of a Dask worker (``{"GPU": 1}``); ignored locally.
        """
        ...


class InProcess:
    """One worker: the tasks run here, one after the other (no start-up, no pickling)."""

    where = "this process"
    workers = 1
    remote = False

    def run(self, fn: Callable[..., Any], tasks: Iterable[Task], shared: Any = None,
            resources: dict[str, float] | None = None) -> Iterator[Done]:
        for task in tasks:
            yield Done(task.key, fn(shared, *task.args), self.where)


_SHARED: Any = None  # the pool worker's copy of ``shared``, installed once per process


def _install(shared: Any) -> None:
    global _SHARED
    _SHARED = shared


def _call(fn: Callable[..., Any], args: tuple) -> Any:
    return fn(_SHARED, *args)


class LocalPool:
    """``workers`` spawned processes on this machine, each recycled after 256 tasks.

    spawn: the parent may hold threads (tqdm, MLflow) that fork would copy mid-state;
    recycling bounds what a leaking decoder can accumulate. A task that crashes its
    process breaks the pool; the tasks left are then run one at a time in a fresh
    one-process pool, so the one that crashes it again is named and the rest finish.
    """

    remote = False

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self.where = f"{workers} local processes"

    def _pool(self, workers: int, shared: Any) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(max_workers=workers, max_tasks_per_child=256,
                                   mp_context=multiprocessing.get_context("spawn"),
                                   initializer=_install, initargs=(shared,))

    def run(self, fn: Callable[..., Any], tasks: Iterable[Task], shared: Any = None,
            resources: dict[str, float] | None = None) -> Iterator[Done]:
        pending = iter(tasks)
        left: list[Task] = []
        running: dict[Future, Task] = {}
        try:
            with self._pool(self.workers, shared) as pool:
                while True:
                    for task in itertools.islice(pending, window(self.workers) - len(running)):
                        running[pool.submit(_call, fn, task.args)] = task
                    if not running:
                        return
                    finished, _ = wait(running, return_when=FIRST_COMPLETED)
                    for future in finished:
                        task = running.pop(future)  # the result is dropped once handed over
                        try:
                            value = future.result()
                        except BrokenProcessPool:
                            left.append(task)
                            continue
                        yield Done(task.key, value, "local pool")
                    if left:
                        raise BrokenProcessPool(left[0].key)
        except BrokenProcessPool:
            left += [*running.values(), *pending]  # popped ones are in ``left`` already
            log.warning("a task crashed its worker process; running the %d left one at a time "
                        "to find the one that does it", len(left))
            yield from self._isolated(fn, left, shared)

    def _isolated(self, fn: Callable[..., Any], tasks: list[Task],
                  shared: Any) -> Iterator[Done]:
        pool = None
        for task in tasks:
            pool = pool or self._pool(1, shared)
            try:
                yield Done(task.key, pool.submit(_call, fn, task.args).result(), "local pool")
            except BrokenProcessPool:
                pool.shutdown(wait=False)
                pool = None
                yield Done(task.key, None, "local pool", "it crashed the process it ran in")
        if pool is not None:
            pool.shutdown()


def scheduler_address() -> tuple[str, str]:
    """The Dask scheduler to use and where that came from; ("", "") for this machine."""
    own = os.environ.get(ADDRESS_VARIABLE, "").strip()
    if own:
        return ("", "") if own == THIS_MACHINE else (own, ADDRESS_VARIABLE)
    dask_own = os.environ.get("DASK_SCHEDULER_ADDRESS", "").strip()
    if dask_own:  # read here too: Dask reads its variables once, when it is first imported
        return dask_own, "DASK_SCHEDULER_ADDRESS"
    if _dask_configured():
        import dask.config

        address = dask.config.get("scheduler-address", None)
        if address:
            return str(address), "Dask's scheduler-address setting"
    return "", ""


def _dask_configured() -> bool:
    # Dask reads its YAML config from these folders; only then is importing it worth it.
    folders = [os.environ.get("DASK_CONFIG", ""), os.path.expanduser("~/.config/dask"),
               "/etc/dask"]
    return any(folder and os.path.isdir(folder) for folder in folders)


@contextlib.contextmanager
def open_executor(local_workers: int) -> Iterator[Executor]:
    """Where per-clip work runs: the configured Dask cluster, else ``local_workers`` here."""
    address, source = scheduler_address()
    if address:
        from vidops.compute.dask_cluster import DaskExecutor

        with DaskExecutor.connect(address, source) as executor:
            yield executor
        return
    yield InProcess() if local_workers <= 1 else LocalPool(local_workers)
