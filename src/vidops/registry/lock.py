"""The registry lock: one read-champion -> re-score -> decide -> move at a time.

A file lock beside a local SQLite store, a PostgreSQL advisory lock for a shared server.
"""

from __future__ import annotations

import fcntl
import logging
import os
import re
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from vidops.registry.champion import RegistryError

log = logging.getLogger(__name__)

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
