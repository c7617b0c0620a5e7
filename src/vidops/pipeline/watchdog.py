"""The processes `vidops run` starts die with it, however it dies.

`vidops run` starts the temporary Prefect server, and the flow starts `dvc repro`, which
starts each stage (`vidops train` and its workers). Killing the whole process group takes
them all; killing the `vidops run` process alone (``kill -9 PID``, the OOM killer, a
supervisor that signals one pid) orphaned them: the stage kept writing into the project,
the Prefect server kept its port, and the repository lock, held by `vidops run`, was
released at once, so a second run started beside the orphaned stage.

So `vidops run` starts this watchdog first, in a session of its own, with two things:
the read end of a pipe whose write end only `vidops run` holds (end of file: it exited
or died), and the repository lock's file descriptor (the same open file, so the lock
stays held while the watchdog lives). While `vidops run` lives, the watchdog notes its
descendants every tenth of a second. When it is gone, every noted process still running
(the same process: pid and start time) and its descendants get SIGTERM, then SIGKILL
after a grace period; so does every process of its process group when `vidops run` led
one (started from a shell, it does: that also catches a stage started in the last tenth
of a second, which an orphan's new parent no longer shows). Then the watchdog exits, and
only then is the lock released. When `vidops run` ended normally its children have ended
too, and the watchdog exits at once.
"""

from __future__ import annotations

import contextlib
import os
import select
import subprocess
import sys
import time
from pathlib import Path

GRACE_S = 10.0  # SIGTERM, then this long before SIGKILL
POLL_S = 0.1


def start_watchdog(lock_fd: int) -> tuple[subprocess.Popen, int]:
    """Start the watchdog of this process; returns it and the pipe's write end, which this
    process keeps open for as long as it lives (``stop_watchdog`` closes it: finished)."""
    read_end, write_end = os.pipe()  # both non-inheritable: no child of ours holds them
    watchdog = subprocess.Popen(
        [sys.executable, "-m", "vidops.pipeline.watchdog", str(os.getpid()), str(read_end),
         str(lock_fd)],
        pass_fds=(read_end, lock_fd), start_new_session=True, stdin=subprocess.DEVNULL)
    os.close(read_end)
    return watchdog, write_end


def release_lock(started: tuple[subprocess.Popen, int], lock_fd: int) -> None:
    """The flow is over and every stage with it: the watchdog lets the repository lock go
    (it keeps watching until this process exits: the temporary Prefect server is stopped by
    Prefect at exit, after its last logs are sent). Returns once it has."""
    watchdog, write_end = started
    os.write(write_end, b"d")
    held = Path(f"/proc/{watchdog.pid}/fd/{lock_fd}")  # pass_fds keeps the number
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and watchdog.poll() is None:
        if Path("/proc").is_dir() and not held.exists():
            return
        time.sleep(0.01)


def stop_watchdog(started: tuple[subprocess.Popen, int]) -> None:
    """This process is exiting: the watchdog stops whatever is left and ends; waited for."""
    watchdog, write_end = started
    os.close(write_end)
    with contextlib.suppress(subprocess.TimeoutExpired):
        watchdog.wait(timeout=3 * GRACE_S)


def watch(parent_pid: int, read_end: int, stopping=lambda: None, release=lambda: None) -> int:
    """Wait for ``parent_pid`` to be gone; stop what it left running (``stopping`` is
    called first). ``release`` is called when the parent says its flow is over. Returns
    how many processes were stopped."""
    import psutil

    try:
        parent = psutil.Process(parent_pid)
        leader = os.getpgid(parent_pid) == parent_pid
    except (psutil.NoSuchProcess, ProcessLookupError):
        return 0
    me = os.getpid()
    seen: dict[int, psutil.Process] = {}
    while True:
        try:
            for child in parent.children(recursive=True):
                if child.pid != me:
                    seen.setdefault(child.pid, child)
        except psutil.NoSuchProcess:
            break
        ready, _, _ = select.select([read_end], [], [], POLL_S)
        if ready:
            if not os.read(read_end, 64):
                break  # end of file: the parent exited or died
            release()
    if leader:
        seen.update({p.pid: p for p in _group(parent_pid) if p.pid != me})
    left = [p for p in _alive_tree(seen.values()) if p.pid != me]
    if not left:
        return 0
    stopping()
    print(f"vidops run (pid {parent_pid}) is gone; stopping the {len(left)} process(es) it "
          f"left running: {', '.join(f'{p.pid} {_name(p)}' for p in left)}",
          file=sys.stderr, flush=True)
    for proc in left:
        _signal(proc, "terminate")
    _, alive = psutil.wait_procs(left, timeout=GRACE_S)
    for proc in alive + _alive_tree(alive):
        _signal(proc, "kill")
    psutil.wait_procs(alive, timeout=GRACE_S)
    return len(left)


def _group(pgid: int) -> list:
    """The processes of process group ``pgid``."""
    import psutil

    out = []
    for proc in psutil.process_iter():
        try:
            if os.getpgid(proc.pid) == pgid:
                out.append(proc)
        except (ProcessLookupError, PermissionError, psutil.Error):
            continue
    return out


def _alive_tree(procs) -> list:
    """``procs`` still running, and every descendant of theirs, each once."""
    import psutil

    out: dict[int, psutil.Process] = {}
    for proc in procs:
        try:
            if not proc.is_running():  # is_running compares the start time: no reused pid
                continue
            out[proc.pid] = proc
            for child in proc.children(recursive=True):
                out.setdefault(child.pid, child)
        except psutil.NoSuchProcess:
            continue
    return list(out.values())


def _signal(proc, how: str) -> None:
    import psutil

    with contextlib.suppress(psutil.NoSuchProcess):
        getattr(proc, how)()


def _name(proc) -> str:
    import psutil

    try:
        return " ".join(proc.cmdline()[:3])[:80]
    except psutil.Error:
        return "?"


def main(argv: list[str]) -> int:
    parent_pid, read_end, lock_fd = (int(a) for a in argv)
    held = [lock_fd]

    def release() -> None:
        if held:
            os.close(held.pop())  # this process's share of the repository lock

    def stopping() -> None:
        if held:
            _holder(lock_fd, f"pid {os.getpid()}: stopping what vidops run (pid {parent_pid}) "
                             "left running")

    stopped = watch(parent_pid, read_end, stopping, release)
    if stopped and held:
        time.sleep(0.1)  # let the killed processes' file handles close before the lock goes
        _holder(lock_fd, "")
    release()  # nothing vidops run started is left
    return 0


def _holder(lock_fd: int, line: str) -> None:
    """What a refused second run reads as the lock's holder (repo_lock.py)."""
    os.ftruncate(lock_fd, 0)
    if line:
        os.write(lock_fd, f"{line}\n".encode())


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
