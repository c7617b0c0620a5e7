"""What goes through the per-clip executor and what comes back (compute/executor.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Task:
    key: str  # names the task in logs and in the Dask dashboard (a clip id)
    args: tuple


@dataclass(frozen=True)
class Done:
    key: str
    value: Any  # None when crashed
    where: str  # "this process", "local pool", or the Dask worker's address
    crashed: str = ""  # why there is no value: the task kept killing the process it ran in


def window(workers: int) -> int:
    """Tasks in flight at once: enough to keep every worker busy, few enough to hold."""
    return max(8, 4 * workers)
