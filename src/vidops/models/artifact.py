"""artifacts/model/: everything serving needs to turn raw video into a prediction.

Folders written by earlier releases load too: ``load_model_dir`` reads only the model
config, the classes and the frame parameters, which have not changed shape.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from vidops.architectures import ARCHITECTURES
from vidops.config import ExtractConfig, ModelConfig, build
from vidops.fileio import atomic_write, atomic_write_json
from vidops.models.factory import build_model

WEIGHTS = "model.pt"
META = "model.json"
RUN = "mlflow_run.json"


@dataclass(frozen=True)
class LoadedModel:
    model: nn.Module  # in eval mode, on ``device``
    classes: list[str]  # class names in logit order
    frames: ExtractConfig  # how clips must be sampled for this model
    device: torch.device

    def predict_proba(self, clips: np.ndarray, batch_size: int = 16) -> np.ndarray:
        """``(N, T, H, W, 3)`` uint8 clips -> ``(N, num_classes)`` probabilities."""
        out = []
        with torch.inference_mode():
            for start in range(0, len(clips), batch_size):
                batch = torch.from_numpy(np.ascontiguousarray(clips[start : start + batch_size]))
                logits = self.model(batch.to(self.device, non_blocking=True))
                out.append(torch.softmax(logits.float(), dim=1).cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, len(self.classes)), np.float32)


def save_model_dir(model_dir: Path, model: nn.Module, model_cfg: ModelConfig,
                   frames: ExtractConfig, classes: list[str], run_id: str) -> None:
    model_dir.mkdir(parents=True, exist_ok=True)
    # The run id goes last: a folder killed half-way has none, and evaluate refuses it.
    (model_dir / RUN).unlink(missing_ok=True)
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    atomic_write(model_dir / WEIGHTS, lambda handle: torch.save(state, handle))
    meta = {
        "model": dataclasses.asdict(model_cfg),
        "classes": classes,
        "frames": dataclasses.asdict(frames),
        "input": "(B, T, H, W, 3) uint8 RGB; the model normalises internally",
        # What this architecture does to the pixels inside the model (per stream for the
        # feature families): recorded, not applied, by whoever reads the folder.
        "normalisation": ARCHITECTURES[model_cfg.arch].normalisation(),
    }
    atomic_write_json(model_dir / META, meta)
    atomic_write_json(model_dir / RUN, {"run_id": run_id})


def read_run_id(model_dir: Path) -> str:
    return json.loads((model_dir / RUN).read_text())["run_id"]


def load_model_dir(model_dir: Path, device: torch.device | str = "cpu") -> LoadedModel:
    meta = json.loads((model_dir / META).read_text())
    model_cfg = build(ModelConfig, meta["model"], f"{model_dir / META}:model")
    frames = build(ExtractConfig, meta["frames"], f"{model_dir / META}:frames")
    model = build_model(model_cfg, len(meta["classes"]), load_weights=False)
    # weights_only: a state dict of tensors, never arbitrary pickled objects.
    model.load_state_dict(torch.load(model_dir / WEIGHTS, map_location="cpu", weights_only=True))
    device = torch.device(device)
    return LoadedModel(model.to(device).eval(), list(meta["classes"]), frames, device)
