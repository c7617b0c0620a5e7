"""What the MLflow UI says, in words, about the registered model and each of its versions."""

from __future__ import annotations

from typing import Any

MODEL_DESCRIPTION = (
    "Video classifier trained and registered by vidops (`dvc repro`, or the Prefect flow "
    "`video-pipeline`). Input: raw video bytes, one clip per row of column `video`; output: "
    "`label` and one probability column per class. The alias `champion` is the version "
    "serving loads (`models:/{name}@champion`); it moves only when a version passes the "
    "promotion gate (register stage), or by `vidops promote` / `vidops rollback`. The "
    "history of the alias: `vidops history`, or the `vidops.champion.*` tags of the model.")


def model_description(name: str) -> str:
    return MODEL_DESCRIPTION.format(name=name)


def version_description(name: str, version: str, arch: str, classes: list[str],
                        data_version: str, clips: dict[str, int], metrics: dict[str, Any],
                        gate: str, reason: str) -> str:
    """A version's page: what it is, what it scored with its uncertainty, what the gate said."""
    interval = ""
    if "macro_f1_ci" in metrics:
        low, high = metrics["macro_f1_ci"]
        interval = f" (95% interval {low:.3f} to {high:.3f})"
    split = ", ".join(f"{n} {s}" for s, n in clips.items())
    return (f"**{arch}** over {len(classes)} classes ({', '.join(classes)}).\n\n"
            f"Data version `{data_version}` (md5 of data/raw in data.dvc): {split} clips.\n\n"
            f"Test macro F1 **{metrics['macro_f1']:.3f}**{interval} on "
            f"{metrics.get('n_clips', clips.get('test', '?'))} test clips; accuracy "
            f"{metrics['accuracy']:.3f}.\n\n"
            f"Gate: **{gate}**: {reason}.\n\n"
            f"Serve it: `vidops serve` follows `champion`; this version alone: "
            f"`mlflow models serve -m models:/{name}/{version} --env-manager local`.")
