"""The team stack, started once for the team-mode tests: PostgreSQL, MLflow server, Prefect server."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from servers import Postgres, mlflow_server, postgres, prefect_server


@dataclass(frozen=True)
class Stack:
    pg: Postgres
    mlflow: str  # tracking server URL
    prefect: str  # Prefect API URL
    lock_url: str  # VIDOPS_REGISTRY_LOCK_URL: the MLflow database's advisory locks
    logs: Path

    def env(self) -> dict[str, str]:
        """What vidops is pointed at: only the standard variables (plus the lock's)."""
        return {"MLFLOW_TRACKING_URI": self.mlflow, "PREFECT_API_URL": self.prefect,
                "VIDOPS_REGISTRY_LOCK_URL": self.lock_url}


@pytest.fixture(scope="package")
def stack(tmp_path_factory: pytest.TempPathFactory):
    logs = tmp_path_factory.mktemp("team-logs")
    with postgres(("mlflow", "prefect")) as pg, \
            mlflow_server(pg.url("mlflow"), logs / "mlartifacts", logs / "mlflow.log") as ml, \
            prefect_server(pg.url("prefect", "postgresql+asyncpg"), logs / "prefect-home",
                           logs / "prefect.log") as api:
        yield Stack(pg, ml, api, pg.url("mlflow"), logs)
