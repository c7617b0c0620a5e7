"""A DVC stage's output, live, in the Prefect task that runs it.

DVC runs each stage's `cmd` as a subprocess writing to the inherited file descriptors,
where Prefect never sees it: the flow captures fds 1 and 2 to a file for the stage's
duration (``captured_fds``), and ``LiveLines`` posts each line to the task's log as it is
written. The rest keeps that output whole and said once: unbuffered stage output, DVC's
log lines not doubled through the root logger, DVC's git advice said once per run.
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

from vidops.pipeline.run_summary import IN_FLOW


@contextmanager
def chdir(path: Path) -> Iterator[None]:
    # DVC resolves stage targets against the working directory, not the Repo root.
    before = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(before)


@contextmanager
def captured_fds() -> Iterator[Path]:
    """Send fds 1 and 2 (ours and every subprocess's) to a file for the block's duration.

    DVC runs each stage's `cmd` as a subprocess that writes straight to the inherited file
    descriptors, where Prefect never sees it; we capture at the fd level, and LiveLines
    posts what arrives to the task's log while the stage runs. DVC's own messages go to
    the capture too, whatever stream its handlers were created with (a host such as pytest
    may have replaced sys.stdout); Prefect's console handlers keep writing to the real
    terminal, or every line posted would be captured and posted again.
    """
    fd, name = tempfile.mkstemp(prefix="vidops-stage-", suffix=".log")
    saved = [os.dup(1), os.dup(2)]
    capture = open(fd, "w", buffering=1, encoding="utf-8", errors="replace", closefd=False)  # noqa: SIM115
    console = open(saved[1], "w", buffering=1, encoding="utf-8", errors="replace", closefd=False)  # noqa: SIM115
    moves = {id(h): (h, capture) for h in _stream_handlers("dvc")}
    for handler in _stream_handlers("prefect") + _stream_handlers(""):
        moves.setdefault(id(handler), (handler, console))  # a handler shared by two loggers: once
    before = [(handler, _point(handler, stream)) for handler, stream in moves.values()]
    streams = sys.stdout, sys.stderr
    try:
        for stream in (1, 2):
            os.dup2(fd, stream)
        sys.stdout = sys.stderr = capture
        yield Path(name)
    finally:
        sys.stdout, sys.stderr = streams
        for handler, stream in before:
            _point(handler, stream)
        capture.close()
        console.close()
        for stream, copy in zip((1, 2), saved, strict=True):
            os.dup2(copy, stream)
            os.close(copy)
        os.close(fd)


def _point(handler: logging.StreamHandler, stream: TextIO) -> TextIO:
    """Point ``handler`` at ``stream``; the stream it had. Not ``setStream``: it flushes
    the old stream, which a host may have closed (pytest's capture of an earlier test).
    Prefect's console handler writes through a rich Console holding its own reference."""
    handler.acquire()
    try:
        old, handler.stream = handler.stream, stream
    finally:
        handler.release()
    console = getattr(handler, "console", None)
    if console is not None and hasattr(console, "file"):
        console.file = stream
    return old


def _stream_handlers(prefix: str) -> list[logging.StreamHandler]:
    """Console handlers of the logger ``prefix`` and its children ("": the root logger)."""
    names = [n for n in logging.root.manager.loggerDict if n == prefix or n.startswith(f"{prefix}.")]
    loggers = [logging.root] if not prefix else [logging.getLogger(n) for n in names]
    return list({id(h): h for lg in loggers for h in getattr(lg, "handlers", [])
                 if type(h) is not logging.FileHandler and isinstance(h, logging.StreamHandler)
                 }.values())


# DVC's advice after every stage that changed dvc.lock; said once per flow run instead.
_DVC_HINT = ("To track the changes with git, run:", "git add ", "To enable auto staging, run:",
             "dvc config core.autostage true")


class LiveLines(threading.Thread):
    """Post a stage's output to the task's log as it is written, not when the stage ends.

    Complete lines go out as they arrive (so each carries the time it was written); a
    progress bar redrawing with \r posts its latest state every ``progress_every`` seconds.
    """

    def __init__(self, path: Path, post: Callable[[str], None], progress_every: float = 10.0) -> None:
        super().__init__(name="vidops-stage-log", daemon=True)
        self.path, self.post, self.progress_every = path, post, progress_every
        self.finished = threading.Event()
        self.lines: list[str] = []
        self.hinted = False

    def run(self) -> None:
        pending = b""
        last_progress = time.monotonic()
        with self.path.open("rb") as handle:
            while True:
                finishing = self.finished.is_set()  # read once more after the stage ended
                chunk = handle.read()
                if chunk:
                    *complete, pending = (pending + chunk).split(b"\n")
                    for raw in complete:
                        self._line(raw.decode(errors="replace").split("\r")[-1])
                if finishing:
                    self._line(pending.decode(errors="replace").split("\r")[-1])
                    return
                bar = pending.decode(errors="replace").rstrip("\r").split("\r")[-1].strip()
                if bar and time.monotonic() - last_progress >= self.progress_every:
                    self.post(bar)
                    last_progress = time.monotonic()
                time.sleep(0.2)

    def _line(self, line: str) -> None:
        line = line.rstrip()
        if not line.strip():
            return
        if line.strip().startswith(_DVC_HINT):
            self.hinted = True
            return
        self.lines.append(line)
        self.post(line)

    def stop(self) -> list[str]:
        self.finished.set()
        self.join()
        return self.lines


@contextmanager
def unbuffered() -> Iterator[None]:
    # The stage's Python writes to a file here, not a terminal, so its stdout would be
    # block-buffered and every `typer.echo` line would arrive when the stage ends. The
    # stage is also told that a flow runs it (IN_FLOW): the flow prints the run's summary
    # once at its end, so register does not print it as well.
    saved = {key: os.environ.get(key) for key in ("PYTHONUNBUFFERED", IN_FLOW)}
    os.environ.update({"PYTHONUNBUFFERED": "1", IN_FLOW: "1"})
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@contextmanager
def dvc_logs_once() -> Iterator[None]:
    # DVC's logger prints through its own handlers and also propagates to the root logger,
    # which `vidops run`/`demo` give a stderr handler: every DVC line reached the task log
    # twice, once plain and once as "INFO dvc.stage.run: ...".
    dvc_logger = logging.getLogger("dvc")
    before = dvc_logger.propagate
    dvc_logger.propagate = False
    try:
        yield
    finally:
        dvc_logger.propagate = before
