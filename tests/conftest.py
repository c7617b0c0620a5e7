"""Shared fixtures: real tiny videos, a tiny labelled dataset, a throwaway project copy."""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent

# Isolate every tool's global state before any of them is imported by a test.
_STATE = Path(tempfile.mkdtemp(prefix="vidops-tests-"))
os.environ.update({
    "DVC_NO_ANALYTICS": "1",
    "DVC_SITE_CACHE_DIR": str(_STATE / "dvc-site"),
    "DVC_GLOBAL_CONFIG_DIR": str(_STATE / "dvc-global"),
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "true",
    "PREFECT_HOME": str(_STATE / "prefect"),
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
    "PREFECT_RESULTS_LOCAL_STORAGE_PATH": str(_STATE / "prefect-results"),
    "GIT_AUTHOR_NAME": "vidops tests", "GIT_AUTHOR_EMAIL": "tests@vidops.invalid",
    "GIT_COMMITTER_NAME": "vidops tests", "GIT_COMMITTER_EMAIL": "tests@vidops.invalid",
    "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
})
os.environ.pop("PREFECT_API_URL", None)
os.environ.pop("MLFLOW_TRACKING_URI", None)

from support import write_numbered, write_tiny_dataset  # noqa: E402


@pytest.fixture
def numbered_video(tmp_path: Path) -> Callable[..., Path]:
    """Write a clip whose frame i shows the number i; returns its path."""

    def make(frames: int, fourcc: str = "MJPG", suffix: str = ".avi", name: str = "numbered") -> Path:
        return write_numbered(tmp_path / f"{name}_{fourcc}{suffix}", frames, fourcc)

    return make


@pytest.fixture(scope="session")
def tiny_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_dataset(tmp_path_factory.mktemp("tiny") / "source")
