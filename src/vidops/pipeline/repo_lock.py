"""One pipeline run per repository at a time, with a message that says who holds it."""

from __future__ import annotations

import fcntl
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from vidops.errors import VidopsError

LOCK_FILE = ".vidops.lock"


class RepoBusy(VidopsError, RuntimeError):
    """Another pipeline run holds the repository."""


@contextmanager
def repo_lock(root: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``root`` or fail at once naming the holder.

    DVC's own lock only covers one DVC command at a time; a flow runs six, and a second
    flow slipping in between two stages would train on a half-updated workspace.
    """
    path = root / LOCK_FILE
    handle = path.open("a+")
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise RepoBusy(f"{root}: a pipeline run is already in progress ({holder}); "
                           "wait for it to finish") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()} on {socket.gethostname()} since "
                     f"{time.strftime('%Y-%m-%d %H:%M:%S')}\n")
        handle.flush()
        try:
            yield
        finally:
            handle.truncate(0)  # the holder line is there only while the lock is held
            handle.flush()
    finally:
        handle.close()  # closing releases the lock


def ensure_free(root: Path) -> None:
    """Fail at once when a run holds ``root``; holds nothing afterwards.

    Called before the Prefect server starts (tens of seconds): a second `vidops run` is
    refused in a second, not after the server is up. The flow takes the lock itself too.
    """
    with repo_lock(root):
        pass
