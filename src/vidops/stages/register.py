"""Stage register: log the pyfunc, register a version, move `champion` only through the gate."""

from __future__ import annotations

import json
import logging
import os
from collections import Counter
from pathlib import Path

import pandas as pd

from vidops.config import RegisterConfig
from vidops.data.clips import usable_clips
from vidops.data.records import read_manifest
from vidops.errors import VidopsError
from vidops.evaluation.figures import TestFigures
from vidops.fileio import digest_file
from vidops.models.artifact import META, ModelIdentity, model_identity
from vidops.models.preset import read_preset
from vidops.registry.champion import CHALLENGER, current_champion, describe_model, move_champion
from vidops.registry.classes import CLASSES_TAG, classes_tag, other_task
from vidops.registry.comparison import compare_with_champion, twin_of_champion
from vidops.registry.decision import Decision
from vidops.registry.descriptions import TrainedOn, version_description
from vidops.registry.gate import decide
from vidops.registry.lock import registry_lock
from vidops.registry.provenance import provenance_tags
from vidops.registry.publish import publish_model
from vidops.registry.tracking import tracking_uri
from vidops.serving import MODEL_CODE, VIDEO_COLUMN
from vidops.serving.pyfunc import predict_files
from vidops.stages.context import StageContext

log = logging.getLogger(__name__)

# A version's ``registration`` tag: pending from creation, complete once the gate's record
# is written and the alias moved (or not); a rerun resumes a pending one.
REGISTRATION, PENDING, COMPLETE = "registration", "pending", "complete"
# Set by DVC in the stage commands of `dvc exp run` (dvc.env.DVC_EXP_NAME).
EXPERIMENT_ENV = "DVC_EXP_NAME"
# What the served model needs; given explicitly because inferring it costs seconds.
PIP_REQUIREMENTS = ["mlflow>=3.17,<4", "torch>=2.14,<2.15", "torchvision>=0.29,<0.30",
                    "opencv-python-headless>=4.10", "av>=14",
                    "numpy", "pandas", "pyyaml"]


class RegisterError(VidopsError, ValueError):
    """The candidate cannot be compared: no test clips, or evaluate's predictions are stale."""


def run_register(ctx: StageContext) -> Decision:
    """Register the model; move `champion` when the gate (gate.py) passes.

    ``paths.predictions``: evaluate's per-clip CSV, which the paired rules need (the
    challenger's answers are paired with the champion's, re-scored on the same raw test clips).
    """
    import mlflow
    from mlflow import MlflowClient

    cfg, paths, root = ctx.params.register, ctx.paths, ctx.root
    metrics_path, model_dir, promotion_path = paths.metrics, paths.model, paths.promotion
    predictions = paths.predictions

    metrics = TestFigures.read(metrics_path)
    candidate_f1 = float(metrics.macro_f1)
    identity = model_identity(model_dir)
    _check_scored(metrics, metrics_path, model_dir, identity, predictions)
    run_id = identity.run_id
    uri = tracking_uri(root)
    mlflow.set_tracking_uri(uri)
    client = MlflowClient()
    test = [c for c in usable_clips(paths.manifest, paths.frames, paths.validation)
            if c.split == "test"]
    provenance = provenance_tags(root)
    experiment = os.environ.get(EXPERIMENT_ENV)
    # One recoverable transaction: the version is found again by its run (a kill after it
    # was created, or a rerun after a register param changed, must not register the run
    # twice), tagged with its provenance at once, given its gate record before the alias can
    # move, and marked complete last.
    version = _version_of_run(client, cfg.model_name, run_id)
    if version is None:
        twin = twin_of_champion(client, cfg.model_name, provenance)
        if twin is not None:
            # Retrained from exactly what made the champion (`dvc repro -f`, a reverted
            # param): another version would be a duplicate the gate could promote over itself.
            result = Decision(cfg.model_name, twin, run_id, candidate_f1, twin, None, False,
                              f"same code, data and params as champion version {twin}: "
                              "nothing registered", cfg.gate, registered=False)
            result.write(promotion_path)
            return result
        serve = ctx.params.serve
        limits = {"max_video_bytes": serve.max_video_bytes, "max_clips": serve.max_clips}
        version = publish_model(model_dir, run_id, cfg.model_name, str(MODEL_CODE), VIDEO_COLUMN,
                                PIP_REQUIREMENTS, limits,
                                example=Path(test[0].path) if test else None)
    else:
        log.info("%s version %s already holds run %s: deciding on it again, nothing new "
                 "registered", cfg.model_name, version, run_id)
    preset = read_preset(model_dir / META)
    classes = preset.classes
    for key, value in {**provenance, "run_id": run_id, REGISTRATION: PENDING,
                       "dvc_experiment": experiment or "",
                       CLASSES_TAG: classes_tag(classes)}.items():
        if value:  # an empty tag says nothing (no experiment)
            client.set_model_version_tag(cfg.model_name, version, key, value)
    with registry_lock(uri, cfg.model_name):
        client.set_registered_model_alias(cfg.model_name, CHALLENGER, version)
        champion = current_champion(client, cfg.model_name)
        if champion == version:
            # Already the champion (killed after the alias moved, before the registration
            # was marked complete; or run again): its gate record is on the version.
            client.set_model_version_tag(cfg.model_name, version, REGISTRATION, COMPLETE)
            result = _result_from_tags(client, cfg.model_name, version, run_id, candidate_f1, cfg)
            result.write(promotion_path)
            return result
        champion_f1, paired, recalls = None, None, None
        decision = other_task(client, cfg.model_name, champion, classes, version)
        if decision is None and champion:
            champion_f1, paired, recalls = compare_with_champion(
                predictions, rescore(f"models:/{cfg.model_name}/{champion}", test), test)
        if decision is None:
            decision = decide(candidate_f1, champion_f1, cfg.min_f1, cfg.min_delta, cfg.gate,
                              paired, recalls, cfg.max_class_drop)
        promote, reason = decision.promote, decision.reason
        if promote and experiment and not cfg.promote_experiments:
            # `dvc exp run` explores; production moves only when the user says so.
            promote = False
            reason += (f"; champion not moved: DVC experiment {experiment} "
                       "(register.promote_experiments is false)")
        tags = {"macro_f1": f"{candidate_f1:.6f}",
                "gate": "promoted" if promote else "passed, not moved" if decision.promote
                else "rejected",
                "gate_reason": reason, "champion_before": champion or "", "champion_before_f1":
                "" if champion_f1 is None else f"{champion_f1:.6f}", "gate_rule": cfg.gate,
                "f1_difference_ci": json.dumps([round(x, 4) for x in paired.ci]) if paired else ""}
        earlier = client.get_model_version(cfg.model_name, version).tags  # a decision again
        for key, value in tags.items():
            if value:  # an empty tag says nothing (no champion before version 1)
                client.set_model_version_tag(cfg.model_name, version, key, value)
            elif key in earlier:  # what an earlier decision on this version said, gone stale
                client.delete_model_version_tag(cfg.model_name, version, key)
        clips = Counter(r.split for r in read_manifest(paths.manifest))
        data = TrainedOn(provenance["data_version"], {s: clips[s] for s in ("train", "val", "test")})
        client.update_model_version(cfg.model_name, version, description=version_description(
            cfg.model_name, version, preset.arch, preset.classes, data, metrics, tags["gate"],
            reason))
        if promote:
            move_champion(client, cfg.model_name, version, "gate", reason)
        else:
            describe_model(client, cfg.model_name)  # the page exists from version 1 on
        client.set_model_version_tag(cfg.model_name, version, REGISTRATION, COMPLETE)
    result = Decision(cfg.model_name, version, run_id, candidate_f1, champion, champion_f1,
                      promote, reason, cfg.gate,
                      paired.difference if paired else None, paired.ci if paired else None,
                      {c: {"challenger": a, "champion": b} for c, (a, b) in recalls.items()}
                      if recalls else None, decision.class_drops)
    result.write(promotion_path)
    return result


