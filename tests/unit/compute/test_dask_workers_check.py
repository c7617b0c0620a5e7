"""The client refuses Dask workers whose code or libraries differ from its own."""

from __future__ import annotations

import pytest

from vidops.compute import dask_cluster
from vidops.compute.dask_cluster import ClusterError, DaskExecutor


class FakeClient:
    """What _check_workers reads of a distributed.Client: each worker's identity."""

    def __init__(self, identities: dict[str, dict]) -> None:
        self.identities = identities
        self.closed = False

    def scheduler_info(self, n_workers: int = -1) -> dict:
        return {"workers": {w: {"nthreads": 1} for w in self.identities}}

    def run(self, fn):
        return self.identities

    def close(self) -> None:
        self.closed = True


def test_workers_with_the_same_code_are_used():
    mine = dask_cluster._identity()
    client = FakeClient({"tcp://a:1": mine, "tcp://b:1": mine})
    executor = DaskExecutor(client, "tcp://s:8786")
    executor._check_workers()
    assert executor.workers == 2 and executor.threads == 2 and not client.closed


def test_a_worker_with_other_code_is_named_and_refused():
    mine = dask_cluster._identity()
    other = {**mine, "code": "0" * 16, "av": "1.0"}
    client = FakeClient({"tcp://a:1": mine, "tcp://b:1": other})
    with pytest.raises(ClusterError, match=r"tcp://b:1.*'code': '0000000000000000'.*'av': '1.0'"):
        DaskExecutor(client, "tcp://s:8786")._check_workers()
    assert client.closed
