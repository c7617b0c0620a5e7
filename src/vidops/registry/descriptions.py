"""What the MLflow UI says, in words, about the registered model and each of its versions."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol
from urllib.parse import quote

if TYPE_CHECKING:
    from vidops.evaluation.figures import RecipeCV, TestFigures

MODEL_DESCRIPTION = (
    "Video classifier trained and registered by vidops (`dvc repro`, or the Prefect flow "
    "`video-pipeline`). Input: raw video bytes, one clip per row of column `video`; output: "
    "`label` and one probability column per class. The alias `champion` is the version "
    "serving loads (`models:/{name}@champion`); it moves only when a version passes the "
    "promotion gate (register stage), or by `vidops promote` / `vidops rollback`. The "
    "history of the alias is the table below (newest first), `vidops history`, and the "
    "`vidops.champion.*` tags of the model, one per move.")
HISTORY_HEADING = "### Champion history"
# MLflow's SQL stores keep a description in 5,000 characters (PostgreSQL refuses more): the
# table shows the newest moves that fit, reasons cut short; `vidops history` lists them all.
MAX_DESCRIPTION = 5000
REASON_CHARS = 160
NAMED_CLASSES = 30  # a version's page names this many classes, then counts the rest
GATE_REASON_CHARS = 1500


# MLflow 3's UI shows its GenAI side (traces) around a page unless the URL asks for the
# training side; no server setting does it (checked in 3.17).
TRAINING_VIEW = "workflowType=machine_learning"


def mlflow_ui_link(page: str, root: Path) -> str:
    """Where an MLflow UI page is, on the server in use: the team's tracking server when
    ``MLFLOW_TRACKING_URI`` names one; else the command that serves the project's store,
    with the port the link then names."""
    uri = os.environ.get("MLFLOW_TRACKING_URI", "")
    if uri.startswith(("http://", "https://")):
        return f"{uri.rstrip('/')}/{page}"
    store = uri or f"sqlite:///{root / 'mlruns' / 'mlflow.db'}"
    return f"`mlflow ui --backend-store-uri {store} --port 5000`, then http://127.0.0.1:5000/{page}"


def version_page(name: str, version: str) -> str:
    """The MLflow UI's route to a model version (after the server's address)."""
    return f"#/models/{quote(name)}/versions/{version}"


class Event(Protocol):  # registry.champion.ChampionEvent, without importing MLflow's side
    at: str
    action: str
    version: str
    previous: str | None
    reason: str
    user: str


def model_description(name: str, events: Sequence[Event], current: str | None = None) -> str:
    """The registered model's page: ``current`` (the description as it stands: a user's edits
    above the history are kept) or the default text, then the champion history as a table."""
    preamble = (current or "").split(HISTORY_HEADING)[0].strip() or MODEL_DESCRIPTION.format(name=name)
    preamble = preamble[: MAX_DESCRIPTION // 2]
    head = f"{preamble}\n\n{HISTORY_HEADING}\n\n"
    return head + history_table(name, events, MAX_DESCRIPTION - len(head))


def history_table(name: str, events: Sequence[Event], budget: int = MAX_DESCRIPTION) -> str:
    """Markdown table of champion moves, newest first, in at most ``budget`` characters;
    each version links to its page."""
    if not events:
        return "No champion yet."

    def version(v: str | None) -> str:
        return f"[v{v}]({version_page(name, v)})" if v else "-"

    def cell(text: str, limit: int = REASON_CHARS) -> str:  # one line, pipes escaped
        text = " ".join(text.split())
        text = text if len(text) <= limit else text[: limit - 3] + "..."
        return text.replace("|", "\\|")

    rows = ["| when (UTC) | champion | replaced | how | who | why |", "|---|---|---|---|---|---|"]
    newest_first = list(reversed(events))
    footer = f"\n\n{len(events)} moves in all; the earlier ones: `vidops history`."
    used = sum(len(r) + 1 for r in rows) + len(footer)
    shown = 0
    for e in newest_first:
        when = e.at.replace("T", " ").removesuffix("Z")  # the heading says UTC; no wrap at T
        row = (f"| {when} | {version(e.version)} | {version(e.previous)} | {e.action} | "
               f"{cell(e.user, 40)} | {cell(e.reason)} |")
        if used + len(row) + 1 > budget:
            break
        rows.append(row)
        used += len(row) + 1
        shown += 1
    return "\n".join(rows) + (footer if shown < len(events) else "")


def recipe_cv_sentence(cv: RecipeCV | None, markdown: bool = True) -> str:
    """One sentence on the recipe cross-validation of metrics.json (``recipe_cv``)."""
    if cv is None:
        return ""
    bold = "**" if markdown else ""
    if cv.macro_f1 is None:
        return f"Recipe cross-validation {cv.status}."
    low, high = cv.macro_f1_ci
    return (f"Recipe cross-validated over all {cv.clips} usable clips ({cv.groups} groups, "
            f"{cv.folds} folds by group, chosen and fitted inside each fold): macro F1 "
            f"{bold}{cv.macro_f1:.3f}{bold} (95% interval {low:.3f} to {high:.3f}; folds "
            f"{', '.join(f'{f:.2f}' for f in cv.fold_f1)}).")


@dataclass(frozen=True)
class TrainedOn:
    """The data a version was made from: its DVC version and clips per split."""

    data_version: str  # md5 of data/raw in data.dvc
    clips: dict[str, int]


def version_description(name: str, version: str, arch: str, classes: list[str], data: TrainedOn,
                        metrics: TestFigures, gate: str, reason: str) -> str:
    """A version's page: what it is, what it scored with its uncertainty, what the gate said."""
    low, high = metrics.macro_f1_ci
    interval = f" (95% interval {low:.3f} to {high:.3f})"
    split = ", ".join(f"{n} {s}" for s, n in data.clips.items())
    # Bounded to fit the store's 5,000 characters whatever the class count or the reason's
    # length (a gate listing hundreds of classes); the whole reason is the `gate_reason` tag.
    named = ", ".join(classes[:NAMED_CLASSES]) + (
        f", and {len(classes) - NAMED_CLASSES} more" if len(classes) > NAMED_CLASSES else "")
    if len(reason) > GATE_REASON_CHARS:
        reason = reason[: GATE_REASON_CHARS - 3] + "... (whole: tag `gate_reason`)"
    text = (f"**{arch}** over {len(classes)} classes ({named}).\n\n"
            f"Data version `{data.data_version}` (md5 of data/raw in data.dvc): {split} clips.\n\n"
            f"Test macro F1 **{metrics.macro_f1:.3f}**{interval} on {metrics.n_clips} test clips; "
            f"accuracy {metrics.accuracy:.3f}.\n\n"
            + (f"{recipe_cv_sentence(metrics.recipe_cv)}\n\n" if metrics.recipe_cv else "")
            + f"Gate: **{gate}**: {reason}.\n\n"
            f"Serve it: `vidops serve` follows `champion`; this version alone: "
            f"`mlflow models serve -m models:/{name}/{version} --env-manager local`.")
    return text if len(text) <= MAX_DESCRIPTION else text[: MAX_DESCRIPTION - 3] + "..."
