"""``reports/promotion.json``: what register decided, as one typed record.

register writes it; the summary, the Prefect artifact, `vidops push` and the flow read it
through :class:`Decision`, never through string keys of the JSON.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

from vidops.errors import DataError
from vidops.fileio import atomic_write_json


@dataclass(frozen=True)
class Decision:
    model_name: str
    version: str
    run_id: str
    candidate_f1: float
    champion_version: str | None  # champion before this registration
    champion_f1: float | None  # that champion re-scored on the current test split
    promoted: bool
    reason: str
    rule: str = "point"  # register.gate
    f1_difference: float | None = None  # challenger - champion on the same test clips
    f1_difference_ci: list[float] | None = None  # paired bootstrap, 95%
    class_recall: dict | None = None  # class -> {challenger, champion} recall
    class_drops: dict | None = None  # classes whose recall fell more than max_class_drop
    registered: bool = True  # False: the champion's twin, nothing new (``version`` is the champion)

    @classmethod
    def read(cls, path: Path) -> Decision:
        try:
            data = json.loads(path.read_text())
            return cls(**{f.name: data[f.name] for f in dataclasses.fields(cls) if f.name in data})
        except (OSError, ValueError, TypeError) as err:
            raise DataError(f"{path}: not the decision register writes ({err}); run `dvc repro "
                            "register` (or `vidops run`)") from None

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_json(path, self.as_dict())

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)
