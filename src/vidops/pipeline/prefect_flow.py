"""The Prefect flow `video-pipeline`: import new clips, one task per DVC stage, push.

The last task pushes data and outputs to the project's default DVC remote, if it has
one, and records them on the model version (``vidops.pipeline.dvc_remote``).

Tasks hold no stage logic: each reproduces exactly its stage through DVC's Python API,
so a flow run and `dvc repro` give the same dvc.lock, the same cache hits and the same
outputs. ``flows/pipeline.py`` is the entrypoint that deployments and users point at.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task

from vidops.errors import VidopsError
from vidops.pipeline.repo_lock import repo_lock

STAGES = ("ingest", "extract", "validate", "train", "evaluate", "register")


class StageFailed(VidopsError, RuntimeError):
    """A DVC stage failed; the message carries the stage's own last words."""


@contextmanager
def _chdir(path: Path) -> Iterator[None]:
    # DVC resolves stage targets against the working directory, not the Repo root.
    before = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(before)


@contextmanager
def _captured_fds() -> Iterator[Path]:
    """Send fds 1 and 2 (ours and every subprocess's) to a file for the block's duration.

    DVC runs each stage's `cmd` as a subprocess that writes straight to the inherited file
    descriptors, where Prefect never sees it; we capture at the fd level and log it after.
    """
    fd, name = tempfile.mkstemp(prefix="vidops-stage-", suffix=".log")
    saved = [os.dup(1), os.dup(2)]
    try:
        for stream in (1, 2):
            os.dup2(fd, stream)
        yield Path(name)
    finally:
        for stream, copy in zip((1, 2), saved, strict=True):
            os.dup2(copy, stream)
            os.close(copy)
        os.close(fd)


@contextmanager
def _dvc_logs_once() -> Iterator[None]:
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


def _readable_lines(text: str) -> list[str]:
    # Progress bars redraw with \r: keep the last state of each line only.
    return [line.split("\r")[-1].rstrip() for line in text.splitlines()
            if line.split("\r")[-1].strip()]


@task(name="import", retries=2, retry_delay_seconds=5)
def import_task(source: str, root: str, group_column: str = "group") -> dict[str, int]:
    from vidops.config import load_params
    from vidops.data.raw_store import import_clips

    logger = get_run_logger()
    with _chdir(Path(root)):
        cfg = load_params("params.yaml")
        result = import_clips(Path(source), Path(cfg.paths.raw), cfg.ingest.extensions,
                              group_column, dvc_root=Path("."))
    for line in result.ignored + result.conflicts:
        logger.warning("not imported: %s", line)
    logger.info("imported %d new clips from %s (%d already present)", len(result.copied),
                source, len(result.duplicates))
    return {"copied": len(result.copied), "duplicates": len(result.duplicates),
            "conflicts": len(result.conflicts)}


def reproduce_stage(stage: str, root: str, force: bool = False) -> dict[str, Any]:
    """Reproduce one DVC stage; its output goes to the Prefect log of the calling task."""
    from dvc.exceptions import ReproductionError
    from dvc.repo import Repo

    logger = get_run_logger()
    start = time.perf_counter()
    error = None
    with _chdir(Path(root)), _captured_fds() as log_file, _dvc_logs_once():
        try:
            with Repo(".") as repo:
                ran = repo.reproduce(targets=[stage], single_item=True, force=force)
        except ReproductionError as err:
            error = err
    lines = _readable_lines(log_file.read_text(errors="replace"))
    log_file.unlink()
    for line in lines:
        logger.info("%s | %s", stage, line)
    seconds = round(time.perf_counter() - start, 2)
    if error is not None:
        # The stage's own last lines; DVC's reason when the command never ran (not found,
        # a lock, a missing dependency) and so printed nothing.
        tail = "\n".join(lines[-15:]) or f"{error}: {error.__cause__ or ''}"
        raise StageFailed(f"stage {stage!r} failed after {seconds}s:\n{tail}") from None
    status = "ran" if ran else "up to date"
    logger.info("stage %s %s in %.1fs", stage, status, seconds)
    return {"stage": stage, "status": status, "seconds": seconds}


