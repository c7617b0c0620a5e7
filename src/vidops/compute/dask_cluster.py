"""Per-clip work on a Dask cluster: the executor behind ``VIDOPS_DASK_ADDRESS`` or Dask's
``scheduler-address`` (compute/executor.py says how one is chosen).

The contract with the workers, checked when the client connects:

- Workers run the same vidops code and the same decoding and model libraries as the
  client (same image or environment): a worker whose code digest or library versions
  differ is named and refused, because its outputs would not be the same bytes.
- Workers read the clips at the path the manifest resolves to on the client (an absolute
  path: the shared filesystem of an HPC cluster, or the same mount in every container).
  A worker that cannot read a clip fails that clip, with the path and the worker named.
- Results travel back to the client, which writes frames and features atomically into its
  own artifacts and feature cache: the artifacts folder need not be shared, and a worker
  killed mid-task leaves nothing behind. Dask reruns its tasks on the other workers.
- A task that kills every worker it lands on (a decoder segfault) fails after Dask's
  ``distributed.scheduler.allowed-failures`` tries (3 by default) and comes back as
  crashed; the run goes on.
- Tasks that ask for a GPU (``resources={"GPU": 1}``) go only to workers started with
  ``--resources GPU=1``.
"""

from __future__ import annotations

import itertools
import logging
import os
import uuid
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from distributed import Client, Future, as_completed, get_worker
from distributed.scheduler import KilledWorker

from vidops.code_identity import code_digest, library_versions
from vidops.compute.tasks import Done, Task, window
from vidops.errors import VidopsError

log = logging.getLogger(__name__)

TIMEOUT_VARIABLE = "VIDOPS_DASK_TIMEOUT"


class ClusterError(VidopsError):
    """The Dask cluster cannot be used: unreachable, no workers, or workers that differ."""


def _timeout() -> float:
    return float(os.environ.get(TIMEOUT_VARIABLE, "10"))


def _identity() -> dict:
    return {"code": code_digest(), **library_versions()}


def _on_worker(fn: Callable[..., Any], shared: Any, *args: Any) -> tuple[str, Any]:
    return get_worker().address, fn(shared, *args)


class DaskExecutor:
    """Tasks as Dask futures on the cluster at ``address``; results gathered as they finish."""

    remote = True

    def __init__(self, client: Client, address: str) -> None:
        self.client = client
        self.address = address
        workers = client.scheduler_info(n_workers=-1)["workers"].values()
        self.workers = len(workers)
        self.threads = sum(w.get("nthreads", 1) for w in workers)
        self.where = f"Dask {address} ({self.workers} workers, {self.threads} threads)"

    @classmethod
    def connect(cls, address: str, source: str) -> DaskExecutor:
        timeout = _timeout()
        try:
            client = Client(address, timeout=timeout, set_as_default=False)
        except (OSError, TimeoutError) as err:
            raise ClusterError(
                f"Dask scheduler {address} (from {source}) did not answer within {timeout:g} s "
                f"({err}); start it (`dask scheduler`), correct the address, or set "
                f"VIDOPS_DASK_ADDRESS=local to run on this machine") from None
        try:
            client.wait_for_workers(1, timeout=timeout)
        except TimeoutError:
            client.close()
            raise ClusterError(f"Dask scheduler {address} (from {source}) has no workers after "
                               f"{timeout:g} s; start some: `dask worker {address}`") from None
        executor = cls(client, address)
        executor._check_workers()
        log.info("per-clip work on %s; dashboard %s", executor.where, client.dashboard_link)
        return executor

    def _check_workers(self) -> None:
        mine = _identity()
        theirs = self.client.run(_identity)
        differ = {worker: {k: v for k, v in found.items() if mine.get(k) != v}
                  for worker, found in theirs.items() if found != mine}
        if differ:
            self.close()
            lines = "; ".join(f"{w}: {d}" for w, d in sorted(differ.items()))
            raise ClusterError(f"Dask workers run other code than this client ({mine}): "
                               f"{lines}; their outputs would differ, so they are not used. "
                               "Install the same vidops and libraries on every worker.")

    def run(self, fn: Callable[..., Any], tasks: Iterable[Task], shared: Any = None,
            resources: dict[str, float] | None = None) -> Iterator[Done]:
        pending = iter(tasks)
        first = list(itertools.islice(pending, window(self.threads)))
        if not first:
            return
        # One copy of ``shared`` per worker, not one per task.
        shared_future = (self.client.scatter(shared, broadcast=True, hash=False)
                         if shared is not None else None)
        # Keys are the cluster's, not this client's: a token keeps two runs apart.
        name = f'{getattr(fn, "__name__", "task").strip("_")}-{uuid.uuid4().hex[:8]}'
        submitted: dict[str, Task] = {}  # Dask key -> task, while it runs

        def submit(task: Task) -> Future:
            future = self.client.submit(_on_worker, fn, shared_future, *task.args,
                                        key=f"{name}-{task.key}", pure=False, resources=resources)
            submitted[future.key] = task
            return future

        running = as_completed([submit(t) for t in first], loop=self.client.loop)
        suspects: list[Task] = []
        for future in running:
            task = submitted.pop(future.key)
            try:
                where, value = future.result()
            except KilledWorker:
                # Dask counts a death against every task queued on the dying worker, so an
                # innocent clip queued beside a crashing one can reach the limit too.
                suspects.append(task)
                continue
            finally:
                future.release()
            for more in itertools.islice(pending, 1):  # one in for one out: a bounded window
                running.add(submit(more))
            yield Done(task.key, value, where)
        # Each suspect alone on the cluster: only the one that really kills workers fails.
        for task in suspects:
            future = submit(task)
            submitted.pop(future.key)
            try:
                where, value = future.result()
            except KilledWorker as err:
                tries = str(err).split(". ")[0]  # "Attempted to run task ... on 2 different workers"
                yield Done(task.key, None, "dask", f"it crashed every Dask worker it ran on: {tries}")
            else:
                yield Done(task.key, value, where)
            finally:
                future.release()

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> DaskExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
