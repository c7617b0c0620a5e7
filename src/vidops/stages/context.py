"""What a stage runs with: one object instead of a dozen positional paths."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from vidops.config import Params, PathsConfig


@dataclass(frozen=True)
class StageContext:
    """The params (paths included: ``params.paths``, relative to the working directory as
    dvc.yaml passes them, or absolute) and the project the stage belongs to (``root``: its
    MLflow store, checkpoints and feature cache)."""

    params: Params
    root: Path = Path(".")
    progress: bool = True  # progress bars on the terminal

    @property
    def paths(self) -> PathsConfig:
        return self.params.paths