@task(name="dvc-push", task_run_name="dvc-push", retries=2, retry_delay_seconds=10)
def push_task(root: str) -> dict[str, Any] | None:
    """Push data and outputs to the default DVC remote, if the project has one (remote.py)."""
    from vidops.config import load_params
    from vidops.pipeline.dvc_remote import push_run

    logger = get_run_logger()
    with _chdir(Path(root)):
        result = push_run(Path("."), Path(load_params("params.yaml").paths.promotion))
    if result is None:
        logger.info("no default DVC remote: nothing pushed (`dvc remote add -d NAME URL` to share "
                    "data and models)")
        return None
    logger.info("pushed %d files to DVC remote %s (%s)%s", result.pushed, result.remote,
                result.url, f"; recorded on model version {result.version}" if result.version else "")
    return asdict(result)


# Retries only where a retry can help: extraction can meet a transient I/O error, and a
# training killed mid-way (OOM, a lost GPU) continues from its last epoch checkpoint; the
# other stages are deterministic, so a retry would only repeat the same failure.
stage_task = task(reproduce_stage, name="dvc-stage", task_run_name="{stage}")
retried_task = task(reproduce_stage, name="dvc-stage", task_run_name="{stage}", retries=1,
                    retry_delay_seconds=5)
RETRIED = ("extract", "train")


@flow(name="video-pipeline", log_prints=True)
def video_pipeline(source: str | None = None, force: bool = False, root: str = ".",
                   group_column: str = "group") -> dict[str, Any]:
    """Import clips from ``source`` (if given), then reproduce the six DVC stages in order."""
    logger = get_run_logger()
    root = str(Path(root).resolve())
    summary: dict[str, Any] = {"root": root, "imported": None, "stages": {}, "seconds": {}}
    with repo_lock(Path(root)):
        if source:
            summary["imported"] = import_task(source, root, group_column)
        for stage in STAGES:
            runner = retried_task if stage in RETRIED else stage_task
            outcome = runner(stage, root, force)
            summary["stages"][stage] = outcome["status"]
            summary["seconds"][stage] = outcome["seconds"]
        summary["pushed"] = push_task(root)
    summary.update(_reports(Path(root)))
    ran = [s for s, status in summary["stages"].items() if status == "ran"]
    if ran:
        logger.info("ran %s; up to date: %s", ", ".join(ran),
                    ", ".join(s for s in STAGES if s not in ran) or "none")
    else:
        logger.info("nothing changed: every stage is up to date, no retraining")
    if "promotion" in summary and "train" in ran:
        p = summary["promotion"]
        logger.info("model version %s: %s (%s)", p["version"],
                    "promoted to champion" if p["promoted"] else "not promoted", p["reason"])
    return summary


def _reports(root: Path) -> dict[str, Any]:
    from vidops.config import load_params

    paths = load_params(root / "params.yaml").paths
    out: dict[str, Any] = {}
    metrics, promotion = root / paths.metrics, root / paths.promotion
    if metrics.is_file():
        m = json.loads(metrics.read_text())
        out["metrics"] = {k: round(m[k], 4) for k in ("accuracy", "macro_f1", "weighted_f1")}
        out["metrics"].update({k: [round(x, 4) for x in m[k]] for k in ("accuracy_ci", "macro_f1_ci")
                               if k in m})
    if promotion.is_file():
        out["promotion"] = json.loads(promotion.read_text())
    return out


def serve_scheduled(cron: str, name: str = "vidops-scheduled", root: str = ".",
                    source: str | None = None) -> None:
    """Serve the flow with a cron schedule; blocks until stopped (SIGTERM).

    ``source`` is the landing folder each scheduled run imports from. ``limit=1``: a run
    triggered by hand while a scheduled one is going waits for it instead of colliding.
    """
    if not os.environ.get("PREFECT_API_URL"):
        raise SystemExit("schedules need a real Prefect server: run `prefect server start` and "
                         "export PREFECT_API_URL=http://127.0.0.1:4200/api")
    parameters: dict[str, Any] = {"root": str(Path(root).resolve())}
    if source:
        parameters["source"] = str(Path(source).resolve())
    video_pipeline.serve(name=name, cron=cron, parameters=parameters, limit=1)
