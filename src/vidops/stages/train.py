"""Stage train: fit the configured video classifier on the train split, keep the best epoch.

The best epoch is chosen on validation macro F1, never on test. With ``model.arch: auto``
the architecture is chosen first by group-aware cross-validation over train + val
(training/selection.py). One MLflow run holds the params, the per-epoch curves, the
candidates as nested runs and (after evaluate and register) the test figures and model.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import logging
from dataclasses import dataclass
from pathlib import Path

from vidops.architectures import ARCHITECTURES
from vidops.config import ExtractConfig, TrainConfig, section_dict
from vidops.data.clips import UsableClip, class_names, usable_clips
from vidops.errors import VidopsError
from vidops.evaluation.plots import plot_curves, plot_selection
from vidops.fileio import atomic_write, home_project
from vidops.models.artifact import save_model_dir
from vidops.registry.provenance import data_version, environment_tags, provenance_tags
from vidops.registry.tracking import (
    MlflowTracker,
    close_orphans,
    own_run,
    settle_children,
    setup_mlflow,
)
from vidops.stages.context import StageContext
from vidops.training import distributed
from vidops.training.augment import is_identity
from vidops.training.checkpoint import Checkpoints, training_key
from vidops.training.devices import TrainingDevice, training_device
from vidops.training.fit import FitData, fit
from vidops.training.results import EpochStats
from vidops.training.selection import (
    Selection,
    fixed,
    select_architecture,
    selection_from_dict,
    write_selection,
)

log = logging.getLogger(__name__)

RUN_FILE = "run.json"  # the MLflow run an interrupted training continues in
SELECTION_FILE = "selection.json"  # model.arch auto's choice, not re-made on resume


class TrainError(VidopsError, RuntimeError):
    """Training cannot start: the data failed validation or a split is empty."""


@dataclass(frozen=True)
class TrainResult:
    run_id: str
    classes: list[str]
    best_epoch: int
    best_val_f1: float
    history: list[EpochStats]
    device: str
    arch: str  # the architecture trained (the winner when model.arch is auto)
    selection: Selection
    resumed_from: int = 0  # epoch a checkpoint brought back; 0: trained from the start
    processes: int = 1  # DDP world size


@dataclass(frozen=True)
class _Job:
    """One training, once its clips, device and checkpoints are known."""

    ctx: StageContext
    train: list[UsableClip]
    val: list[UsableClip]
    classes: list[str]
    hw: TrainingDevice
    env: distributed.DistEnv
    checkpoints: Checkpoints
    features: Path  # the feature cache


def run_train(ctx: StageContext) -> TrainResult | None:
    """Train and write the model folder; under torchrun, ranks other than 0 return None."""
    p, paths = ctx.params, ctx.paths
    verdict = json.loads(paths.validation.read_text())
    if not verdict.get("success"):
        raise TrainError(f"{paths.validation}: the data failed validation ({verdict.get('errors')})")
    clips = usable_clips(paths.manifest, paths.frames, paths.validation)
    classes = class_names(clips)
    train = [c for c in clips if c.split == "train"]
    val = [c for c in clips if c.split == "val"]
    if not train or not val:
        raise TrainError(f"need clips in train and val, have {len(train)} and {len(val)}")
    env = distributed.from_env()
    # Shared by every run of the project, temporary DVC experiments included.
    features = home_project(ctx.root) / p.train.feature_cache
    try:
        hw = training_device(p.train, env.local_rank, env.world_size)
        if not env.is_main:
            winner = distributed.broadcast(env, None)
            fit(dataclasses.replace(p.model, arch=winner), p.train,
                FitData(train, val, classes, features), hw, progress=False, env=env)
            return None
        checkpoints = Checkpoints(ctx.root / p.train.checkpoint_dir,
                                  training_key(p.model, p.train, p.extract, train, val))
        if not p.train.resume:
            checkpoints.clear()
        return _train_main(_Job(ctx, train, val, classes, hw, env, checkpoints, features))
    finally:
        distributed.shutdown(env)


def _train_main(job: _Job) -> TrainResult:
    import mlflow

    ctx, checkpoints, env = job.ctx, job.checkpoints, job.env
    model_cfg, cfg, frames_cfg, paths = ctx.params.model, ctx.params.train, ctx.params.extract, ctx.paths
    experiment_id = setup_mlflow(ctx.root, cfg.experiment)
    tracker = MlflowTracker()
    prior = (checkpoints.read_json(RUN_FILE) or {}).get("run_id")
    if prior and not _run_exists(prior):
        log.warning("the MLflow run %s of the interrupted training is gone: starting over", prior)
        checkpoints.clear()
        prior = None
    closed = close_orphans(experiment_id, keep=prior)
    if closed:
        log.warning("MLflow run(s) %s were left RUNNING by a training process that is gone: "
                    "marked KILLED", ", ".join(closed))
    with (mlflow.start_run(run_id=prior) if prior else
          mlflow.start_run(experiment_id=experiment_id,
                           run_name=_run_name(model_cfg.arch, ctx.root))) as run:
        own_run(run.info.run_id)
        cached = checkpoints.read_json(SELECTION_FILE)
        if prior:
            log.info("continuing the interrupted training in MLflow run %s", prior)
            settled = settle_children(prior, redo=not cached)
            if settled:
                log.info("%d child run(s) of the interrupted training closed", settled)
        else:
            checkpoints.write_json(RUN_FILE, {"run_id": run.info.run_id})
            _log_params(job)
        if cached:
            selection = selection_from_dict(cached)
        else:
            if model_cfg.arch == "auto":
                selection = select_architecture(model_cfg, cfg, job.train + job.val, job.classes,
                                                job.hw, job.features, tracker)
                mlflow.set_tag("mlflow.runName", _run_name(f"auto-{selection.winner}", ctx.root))
            else:
                selection = fixed(model_cfg.arch)
            checkpoints.write_json(SELECTION_FILE, dataclasses.asdict(selection))
        write_selection(paths.selection, selection)
        # The picture only when there was a selection; a fixed arch leaves none behind.
        if selection.candidates:
            plot_selection(selection, paths.selection_plot)
        else:
            paths.selection_plot.unlink(missing_ok=True)
        chosen = dataclasses.replace(model_cfg, arch=distributed.broadcast(env, selection.winner))
        mlflow.log_param("arch", chosen.arch)
        _say_what_is_unused(chosen.arch, cfg, frames_cfg, tracker)
        result = fit(chosen, cfg, FitData(job.train, job.val, job.classes, job.features), job.hw,
                     ctx.progress, tracker=tracker, checkpoints=checkpoints, env=env)
        best = result.kept
        if result.resumed_from:
            mlflow.set_tag("resumed_from_epoch", str(result.resumed_from))
        mlflow.log_metrics({"best_val_f1": best.val_f1} if ARCHITECTURES[chosen.arch].fits_a_head
                           else {"best_epoch": best.epoch, "best_val_f1": best.val_f1,
                                 "epochs_run": len(result.history)})
        save_model_dir(paths.model, result.model, chosen, frames_cfg, job.classes, run.info.run_id)
        write_history(paths.train_log, result.history)
        plot_curves(result.history, paths.curves, result.strength)
        for path in (paths.train_log, paths.curves, paths.selection, paths.selection_plot):
            if path.is_file():
                mlflow.log_artifact(str(path))
    checkpoints.clear()  # the model folder now holds the result
    return TrainResult(run.info.run_id, job.classes, best.epoch, best.val_f1, result.history,
                       str(job.hw.device), chosen.arch, selection, result.resumed_from,
                       env.world_size)


def _run_name(what: str, root: Path) -> str:
    """``train-<arch>-data-<version>``: runs on other data do not share a name in MLflow."""
    return f"train-{what}-data-{data_version(home_project(root))[:7]}"


def _log_params(job: _Job) -> None:
    import mlflow
    import torch

    p, hw = job.ctx.params, job.hw
    mlflow.set_tags({**provenance_tags(job.ctx.root), **environment_tags(torch.get_num_threads()),
                     "device": str(hw.device),
                     "gpu": hw.name if hw.device.type == "cuda" else "", "precision": hw.precision,
                     "processes": str(job.env.world_size)})
    for name, section in (("model", p.model), ("train", p.train), ("extract", p.extract)):
        mlflow.log_params({f"{name}.{k}": v for k, v in section_dict(section).items()})
    mlflow.log_params({"classes": ",".join(job.classes), "n_train": len(job.train),
                       "n_val": len(job.val), "loader_workers": hw.workers})


def _run_exists(run_id: str) -> bool:
    import mlflow
    from mlflow.exceptions import MlflowException

    try:
        return mlflow.get_run(run_id).info.lifecycle_stage == "active"
    except MlflowException:
        return False


def write_history(path: Path, history: list[EpochStats]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)

    def write(handle) -> None:
        writer = csv.DictWriter(handle, fieldnames=[f.name for f in dataclasses.fields(EpochStats)])
        writer.writeheader()
        for stats in history:
            writer.writerow({k: round(v, 6) if isinstance(v, float) else v
                             for k, v in dataclasses.asdict(stats).items()})

    atomic_write(path, write, text=True)


def _say_what_is_unused(arch: str, cfg: TrainConfig, frames_cfg: ExtractConfig,
                        tracker: MlflowTracker) -> None:
    """Settings the chosen architecture ignores are said, not silently dropped.

    The feature families and motion_linear fit a head on the deterministic view's
    features: extra training views and clip augmentation do not reach them.
    """
    if ARCHITECTURES[arch].uses_views:
        return
    unused = []
    if frames_cfg.train_views:
        unused.append(f"extract.train_views={frames_cfg.train_views}")
    if not is_identity(cfg.augment):
        unused.append("train.augment")
    if unused:
        log.warning("%s fits a head on the deterministic view's features: %s not used (set "
                    "them back to their defaults to skip their cost)", arch, " and ".join(unused))
        tracker.set_tags({"unused_settings": ",".join(unused)})
