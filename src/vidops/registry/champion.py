"""The `champion` alias and its audit trail in the MLflow model registry.

Every move of `champion` (by the gate, by a person's promote or rollback) goes through
:func:`move_champion`, which records the event first, as its own registered-model tag
(``vidops.champion.<seq>``: one small tag per event, so no tag outgrows the tracking
store's column however long the history gets), then moves the alias. Reading the
history reconciles it with the alias: an event whose move never happened (a kill between
the two writes) is dropped, and an alias moved outside vidops (the MLflow UI or API)
appears as an ``external`` event, so history, rollback and the alias always agree.
"""

from __future__ import annotations

import getpass
import json
import logging
import time
from dataclasses import asdict, dataclass

from vidops.errors import VidopsError
from vidops.registry.descriptions import model_description

CHAMPION, CHALLENGER = "champion", "challenger"
EVENT_PREFIX = "vidops.champion."  # + 6-digit sequence number: one tag per champion event
LEGACY_HISTORY_TAG = "vidops.champion_history"  # the JSON list earlier releases kept
MAX_REASON = 500  # characters of a reason kept in the event (tag values are bounded)


log = logging.getLogger(__name__)


class RegistryError(VidopsError, RuntimeError):
    """A registry operation cannot be done; the message says why."""


@dataclass(frozen=True)
class ChampionEvent:
    at: str  # UTC time of the move
    action: str  # gate | promote | rollback | external (moved outside vidops)
    version: str  # the new champion
    previous: str | None  # the champion before
    reason: str
    user: str


def current_champion(client, name: str) -> str | None:
    from mlflow.exceptions import MlflowException

    try:
        return str(client.get_model_version_by_alias(name, CHAMPION).version)
    except MlflowException:
        return None


def _recorded(tags: dict[str, str]) -> list[ChampionEvent]:
    """Events as written: the legacy list first, then one tag per event in sequence order."""
    events = [ChampionEvent(**e) for e in json.loads(tags.get(LEGACY_HISTORY_TAG, "[]"))]
    keys = sorted(k for k in tags if k.startswith(EVENT_PREFIX))
    return events + [ChampionEvent(**json.loads(tags[k])) for k in keys]


def history(client, name: str) -> list[ChampionEvent]:
    """Champion moves, oldest first, reconciled with where the alias points now."""
    recorded = _recorded(client.get_registered_model(name).tags)
    current = current_champion(client, name)
    events: list[ChampionEvent] = []
    for event in recorded:
        holder = events[-1].version if events else None
        if event.previous != holder:
            if events and event.previous == events[-1].previous:
                events.pop()  # recorded, then killed before the alias moved: never happened
            elif event.previous is not None:
                # The alias moved between two recorded events without vidops: say so.
                events.append(ChampionEvent(event.at, "external", event.previous, holder,
                                            "alias moved outside vidops (MLflow UI or API)", "?"))
        events.append(event)
    if events and events[-1].version != current:
        last = events[-1]
        if current == last.previous:
            events.pop()  # recorded, then killed before the alias moved: it never happened
        elif current is not None:
            events.append(ChampionEvent("?", "external", current, last.version,
                                        "alias moved outside vidops (MLflow UI or API)", "?"))
    elif not events and current is not None:
        events.append(ChampionEvent("?", "external", current, None,
                                    "alias set outside vidops (MLflow UI or API)", "?"))
    return events


def move_champion(client, name: str, version: str, action: str, reason: str) -> ChampionEvent:
    """Record the move, then point `champion` at ``version``; call it under the registry lock.

    The event is written before the alias moves: a kill in between leaves an event that
    :func:`history` recognises as not applied (the alias still names its ``previous``).
    """
    from mlflow.exceptions import MlflowException

    try:
        client.get_model_version(name, version)
    except MlflowException as err:
        raise RegistryError(f"{name} has no version {version!r}: {err.message}") from None
    event = ChampionEvent(time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), action, str(version),
                          current_champion(client, name), _short(reason), getpass.getuser())
    tags = client.get_registered_model(name).tags
    seq = 1 + max((int(k.removeprefix(EVENT_PREFIX)) for k in tags if k.startswith(EVENT_PREFIX)),
                  default=0)
    client.set_registered_model_tag(name, f"{EVENT_PREFIX}{seq:06d}", json.dumps(asdict(event)))
    client.set_registered_model_alias(name, CHAMPION, version)
    client.set_model_version_tag(name, version, "champion_since", event.at)
    client.set_model_version_tag(name, version, "champion_reason", _short(f"{action}: {reason}"))
    describe_model(client, name)
    return event


def describe_model(client, name: str) -> None:
    """Rewrite the registered model's description with the reconciled history as a table.

    The table is a view of the tags and the alias, rewritten after every move and by every
    register run: a kill before this write, or an alias moved in the MLflow UI, leaves it
    behind until the next one; `vidops history` reads the tags themselves. A failed write is
    a warning: the move it follows is done and recorded, and failing here would report it as
    one that did not happen.
    """
    from mlflow.exceptions import MlflowException

    try:
        current = client.get_registered_model(name).description
        client.update_registered_model(name, description=model_description(
            name, history(client, name), current))
    except MlflowException as err:
        log.warning("%s: the model page's history table was not updated (%s); the next move "
                    "or register run rewrites it", name, err.message)


def _short(text: str) -> str:
    return text if len(text) <= MAX_REASON else text[: MAX_REASON - 3] + "..."


def rollback(client, name: str, reason: str, check=None) -> ChampionEvent:
    """Give `champion` back to the version that held it before the current one;
    ``check(version)`` may refuse that version first (registry/classes.py)."""
    current = current_champion(client, name)
    if current is None:
        raise RegistryError(f"{name} has no champion to roll back from")
    for event in reversed(history(client, name)):
        if event.version == current and event.previous and event.previous != current:
            if check is not None:
                check(event.previous)
            return move_champion(client, name, event.previous, "rollback", reason)
    raise RegistryError(f"{name}: no earlier champion than version {current} in the history")
