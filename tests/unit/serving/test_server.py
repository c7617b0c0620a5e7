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

    def load_model(uri):
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
