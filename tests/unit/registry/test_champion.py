"""Champion moves, history, rollback and concurrent gates on a real MLflow SQLite registry."""

import itertools
import multiprocessing

import pytest

from support import gate_worker
from vidops.registry.champion import RegistryError, current_champion, history, move_champion, rollback

NAME = "vidops-classifier"


@pytest.fixture
def registry(tmp_path, monkeypatch):
    import mlflow
    from mlflow import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    mlflow.set_tracking_uri(uri)
    client = MlflowClient()
    client.create_registered_model(NAME)
    (tmp_path / "model").mkdir()
    for f1 in ("0.5", "0.9", "0.7", "0.8"):
        version = client.create_model_version(NAME, str(tmp_path / "model")).version
        client.set_model_version_tag(NAME, version, "macro_f1", f1)
    return client, uri


def test_moves_are_recorded_and_rollback_restores_the_previous_champion(registry):
    client, _ = registry
    assert current_champion(client, NAME) is None
    move_champion(client, NAME, "1", "gate", "first")
    move_champion(client, NAME, "3", "promote", "hotfix")
    assert current_champion(client, NAME) == "3"
    event = rollback(client, NAME, "hotfix was worse")
    assert (event.version, event.previous, event.action) == ("1", "3", "rollback")
    assert current_champion(client, NAME) == "1"
    assert [(e.action, e.version, e.previous) for e in history(client, NAME)] == [
        ("gate", "1", None), ("promote", "3", "1"), ("rollback", "1", "3")]
    assert client.get_model_version(NAME, "1").tags["champion_reason"] == "rollback: hotfix was worse"


def test_unknown_version_and_empty_rollback_are_refused(registry):
    client, _ = registry
    with pytest.raises(RegistryError, match="no version '42'"):
        move_champion(client, NAME, "42", "promote", "typo")
    with pytest.raises(RegistryError, match="no champion"):
        rollback(client, NAME, "nothing yet")
    move_champion(client, NAME, "2", "gate", "only one")
    with pytest.raises(RegistryError, match="no earlier champion"):
        rollback(client, NAME, "no predecessor")


def test_concurrent_registrations_leave_the_best_champion_and_a_consistent_history(registry):
    _, uri = registry
    context = multiprocessing.get_context("spawn")
    ready = context.Barrier(4)  # after the imports, all four try the critical section at once
    workers = [context.Process(target=gate_worker, args=(uri, NAME, v, ready)) for v in "1234"]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=120)
        assert w.exitcode == 0
    client, _ = registry
    assert current_champion(client, NAME) == "2"  # the 0.9 model, whatever the order
    events = history(client, NAME)
    for before, after in itertools.pairwise(events):
        assert after.previous == before.version
    for event in events:  # each decision was made against the champion it actually replaced
        assert event.reason.endswith(f"beats v{event.previous}")


def test_a_kill_between_the_record_and_the_alias_leaves_them_agreeing(registry, monkeypatch):
    """#22: the alias moved first and the history write was killed: rollback then failed."""
    client, _ = registry
    move_champion(client, NAME, "1", "gate", "first")
    move_champion(client, NAME, "3", "gate", "second")

    writes = []

    def counted(method):
        real = getattr(client, method)

        def write(*args, **kwargs):
            writes.append(method)
            if len(writes) == 2:  # killed between the alias and the history, in either order
                raise KeyboardInterrupt
            return real(*args, **kwargs)

        monkeypatch.setattr(client, method, write)

    counted("set_registered_model_alias")
    counted("set_registered_model_tag")
    with pytest.raises(KeyboardInterrupt):
        move_champion(client, NAME, "4", "gate", "third")
    monkeypatch.undo()
    assert current_champion(client, NAME) == "3"  # the alias did not move, and
    assert [e.version for e in history(client, NAME)] == ["1", "3"]  # the history agrees
    assert rollback(client, NAME, "back").version == "1"
    move_champion(client, NAME, "4", "gate", "again")
    assert [(e.version, e.previous) for e in history(client, NAME)] == [
        ("1", None), ("3", "1"), ("1", "3"), ("4", "1")]


def test_an_alias_moved_outside_vidops_shows_in_the_history(registry):
    client, _ = registry
    move_champion(client, NAME, "1", "gate", "first")
    client.set_registered_model_alias(NAME, "champion", "2")  # the pencil in the MLflow UI
    events = history(client, NAME)
    assert [(e.action, e.version, e.previous) for e in events] == [("gate", "1", None),
                                                                    ("external", "2", "1")]
    move_champion(client, NAME, "3", "promote", "after the UI")
    assert [(e.action, e.version) for e in history(client, NAME)] == [
        ("gate", "1"), ("external", "2"), ("promote", "3")]
    assert rollback(client, NAME, "back").version == "2"


