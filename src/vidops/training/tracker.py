"""What training reports through: per-epoch figures, tags, and a child run per candidate.

Training never imports MLflow; the train stage hands it ``registry.tracking.MlflowTracker``,
which has this shape. Cross-validation folds and DDP ranks other than 0 get ``None``:
nothing is reported.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any, Protocol


class Tracker(Protocol):
    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None: ...

    def log_params(self, params: dict[str, Any]) -> None: ...

    def set_tags(self, tags: dict[str, str]) -> None: ...

    def child(self, name: str) -> AbstractContextManager[Tracker]:
        """A nested run (one per ``auto`` candidate), reported to until the block ends."""
        ...
