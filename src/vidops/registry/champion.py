"""The `champion` alias and its audit trail in the MLflow model registry.

Every move of `champion` (by the gate, by a person's promote or rollback) goes through
:func:`move_champion`, which sets the alias and appends an event to the registered
model's history tag, so "who was champion when, and why" can always be listed.
"""

from __future__ import annotations

import getpass
import json
import logging
import time
from dataclasses import asdict, dataclass

from vidops.errors import VidopsError

CHAMPION, CHALLENGER = "champion", "challenger"
HISTORY_TAG = "vidops.champion_history"
HISTORY_KEEP = 40  # newest events kept in the tag (MLflow caps tag values at a few KB)


log = logging.getLogger(__name__)


class RegistryError(VidopsError, RuntimeError):
    """A registry operation cannot be done; the message says why."""


@dataclass(frozen=True)
class ChampionEvent:
    at: str  # UTC time of the move
    action: str  # gate | promote | rollback
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


def history(client, name: str) -> list[ChampionEvent]:
    """Champion moves, oldest first."""
    tags = client.get_registered_model(name).tags
    return [ChampionEvent(**e) for e in json.loads(tags.get(HISTORY_TAG, "[]"))]


def move_champion(client, name: str, version: str, action: str, reason: str) -> ChampionEvent:
    """Point `champion` at ``version`` and record the move; call it under :func:`registry_lock`."""
    from mlflow.exceptions import MlflowException

    try:
        client.get_model_version(name, version)
    except MlflowException as err:
        raise RegistryError(f"{name} has no version {version!r}: {err.message}") from None
    event = ChampionEvent(time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), action, str(version),
                          current_champion(client, name), reason, getpass.getuser())
    client.set_registered_model_alias(name, CHAMPION, version)
    events = [asdict(e) for e in history(client, name)] + [asdict(event)]
    client.set_registered_model_tag(name, HISTORY_TAG, json.dumps(events[-HISTORY_KEEP:]))
    client.set_model_version_tag(name, version, "champion_since", event.at)
    client.set_model_version_tag(name, version, "champion_reason", f"{action}: {reason}")
    return event


def rollback(client, name: str, reason: str) -> ChampionEvent:
    """Give `champion` back to the version that held it before the current one."""
    current = current_champion(client, name)
    if current is None:
        raise RegistryError(f"{name} has no champion to roll back from")
    for event in reversed(history(client, name)):
        if event.version == current and event.previous and event.previous != current:
            return move_champion(client, name, event.previous, "rollback", reason)
    raise RegistryError(f"{name}: no earlier champion than version {current} in the history")
