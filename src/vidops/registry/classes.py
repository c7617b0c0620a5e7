"""What task a model version answers: its class set, recorded on the version.

A model trained on other classes is another task. Comparing it with the champion on
today's test clips as if it were the same (a 4-class champion re-scored on a 10-class
test split reads F1 0.30, and any 10-class model "wins") promotes by accident, and rolling
back to it would serve the wrong label set. So every version carries its classes (tag
``classes``, a JSON list), the gate refuses to compare across class sets, and a hand
promotion or rollback to a version whose classes differ from the project's data needs
``--force``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from vidops.registry.gate import GateDecision

CLASSES_TAG = "classes"
MAX_TAG = 5000  # the longest tag value MLflow's SQL stores keep


def classes_tag(classes: Iterable[str]) -> str:
    """The tag value; "" when the list does not fit a tag (then nothing is compared)."""
    text = json.dumps(sorted(classes))
    return text if len(text) <= MAX_TAG else ""


def version_classes(client, name: str, version: str) -> list[str] | None:
    """The classes a version answers with, or None for one registered before they were
    recorded."""
    text = client.get_model_version(name, version).tags.get(CLASSES_TAG)
    return json.loads(text) if text else None


def difference(ours: Iterable[str], theirs: Iterable[str], who: str) -> str:
    """"" when the class sets are equal, else what differs, in words."""
    a, b = set(ours), set(theirs)
    if a == b:
        return ""
    parts = []
    if a - b:
        parts.append(f"only here: {_names(a - b)}")
    if b - a:
        parts.append(f"only in {who}: {_names(b - a)}")
    return "; ".join(parts)


def _names(classes: set[str]) -> str:
    named = sorted(classes)
    return ", ".join(named[:10]) + (f" and {len(named) - 10} more" if len(named) > 10 else "")


def check_same_task(client, name: str, version: str, data_classes: list[str] | None,
                    force: bool) -> None:
    """Refuse to make ``version`` champion when it answers over other classes than the
    project's data (or, with no data here, than the current champion), unless ``force``."""
    from vidops.registry.champion import RegistryError, current_champion

    theirs = version_classes(client, name, version)
    if force or theirs is None:
        return
    if data_classes is not None:
        ours, what = data_classes, "this project's data"
    else:
        champion = current_champion(client, name)
        ours = version_classes(client, name, champion) if champion else None
        what = f"champion version {champion}"
        if ours is None:
            return
    changed = difference(ours, theirs, f"version {version}")
    if changed:
        raise RegistryError(f"{name} version {version} answers over other classes than {what} "
                            f"({changed}): it would serve another task's labels; --force if "
                            "that is what you mean")


def other_task(client, name: str, champion: str | None, classes: list[str],
               version: str) -> GateDecision | None:
    """The gate's decision when the champion answers over other classes than ``version``
    (``classes``): not promoted, saying what differs. None when it is the same task (or the
    champion's classes were never recorded): then the gate compares the two as usual."""
    theirs = version_classes(client, name, champion) if champion else None
    changed = (difference(classes, theirs, f"champion version {champion}")
               if theirs is not None else "")
    if not changed:
        return None
    # Re-scoring the champion on these clips would compare nothing.
    return GateDecision(False, (
        f"a different task: champion version {champion} answers over {len(theirs)} classes, "
        f"this model over {len(classes)} ({changed}); the gate compares models of one task "
        f"only: make it champion on purpose with `vidops promote --version {version} --force "
        "--reason ...`"))

