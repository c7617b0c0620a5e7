"""Stage train: fit the configured video classifier on the train split, keep the best epoch.

The best epoch is chosen on validation macro F1, never on test. One MLflow run holds the
params, the per-epoch curves and (after evaluate and register) the test figures and model.
"""

from __future__ import annotations

import copy
import csv
import dataclasses
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import f1_score
from torch import nn
from torch.utils.data import DataLoader
from tqdm import tqdm

from vidops.clip_dataset import FramesDataset, UsableClip, class_names, usable_clips
from vidops.config import ExtractConfig, ModelConfig, TrainConfig, section_dict
from vidops.model_artifact import save_model_dir
from vidops.models import build_model
from vidops.provenance import provenance_tags
from vidops.tracking import setup_mlflow

log = logging.getLogger(__name__)


class TrainError(RuntimeError):
    """Training cannot start: the data failed validation or a split is empty."""


@dataclass(frozen=True)
class EpochStats:
    epoch: int
    train_loss: float
    train_acc: float
    val_loss: float
    val_acc: float
    val_f1: float
    lr: float
    seconds: float


@dataclass(frozen=True)
class TrainResult:
    run_id: str
    classes: list[str]
    best_epoch: int
    best_val_f1: float
    history: list[EpochStats]
    device: str


def pick_device(choice: str) -> torch.device:
    if choice == "cuda" and not torch.cuda.is_available():
        raise TrainError("train.device is 'cuda' but no CUDA device is available")
    if choice == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(choice)


def run_train(model_cfg: ModelConfig, cfg: TrainConfig, frames_cfg: ExtractConfig,
              manifest_path: Path, frames_dir: Path, validation_path: Path,
              model_dir: Path, log_path: Path, curves_path: Path, root: Path = Path("."),
              progress: bool = True) -> TrainResult:
    verdict = json.loads(validation_path.read_text())
    if not verdict.get("success"):
        raise TrainError(f"{validation_path}: the data failed validation ({verdict.get('errors')})")
    clips = usable_clips(manifest_path, frames_dir, validation_path)
    classes = class_names(clips)
    train = [c for c in clips if c.split == "train"]
    val = [c for c in clips if c.split == "val"]
    if not train or not val:
        raise TrainError(f"need clips in train and val, have {len(train)} and {len(val)}")

    torch.manual_seed(cfg.seed)
    np.random.seed(cfg.seed)
    device = pick_device(cfg.device)
    model = build_model(model_cfg, len(classes)).to(device)

    import mlflow

    experiment_id = setup_mlflow(root, cfg.experiment)
    with mlflow.start_run(experiment_id=experiment_id, run_name=f"train-{model_cfg.arch}") as run:
        mlflow.set_tags({**provenance_tags(root), "device": str(device),
                         "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else ""})
        mlflow.log_params({f"model.{k}": v for k, v in section_dict(model_cfg).items()})
        mlflow.log_params({f"train.{k}": v for k, v in section_dict(cfg).items()})
        mlflow.log_params({f"extract.{k}": v for k, v in section_dict(frames_cfg).items()})
        mlflow.log_params({"classes": ",".join(classes), "n_train": len(train), "n_val": len(val)})
        history, best_state = _fit(model, cfg, train, val, classes, device, progress)
        best = max(history, key=lambda s: (s.val_f1, -s.val_loss))
        model.load_state_dict(best_state)
        mlflow.log_metrics({"best_epoch": best.epoch, "best_val_f1": best.val_f1})
        save_model_dir(model_dir, model, model_cfg, frames_cfg, classes, run.info.run_id)
        write_history(log_path, history)
        plot_curves(history, curves_path)
        mlflow.log_artifact(str(log_path))
        mlflow.log_artifact(str(curves_path))
    return TrainResult(run.info.run_id, classes, best.epoch, best.val_f1, history, str(device))


def _fit(model: nn.Module, cfg: TrainConfig, train: list[UsableClip], val: list[UsableClip],
         classes: list[str], device: torch.device, progress: bool
         ) -> tuple[list[EpochStats], dict[str, torch.Tensor]]:
    import mlflow

    generator = torch.Generator().manual_seed(cfg.seed)
    loader = DataLoader(FramesDataset(train, classes), batch_size=cfg.batch_size, shuffle=True,
                        generator=generator, num_workers=cfg.num_workers,
                        pin_memory=device.type == "cuda")
    val_loader = DataLoader(FramesDataset(val, classes), batch_size=cfg.batch_size)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=cfg.lr, total_steps=cfg.epochs * len(loader))
    criterion = nn.CrossEntropyLoss()
    history: list[EpochStats] = []
    best_f1, best_state = -1.0, copy.deepcopy(model.state_dict())
    for epoch in range(1, cfg.epochs + 1):
        start = time.perf_counter()
        lr = optimizer.param_groups[0]["lr"]
        model.train()
        losses, correct, seen = [], 0, 0
        bar = tqdm(loader, desc=f"epoch {epoch}/{cfg.epochs}", unit="batch", disable=not progress,
                   leave=False)
        for clips, targets in bar:
            clips = clips.to(device, non_blocking=True)
            targets = targets.to(device, non_blocking=True)
            logits = model(clips)
            loss = criterion(logits, targets)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            losses.append(loss.item())
            correct += int((logits.argmax(1) == targets).sum())
            seen += len(targets)
            bar.set_postfix(loss=f"{np.mean(losses):.3f}")
        val_loss, val_acc, val_f1 = _score(model, val_loader, criterion, device, len(classes))
        stats = EpochStats(epoch, float(np.mean(losses)), correct / seen, val_loss, val_acc,
                           val_f1, lr, time.perf_counter() - start)
        history.append(stats)
        log.info("epoch %d/%d train_loss %.4f val_loss %.4f val_f1 %.3f", epoch, cfg.epochs,
                 stats.train_loss, stats.val_loss, stats.val_f1)
        mlflow.log_metrics({k: v for k, v in dataclasses.asdict(stats).items() if k != "epoch"},
                           step=epoch)
        if val_f1 > best_f1:
            best_f1, best_state = val_f1, copy.deepcopy(model.state_dict())
    return history, best_state


def _score(model: nn.Module, loader: DataLoader, criterion: nn.Module, device: torch.device,
           num_classes: int) -> tuple[float, float, float]:
    """Loss, accuracy and macro F1 over ``loader`` in eval mode."""
    model.eval()
    losses, preds, truth = [], [], []
    with torch.inference_mode():
        for clips, targets in loader:
            logits = model(clips.to(device))
            losses.append(criterion(logits, targets.to(device)).item() * len(targets))
            preds += logits.argmax(1).cpu().tolist()
            truth += targets.tolist()
    f1 = f1_score(truth, preds, labels=list(range(num_classes)), average="macro", zero_division=0)
    accuracy = float(np.mean(np.array(preds) == np.array(truth)))
    return float(sum(losses) / len(truth)), accuracy, float(f1)


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
    left.plot(epochs, [s.train_loss for s in history], label="train")
    left.plot(epochs, [s.val_loss for s in history], label="val")
    left.set(xlabel="epoch", ylabel="cross-entropy", title="loss")
    left.legend()
    right.plot(epochs, [s.train_acc for s in history], label="train accuracy")
    right.plot(epochs, [s.val_f1 for s in history], label="val macro F1")
    right.set(xlabel="epoch", ylim=(0, 1.02), title="quality")
    right.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