def test_a_long_history_with_long_reasons_stays_whole(registry):
    """One tag per event, reasons bounded: no tag outgrows PostgreSQL's 5,000-character column."""
    client, _ = registry
    for i in range(30):
        move_champion(client, NAME, "1234"[i % 4], "promote", "x" * 3000)
    events = history(client, NAME)
    assert len(events) == 30 and all(len(e.reason) <= 500 for e in events)
    assert max(len(v) for v in client.get_registered_model(NAME).tags.values()) < 5000
    assert rollback(client, NAME, "y" * 3000).version == events[-1].previous


def test_the_history_of_an_earlier_release_is_read(registry):
    import json

    client, _ = registry
    legacy = [{"at": "2026-11-01T00:00:00Z", "action": "gate", "version": "1", "previous": None,
               "reason": "old", "user": "ci"}]
    client.set_registered_model_tag(NAME, "vidops.champion_history", json.dumps(legacy))
    client.set_registered_model_alias(NAME, "champion", "1")
    move_champion(client, NAME, "2", "gate", "new")
    assert [(e.version, e.previous) for e in history(client, NAME)] == [("1", None), ("2", "1")]
    assert rollback(client, NAME, "back").version == "1"


def _table(client) -> list[list[str]]:
    """The history table of the registered model's description, as cells per row."""
    text = client.get_registered_model(NAME).description
    table = text.split("### Champion history")[1].strip().splitlines()
    return [[c.strip() for c in line.strip("|").split(" | ")] for line in table[2:]
            if line.startswith("|")]


def test_the_model_page_shows_the_history_as_a_table_newest_first(registry):
    client, _ = registry
    move_champion(client, NAME, "1", "gate", "first")
    move_champion(client, NAME, "3", "promote", "hotfix | urgent\nsecond line")
    rollback(client, NAME, "hotfix was worse")
    rows = _table(client)
    assert [(r[1], r[2], r[3]) for r in rows] == [
        (f"[v1](#/models/{NAME}/versions/1)", f"[v3](#/models/{NAME}/versions/3)", "rollback"),
        (f"[v3](#/models/{NAME}/versions/3)", f"[v1](#/models/{NAME}/versions/1)", "promote"),
        (f"[v1](#/models/{NAME}/versions/1)", "-", "gate")]
    assert rows[1][5] == "hotfix \\| urgent second line"  # one cell: pipe escaped, one line
    assert [r[0] for r in rows] == [e.at.replace("T", " ")[:-1] for e in reversed(history(client, NAME))]


def test_the_table_keeps_a_users_text_and_fits_the_stores_column(registry):
    client, _ = registry
    client.update_registered_model(NAME, description="Line camera 3, owned by the QA team.")
    for i in range(80):
        move_champion(client, NAME, "1234"[i % 4], "promote", "r" * 400)
    text = client.get_registered_model(NAME).description
    assert text.startswith("Line camera 3, owned by the QA team.\n\n### Champion history")
    assert len(text) <= 5000  # PostgreSQL's column: a longer description is refused
    rows = _table(client)
    assert 5 < len(rows) < 80 and "80 moves in all" in text
    assert rows[0][0] == history(client, NAME)[-1].at.replace("T", " ")[:-1] and rows[0][5].endswith("...")


def test_the_table_catches_up_with_an_alias_moved_in_the_ui(registry):
    from vidops.registry.champion import describe_model

    client, _ = registry
    move_champion(client, NAME, "1", "gate", "first")
    client.set_registered_model_alias(NAME, "champion", "2")  # the pencil in the MLflow UI
    describe_model(client, NAME)  # what the next register run does
    assert [(r[1], r[3]) for r in _table(client)] == [
        (f"[v2](#/models/{NAME}/versions/2)", "external"), (f"[v1](#/models/{NAME}/versions/1)", "gate")]


def test_a_failed_page_update_does_not_undo_or_deny_the_move(registry, monkeypatch, caplog):
    from mlflow.exceptions import MlflowException

    client, _ = registry

    def refused(*args, **kwargs):
        raise MlflowException("value too long for type character varying(5000)")

    monkeypatch.setattr(client, "update_registered_model", refused)
    event = move_champion(client, NAME, "2", "promote", "page store down")
    assert event.version == "2" and current_champion(client, NAME) == "2"
    assert [e.version for e in history(client, NAME)] == ["2"]
    assert "history table was not updated" in caplog.text and "varying(5000)" in caplog.text
