"""Stage train: fit the configured video classifier on the train split, keep the best epoch.

The best epoch is chosen on validation macro F1, never on test. With ``model.arch: auto``
the architecture is chosen first by group-aware cross-validation over train + val
(model_selection.py). One MLflow run holds the params, the per-epoch curves, the
candidates as nested runs and (after evaluate and register) the test figures and model.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import torch

from vidops.clip_dataset import class_names, usable_clips
from vidops.config import ExtractConfig, ModelConfig, TrainConfig, section_dict
from vidops.fitting import EpochStats, fit
from vidops.model_artifact import save_model_dir
from vidops.model_selection import Selection, fixed, select_architecture, write_selection
from vidops.provenance import provenance_tags
from vidops.tracking import setup_mlflow

log = logging.getLogger(__name__)


class TrainError(RuntimeError):
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


def pick_device(choice: str) -> torch.device:
    if choice == "cuda" and not torch.cuda.is_available():
        raise TrainError("train.device is 'cuda' but no CUDA device is available")
    if choice == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(choice)


def run_train(model_cfg: ModelConfig, cfg: TrainConfig, frames_cfg: ExtractConfig,
              manifest_path: Path, frames_dir: Path, validation_path: Path,
              model_dir: Path, log_path: Path, curves_path: Path, selection_path: Path,
              selection_plot: Path, root: Path = Path("."), progress: bool = True) -> TrainResult:
    verdict = json.loads(validation_path.read_text())
    if not verdict.get("success"):
        raise TrainError(f"{validation_path}: the data failed validation ({verdict.get('errors')})")
    clips = usable_clips(manifest_path, frames_dir, validation_path)
    classes = class_names(clips)
    train = [c for c in clips if c.split == "train"]
    val = [c for c in clips if c.split == "val"]
    if not train or not val:
        raise TrainError(f"need clips in train and val, have {len(train)} and {len(val)}")
    device = pick_device(cfg.device)

    import mlflow

    experiment_id = setup_mlflow(root, cfg.experiment)
    with mlflow.start_run(experiment_id=experiment_id, run_name=f"train-{model_cfg.arch}") as run:
        mlflow.set_tags({**provenance_tags(root), "device": str(device),
                         "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else ""})
        mlflow.log_params({f"model.{k}": v for k, v in section_dict(model_cfg).items()})
        mlflow.log_params({f"train.{k}": v for k, v in section_dict(cfg).items()})
        mlflow.log_params({f"extract.{k}": v for k, v in section_dict(frames_cfg).items()})
        mlflow.log_params({"classes": ",".join(classes), "n_train": len(train), "n_val": len(val)})
        if model_cfg.arch == "auto":
            selection = select_architecture(model_cfg, cfg, train + val, classes, device)
            mlflow.set_tag("mlflow.runName", f"train-auto-{selection.winner}")
        else:
            selection = fixed(model_cfg.arch)
        write_selection(selection_path, selection, selection_plot)
        chosen = dataclasses.replace(model_cfg, arch=selection.winner)
        mlflow.log_param("arch", chosen.arch)
        result = fit(chosen, cfg, train, val, classes, device, progress)
        best = result.kept
        mlflow.log_metrics({"best_epoch": best.epoch, "best_val_f1": best.val_f1,
                            "epochs_run": len(result.history)})
        save_model_dir(model_dir, result.model, chosen, frames_cfg, classes, run.info.run_id)
        write_history(log_path, result.history)
        plot_curves(result.history, curves_path)
        for path in (log_path, curves_path, selection_path, selection_plot):
            mlflow.log_artifact(str(path))
    return TrainResult(run.info.run_id, classes, best.epoch, best.val_f1, result.history,
                       str(device), chosen.arch, selection)


def write_history(path: Path, history: list[EpochStats]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=[f.name for f in dataclasses.fields(EpochStats)])
        writer.writeheader()
        for stats in history:
            writer.writerow({k: round(v, 6) if isinstance(v, float) else v
                             for k, v in dataclasses.asdict(stats).items()})


def plot_curves(history: list[EpochStats], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [s.epoch for s in history]
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.5))
    left.plot(epochs, [s.train_loss for s in history], marker=".", label="train")
    left.plot(epochs, [s.val_loss for s in history], marker=".", label="val")
    left.set(xlabel="epoch", ylabel="cross-entropy", title="loss")
    left.legend()
    right.plot(epochs, [s.train_acc for s in history], marker=".", label="train accuracy")
    right.plot(epochs, [s.val_f1 for s in history], marker=".", label="val macro F1")
    right.set(xlabel="epoch", ylim=(0, 1.02), title="quality")
    right.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
