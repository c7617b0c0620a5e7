"""The Prefect flow `video-pipeline`: import new clips, one task per DVC stage, push.

The last task pushes data and outputs to the project's default DVC remote, if it has
one, and records them on the model version (``vidops.pipeline.dvc_remote``).

Tasks hold no stage logic: each reproduces exactly its stage through DVC's Python API,
so a flow run and `dvc repro` give the same dvc.lock, the same cache hits and the same
outputs. ``flows/pipeline.py`` is the entrypoint that deployments and users point at.
"""

from __future__ import annotations

import dataclasses
import os
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task

from vidops.config import load_params
from vidops.errors import VidopsError
from vidops.evaluation.figures import TestFigures
from vidops.pipeline.repo_lock import repo_lock
from vidops.pipeline.run_report import publish
from vidops.pipeline.stage_output import LiveLines, captured_fds, chdir, dvc_logs_once, unbuffered
from vidops.registry.decision import Decision


def stages_of(root: Path) -> tuple[str, ...]:
    """The project's stages in the order its dvc.yaml lists them (the one place they are
    written; each depends on the one before)."""
    import yaml

    return tuple((yaml.safe_load((root / "dvc.yaml").read_text()) or {}).get("stages") or {})


class StageFailed(VidopsError, RuntimeError):
    """A DVC stage failed; the message carries the stage's own last words."""


def _worth_retrying(task: Any, task_run: Any, state: Any) -> bool:
    """A refusal vidops expects (bad input, another task's classes) says the same every
    time; only other failures (a busy disk, DVC's own lock) may pass on a retry."""
    return not isinstance(state.data, VidopsError)


@task(name="import", retries=2, retry_delay_seconds=5, retry_condition_fn=_worth_retrying)
def import_task(source: str, root: str, group_column: str = "group",
                new_classes: bool = False) -> dict[str, int]:
    from vidops.data.raw_store import import_clips

    logger = get_run_logger()
    with chdir(Path(root)):
        cfg = load_params("params.yaml")
        result = import_clips(Path(source), Path(cfg.paths.raw), cfg.ingest.extensions,
                              group_column, dvc_root=Path("."), new_classes=new_classes)
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
    with chdir(Path(root)), captured_fds() as log_file, dvc_logs_once(), unbuffered():
        live = LiveLines(log_file, lambda line: logger.info("%s | %s", stage, line))
        live.start()
        try:
            with Repo(".") as repo:
                ran = repo.reproduce(targets=[stage], single_item=True, force=force)
        except ReproductionError as err:
            error = err
        finally:
            lines = live.stop()
    log_file.unlink()
    seconds = round(time.perf_counter() - start, 2)
    if error is not None:
        # The stage's own last lines; DVC's reason when the command never ran (not found,
        # a lock, a missing dependency) and so printed nothing.
        tail = "\n".join(lines[-15:]) or f"{error}: {error.__cause__ or ''}"
        raise StageFailed(f"stage {stage!r} failed after {seconds}s:\n{tail}") from None
    status = "ran" if ran else "up to date"
    logger.info("stage %s %s in %.1fs", stage, status, seconds)
    return {"stage": stage, "status": status, "seconds": seconds, "dvc_lock_changed": live.hinted}


@task(name="dvc-push", task_run_name="dvc-push", retries=2, retry_delay_seconds=10)
def push_task(root: str) -> dict[str, Any] | None:
    """Push data and outputs to the default DVC remote, if the project has one (pipeline/dvc_remote.py)."""
    from vidops.pipeline.dvc_remote import push_run

    logger = get_run_logger()
    with chdir(Path(root)):
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
                   group_column: str = "group", new_classes: bool = False) -> dict[str, Any]:
    """Import clips from ``source`` (if given), then reproduce the six DVC stages in order.

    A landing folder that brings classes the project does not have is refused (another
    task) unless ``new_classes``."""
    logger = get_run_logger()
    root = str(Path(root).resolve())
    summary: dict[str, Any] = {"root": root, "imported": None, "stages": {}, "seconds": {}}
    lock_changed = False
    with repo_lock(Path(root)):
        if source:
            summary["imported"] = import_task(source, root, group_column, new_classes)
        for stage in stages_of(Path(root)):
            runner = retried_task if stage in RETRIED else stage_task
            outcome = runner(stage, root, force)
            summary["stages"][stage] = outcome["status"]
            summary["seconds"][stage] = outcome["seconds"]
            lock_changed = lock_changed or outcome.get("dvc_lock_changed", False)
        summary["pushed"] = push_task(root)
    reports, figures, decision = _reports(Path(root))
    summary.update(reports)
    if lock_changed:  # DVC says it after every stage; once is enough
        logger.info("dvc.lock changed: `git add dvc.lock data.dvc && git commit` records this "
                    "run in git")
    publish(summary, Path(root), figures, decision)
    ran = [s for s, status in summary["stages"].items() if status == "ran"]
    if ran:
        logger.info("ran %s; up to date: %s", ", ".join(ran),
                    ", ".join(s for s in summary["stages"] if s not in ran) or "none")
    else:
        logger.info("nothing changed: every stage is up to date, no retraining")
    if decision is not None and "train" in ran:
        logger.info("model version %s: %s (%s)", decision.version,
                    "promoted to champion" if decision.promoted else "not promoted",
                    decision.reason)
    return summary


def _reports(root: Path) -> tuple[dict[str, Any], TestFigures | None, Decision | None]:
    """The summary's figures and gate decision (plain, for the flow's result), and the two
    records they come from, each file read once."""
    paths = load_params(root / "params.yaml").paths
    out: dict[str, Any] = {}
    metrics_path, promotion_path = root / paths.metrics, root / paths.promotion
    figures = TestFigures.read(metrics_path) if metrics_path.is_file() else None
    if figures is not None:
        out["metrics"] = {"accuracy": round(figures.accuracy, 4),
                          "macro_f1": round(figures.macro_f1, 4),
                          "weighted_f1": round(figures.weighted_f1, 4),
                          "accuracy_ci": [round(x, 4) for x in figures.accuracy_ci],
                          "macro_f1_ci": [round(x, 4) for x in figures.macro_f1_ci]}
        if figures.recipe_cv is not None:
            out["recipe_cv"] = {k: v for k, v in dataclasses.asdict(figures.recipe_cv).items()
                                if k != "bootstrap"}
    decision = Decision.read(promotion_path) if promotion_path.is_file() else None
    if decision is not None:
        out["promotion"] = decision.as_dict()
    return out, figures, decision


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
    # Prefect 3.8's runner answers SIGTERM by calling its async-dispatched stop() from the
    # signal handler, which only creates a coroutine (and warns "coroutine 'Runner.astop'
    # was never awaited"). Raising TerminationSignal instead takes the path serve() has for
    # it: the same clean shutdown as Ctrl-C.
    from prefect.exceptions import TerminationSignal
    from prefect.runner import Runner

    def terminate(signum: int, _frame: object) -> None:
        raise TerminationSignal(signal=signum)

    Runner.handle_sigterm = terminate  # type: ignore[method-assign]
    video_pipeline.serve(name=name, cron=cron, parameters=parameters, limit=1)
