"""artifacts/model/: everything serving needs to turn raw video into a prediction.

``model.json`` is the inference preset (models/preset.py): loading never goes through the
params loader, so a params rename leaves every trained folder loadable, and folders of
earlier releases load through the preset's format-0 reader.

``mlflow_run.json`` is written last and records the digest of every other file: it is what
makes a folder finished. ``model_identity`` checks it before a stage scores or registers the
folder, so weights from one training beside the config of another (a kill while train
replaced the folder DVC keeps in place) are refused by name, never scored.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from vidops.config import ExtractConfig, ModelConfig
from vidops.errors import DataError
from vidops.fileio import atomic_write, atomic_write_json, digest_file
from vidops.models.factory import build_net
from vidops.models.feature_linear import LEGACY_SEGMENTS, FeatureLinear
from vidops.models.preset import preset_from_params, read_preset, write_preset

WEIGHTS = "model.pt"
META = "model.json"
RUN = "mlflow_run.json"


@dataclass(frozen=True)
class LoadedModel:
    model: nn.Module  # in eval mode, on ``device``
    classes: list[str]  # class names in logit order
    frames: ExtractConfig  # how clips must be sampled for this model
    device: torch.device
    arch: str = ""  # the family that was trained (what model.arch auto chose)

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
    write_preset(model_dir / META, preset_from_params(model_cfg, frames, classes))
    files = {name: digest_file(model_dir / name) for name in (WEIGHTS, META)}
    atomic_write_json(model_dir / RUN, {"run_id": run_id, "files": files})


@dataclass(frozen=True)
class ModelIdentity:
    run_id: str  # the MLflow run that trained the folder
    files: dict[str, str]  # file name -> digest (fileio.digest_file), as train wrote them


def model_identity(model_dir: Path) -> ModelIdentity:
    """The finished model folder's run and file digests; a folder that is not finished, or
    whose files are not the ones train wrote, is refused naming the file."""
    record = model_dir / RUN
    redo = "run `dvc repro train` (or `vidops run`) to train it again"
    if not (model_dir / WEIGHTS).is_file() or not (model_dir / META).is_file():
        raise DataError(f"{model_dir}: not a model folder ({WEIGHTS} and {META} expected); {redo}")
    if not record.is_file():
        raise DataError(f"{model_dir}: not finished ({RUN} is written last and is missing: "
                        f"a training was interrupted while writing the folder); {redo}")
    try:
        saved = json.loads(record.read_text())
        run_id, files = str(saved["run_id"]), dict(saved["files"])
    except (ValueError, KeyError, TypeError) as err:
        raise DataError(f"{record}: not a record of the folder's files ({err!r}); it was "
                        f"written by an older vidops or edited; {redo}") from None
    for name, digest in files.items():
        if digest_file(model_dir / name) != digest:
            raise DataError(f"{model_dir / name}: not the file the training wrote (its digest "
                            f"differs from {RUN}: replaced or edited since); {redo}")
    return ModelIdentity(run_id, files)


def load_model_dir(model_dir: Path, device: torch.device | str = "cpu") -> LoadedModel:
    preset = read_preset(model_dir / META)
    model = build_net(preset.arch, len(preset.classes), preset.net)
    # weights_only: a state dict of tensors, never arbitrary pickled objects.
    state = torch.load(model_dir / WEIGHTS, map_location="cpu", weights_only=True)
    if isinstance(model, FeatureLinear) and state["mean"].numel() != model.mean.numel():
        # Saved before 2026-12-06: its clips were pooled with temporal thirds as well; the
        # width of its weights says so (feature_linear.py).
        model = FeatureLinear(len(preset.classes), model.streams, preset.net["backbone"],
                              preset.net["backbone_frames"], segments=LEGACY_SEGMENTS)
    model.load_state_dict(state)
    device = torch.device(device)
    return LoadedModel(model.to(device).eval(), list(preset.classes),
                       preset.frames.extract_config(), device, preset.arch)
