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
# Repositories whose lock this process holds for a whole command (`vidops run`): the flow
# inside it takes the lock again without waiting for itself.
_HELD: set[Path] = set()


class RepoBusy(VidopsError, RuntimeError):
    """Another pipeline run holds the repository."""


@contextmanager
def repo_lock(root: Path) -> Iterator[int]:
    """Hold an exclusive lock on ``root`` or fail at once naming the holder; yields the
    lock file's descriptor (a process it is passed to holds the lock as long as it lives).

    DVC's own lock only covers one DVC command at a time; a flow runs six, and a second
    flow slipping in between two stages would train on a half-updated workspace.
    """
    if root.resolve() in _HELD:  # this process's command holds it already
        yield -1
        return
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
            yield handle.fileno()
        finally:
            handle.truncate(0)  # the holder line is there only while the lock is held
            handle.flush()
    finally:
        handle.close()  # closing releases the lock


@contextmanager
def hold_repo(root: Path) -> Iterator[int]:
    """``repo_lock`` for a whole command: the flow it runs takes the lock again freely."""
    with repo_lock(root) as fd:
        _HELD.add(root.resolve())
        try:
            yield fd
        finally:
            _HELD.discard(root.resolve())
