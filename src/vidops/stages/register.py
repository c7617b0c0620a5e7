"""Stage register: log the pyfunc, register a version, move `champion` only through the gate."""

from __future__ import annotations

import json
import logging
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd

from vidops.clip_dataset import usable_clips
from vidops.config import RegisterConfig
from vidops.gate import decide
from vidops.metrics import classification_summary
from vidops.model_artifact import read_run_id
from vidops.provenance import provenance_tags
from vidops.registry import CHALLENGER, current_champion, move_champion, registry_lock
from vidops.tracking import tracking_uri

log = logging.getLogger(__name__)

# What the served model needs; given explicitly because inferring it costs seconds.
PIP_REQUIREMENTS = ["mlflow>=3.17,<4", "torch>=2.14,<2.15", "torchvision>=0.29,<0.30",
                    "opencv-python-headless>=4.10", "av>=14",
                    "numpy", "pandas", "pyyaml"]


@dataclass(frozen=True)
class RegisterResult:
    model_name: str
    version: str
    run_id: str
    candidate_f1: float
    champion_version: str | None  # champion before this registration
    champion_f1: float | None  # that champion re-scored on the current test split
    promoted: bool
    reason: str


def run_register(cfg: RegisterConfig, manifest_path: Path, validation_path: Path,
                 model_dir: Path, metrics_path: Path, promotion_path: Path,
                 frames_dir: Path, root: Path = Path(".")) -> RegisterResult:
    import mlflow
    from mlflow import MlflowClient

    candidate_f1 = float(json.loads(metrics_path.read_text())["macro_f1"])
    run_id = read_run_id(model_dir)
    uri = tracking_uri(root)
    mlflow.set_tracking_uri(uri)
    client = MlflowClient()
    test = [c for c in usable_clips(manifest_path, frames_dir, validation_path) if c.split == "test"]
    version = _log_and_register(cfg, model_dir, run_id, example=Path(test[0].path) if test else None)
    with registry_lock(uri):
        client.set_registered_model_alias(cfg.model_name, CHALLENGER, version)
        champion = current_champion(client, cfg.model_name)
        champion_f1 = rescore(f"models:/{cfg.model_name}/{champion}", test) if champion else None
        decision = decide(candidate_f1, champion_f1, cfg.min_f1, cfg.min_delta)
        if decision.promote:
            move_champion(client, cfg.model_name, version, "gate", decision.reason)
    tags = {**provenance_tags(root), "run_id": run_id, "macro_f1": f"{candidate_f1:.6f}",
            "gate": "promoted" if decision.promote else "rejected", "gate_reason": decision.reason,
            "champion_before": champion or "", "champion_before_f1":
            "" if champion_f1 is None else f"{champion_f1:.6f}"}
    for key, value in tags.items():
        client.set_model_version_tag(cfg.model_name, version, key, value)
    result = RegisterResult(cfg.model_name, version, run_id, candidate_f1, champion, champion_f1,
                            decision.promote, decision.reason)
    promotion_path.parent.mkdir(parents=True, exist_ok=True)
    promotion_path.write_text(json.dumps(asdict(result), indent=2) + "\n")
    return result


def _log_and_register(cfg: RegisterConfig, model_dir: Path, run_id: str,
                      example: Path | None) -> str:
    import mlflow
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, DataType, Schema

    import vidops
    from vidops.serving import VIDEO_COLUMN

    package = Path(vidops.__file__).parent
    signature = ModelSignature(inputs=Schema([ColSpec(DataType.binary, VIDEO_COLUMN)]))
    with mlflow.start_run(run_id=run_id), warnings.catch_warnings():
        # A dataset with no test clip has no example to give; the signature still holds.
        warnings.filterwarnings("ignore", message=".*input example was not provided.*")
        info = mlflow.pyfunc.log_model(
            name="model",
            # Models from code: the registry stores this file, not a pickled object.
            python_model=str(package / "serving_model.py"),
            model_config={"max_video_bytes": cfg.max_video_bytes},
            artifacts={"model_dir": str(model_dir)},
            # The package travels with the model, so a serving box needs no vidops install.
            code_paths=[str(package)],
            pip_requirements=PIP_REQUIREMENTS,
            signature=signature,
            # A real test clip: MLflow checks that the model serves it before registering.
            input_example=pd.DataFrame({VIDEO_COLUMN: [example.read_bytes()]}) if example else None,
            registered_model_name=cfg.model_name,
        )
    return str(info.registered_model_version)


def rescore(model_uri: str, clips: list) -> float:
    """Macro F1 of ``model_uri`` on ``clips``' raw files, through its own pyfunc sampler."""
    from vidops.serving import predict_files

    if not clips:
        raise ValueError("no test clips to re-score the champion on")
    out: pd.DataFrame = predict_files(model_uri, [Path(c.path) for c in clips])
    truth = [c.label for c in clips]
    classes = sorted(set(truth) | set(out["label"]))
    return float(classification_summary(truth, list(out["label"]), classes)["macro_f1"])
