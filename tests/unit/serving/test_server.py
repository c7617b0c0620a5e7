"""AliasFollower's switching rules (the real servers are in tests/team)."""

from types import SimpleNamespace

import pytest

from vidops.serving import server as model_server
from vidops.serving.server import AliasFollower


class Registry:
    """Just the two registry calls the follower makes; ``alias`` is what the alias names."""

    def __init__(self) -> None:
        self.alias, self.down = "1", False

    def get_model_version_by_alias(self, name, alias):
        if self.down:
            raise ConnectionError("tracking server unreachable")
        return SimpleNamespace(version=self.alias)

    def get_model_version(self, name, version):
        return SimpleNamespace(run_id=f"run-{version}")


@pytest.fixture
def follower(monkeypatch):
    broken = {"3"}

    def load_model(uri, dst_path=None):
        version = uri.rsplit("/", 1)[1]
        if version in broken:
            raise OSError(f"no MLmodel file for {uri}")
        return f"model {version}"

    import mlflow.pyfunc

    monkeypatch.setattr(mlflow.pyfunc, "load_model", load_model)
    registry = Registry()
    return AliasFollower("m", "champion", 1.0, client=registry), registry


def test_switches_when_the_alias_moves_and_only_then(follower):
    f, registry = follower
    assert f.served.version == "1" and f.served.model == "model 1"
    assert not f.check()
    registry.alias = "2"
    assert f.check() and f.served.model == "model 2"
    assert f.describe()["switches"][-1]["from"] == "1"


def test_a_version_that_cannot_load_leaves_the_old_one_serving_and_says_why(follower):
    f, registry = follower
    registry.alias = "3"
    assert not f.check()
    assert f.served.version == "1"
    assert "version 3" in f.describe()["error"] and "still serving version 1" in f.describe()["error"]
    registry.alias = "2"
    assert f.check() and f.describe()["error"] is None


def test_an_unreachable_registry_keeps_serving(follower):
    f, registry = follower
    registry.down = True
    assert not f.check()
    assert f.served.version == "1" and "cannot resolve m@champion" in f.describe()["error"]


def test_poll_interval_must_be_positive(follower):
    _, registry = follower
    with pytest.raises(ValueError, match="positive"):
        model_server.AliasFollower("m", "champion", 0, client=registry)


def test_an_oversized_request_is_refused_before_it_is_read(monkeypatch):
    """#22: a 200 MB body was read whole (+1.9 GB) before its 400; now 413 from its length."""
    from fastapi.testclient import TestClient

    from vidops.serving.server import Served, build_app, request_limit

    predicted = []

    class Model:
        metadata = SimpleNamespace(get_input_schema=lambda: None)

        def unwrap_python_model(self):
            return SimpleNamespace(max_video_bytes=1000)

    monkeypatch.setattr(model_server, "asyncio", SimpleNamespace(
        to_thread=lambda *a, **k: predicted.append(a)))
    follower = SimpleNamespace(served=Served("7", "run", Model(), "now", 0.1), name="m",
                               alias="champion")
    client = TestClient(build_app(follower))
    limit = request_limit(Model())
    assert limit == 1000 * 4 // 3 + (1 << 20)
    big = client.post("/invocations", content=b"x" * (limit + 1),
                      headers={"content-type": "application/json"})
    assert big.status_code == 413 and "over" in big.json()["message"]
    assert big.headers["X-Model-Version"] == "7"

    def chunks():  # no Content-Length: counted as it arrives
        for _ in range(3):
            yield b"y" * (limit // 2)

    streamed = client.post("/invocations", content=chunks(),
                           headers={"content-type": "application/json"})
    assert streamed.status_code == 413 and not predicted
