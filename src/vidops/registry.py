"""The `champion` alias and its audit trail in the MLflow model registry.

Every move of `champion` (by the gate, by a person's promote or rollback) goes through
:func:`move_champion`, which sets the alias and appends an event to the registered
model's history tag, so "who was champion when, and why" can always be listed.
"""

from __future__ import annotations

import fcntl
import getpass
import json
import logging
import os
import re
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

CHAMPION, CHALLENGER = "champion", "challenger"
HISTORY_TAG = "vidops.champion_history"
HISTORY_KEEP = 40  # newest events kept in the tag (MLflow caps tag values at a few KB)


log = logging.getLogger(__name__)


class RegistryError(RuntimeError):
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


LOCK_URL_ENV = "VIDOPS_REGISTRY_LOCK_URL"
LOCK_WAIT_S = 1800.0  # a registration re-scores the champion: minutes at most


@contextmanager
def registry_lock(tracking_uri: str, name: str = "vidops-classifier") -> Iterator[None]:
    """Serialise read-champion -> re-score -> decide -> move-alias for every client.

    MLflow has no compare-and-set on aliases: two registrations that interleave could
    each compare against the old champion and both move it. The lock is

    - a file lock beside the database for a local SQLite store (one machine);
    - a PostgreSQL advisory lock for a shared server: on ``VIDOPS_REGISTRY_LOCK_URL``
      (``postgresql://...``, e.g. the tracking server's own database), or on the tracking
      URI itself when it is a PostgreSQL store. PostgreSQL drops the lock when the
      holder's connection ends, so a crashed registration never leaves it held.

    Against a tracking server with no lock URL there is nothing every client shares: it
    warns, and registrations are as safe as the orchestrator makes them.
    """
    if tracking_uri.startswith("sqlite:///"):
        path = Path(tracking_uri.removeprefix("sqlite:///")).with_name(".registry.lock")
        with path.open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)  # wait: a registration takes seconds
            yield
        return
    url = os.environ.get(LOCK_URL_ENV) or (
        tracking_uri if tracking_uri.split(":", 1)[0].split("+")[0] in ("postgresql", "postgres")
        else "")
    if not url:
        log.warning("registry lock: %s is a shared server and %s is not set; two pipelines "
                    "registering at once could both promote against a stale champion",
                    tracking_uri, LOCK_URL_ENV)
        yield
        return
    with advisory_lock(url, name):
        yield


def _lock_key(name: str) -> tuple[int, int]:
    # pg_advisory_lock(int4, int4): a fixed namespace for vidops ("vid" + NUL), then the model
    # name as a signed 32-bit value.
    crc = zlib.crc32(name.encode())
    return 0x76696400, crc - (1 << 32) if crc >= 1 << 31 else crc


@contextmanager
def advisory_lock(url: str, name: str, wait_s: float = LOCK_WAIT_S) -> Iterator[None]:
    """Hold PostgreSQL's session advisory lock for registered model ``name``."""
    import psycopg2

    dsn = re.sub(r"^postgres(ql)?\+\w+://", "postgresql://", url)
    try:
        conn = psycopg2.connect(dsn, connect_timeout=10, application_name="vidops-registry-lock")
    except psycopg2.Error as err:
        raise RegistryError(f"registry lock: cannot connect to {_redacted(dsn)}: "
                            f"{str(err).strip()}") from None
    conn.autocommit = True
    key = _lock_key(name)
    deadline = time.monotonic() + wait_s
    try:
        with conn.cursor() as cur:
            told = False
            while True:
                cur.execute("SELECT pg_try_advisory_lock(%s, %s)", key)
                if cur.fetchone()[0]:
                    break
                if time.monotonic() > deadline:
                    raise RegistryError(f"registry lock for {name}: still held by another "
                                        f"registration after {wait_s:.0f} s")
                if not told:
                    log.info("registry lock for %s: another registration holds it; waiting", name)
                    told = True
                time.sleep(0.2)
            try:
                yield
            finally:
                cur.execute("SELECT pg_advisory_unlock(%s, %s)", key)
    finally:
        conn.close()


def _redacted(dsn: str) -> str:
    return re.sub(r"://([^:/@]+):[^@]*@", r"://\1:***@", dsn)