def _version_of_run(client, name: str, run_id: str) -> str | None:
    """The version already registered from ``run_id`` (a registration interrupted, or run
    again), the first one when a release before this one registered it twice."""
    from mlflow.exceptions import MlflowException

    try:
        found = client.search_model_versions(f"name='{name}' and run_id='{run_id}'")
    except MlflowException:  # no registered model of that name yet
        return None
    return str(min(int(v.version) for v in found)) if found else None


def _result_from_tags(client, name: str, version: str, run_id: str, candidate_f1: float,
                      cfg: RegisterConfig) -> Decision:
    """What a completed registration decided, read back from its version's tags."""
    tags = client.get_model_version(name, version).tags
    before_f1 = tags.get("champion_before_f1")
    ci = tags.get("f1_difference_ci")
    return Decision(name, version, run_id, candidate_f1, tags.get("champion_before") or None,
                    float(before_f1) if before_f1 else None,
                    tags.get("gate") == "promoted", tags.get("gate_reason", ""),
                    tags.get("gate_rule", cfg.gate), None, json.loads(ci) if ci else None)


def rescore(model_uri: str, clips: list) -> list[str]:
    """``model_uri``'s label for each of ``clips``' raw files, through its own pyfunc sampler."""

    if not clips:
        raise RegisterError("no test clips to re-score the champion on")
    out: pd.DataFrame = predict_files(model_uri, [Path(c.path) for c in clips])
    failed = [e for e in out.get("error", []) if isinstance(e, str)]
    if failed:  # the comparison must be on every test clip, or it is not the same test
        raise RegisterError(f"{model_uri} cannot score {len(failed)} test clip(s): {failed[:3]}")
    return [str(label) for label in out["label"]]


def _check_scored(metrics: TestFigures, metrics_path: Path, model_dir: Path, identity: ModelIdentity,
                  predictions: Path) -> None:
    """The figures register gates on are those of this model folder and these predictions:
    evaluate names both in metrics.json (written last); anything else is refused."""
    redo = "run `dvc repro evaluate` (or `vidops run`) to score the model that is there"
    scored = metrics.scored
    if not isinstance(scored, dict) or not isinstance(scored.get("model_files"), dict):
        raise RegisterError(f"{metrics_path}: does not say which model it scored (written by an "
                            f"older vidops, or by hand); {redo}")
    if scored["model_files"] != identity.files:
        raise RegisterError(f"{metrics_path}: scores another model than the one in {model_dir} "
                            f"(trained again since it was evaluated); {redo}")
    if not predictions.is_file() or digest_file(predictions) != scored.get("predictions"):
        raise RegisterError(f"{predictions}: not the predictions written with {metrics_path} "
                            f"(missing, or replaced since: an evaluation was interrupted); {redo}")

