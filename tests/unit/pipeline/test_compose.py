"""The compose stack describes what tests/team proves (no Docker engine here to run it)."""

from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[3]


def _compose() -> dict:
    return yaml.safe_load((REPO / "docker" / "compose.yaml").read_text())["services"]


def test_both_servers_keep_their_state_in_postgresql_with_volumes():
    services = _compose()
    mlflow = services["mlflow"]["command"]
    assert mlflow[mlflow.index("--backend-store-uri") + 1].startswith("postgresql://")
    assert "--artifacts-destination" in mlflow
    prefect_db = services["prefect"]["environment"]["PREFECT_API_DATABASE_CONNECTION_URL"]
    assert prefect_db.startswith("postgresql+asyncpg://") and prefect_db.endswith("/prefect")
    # Without it the UI's pages call http://0.0.0.0:4200/api from the user's browser.
    assert services["prefect"]["environment"]["PREFECT_UI_API_URL"].endswith(":4200/api}")
    assert any(v.startswith("pgdata:") for v in services["postgres"]["volumes"])
    assert "CREATE DATABASE prefect" in (REPO / "docker" / "postgres-init.sql").read_text()


def test_worker_serves_the_prefect_yaml_pool_and_everything_shares_the_lock():
    services = _compose()
    pool = yaml.safe_load((REPO / "prefect.yaml").read_text())["deployments"][0]["work_pool"]["name"]
    assert f"prefect worker start --pool {pool}" in services["worker"]["command"][0]
    for name in ("worker", "serve"):
        env = services[name]["environment"]
        assert env["MLFLOW_TRACKING_URI"] == "http://mlflow:5000"
        assert env["VIDOPS_REGISTRY_LOCK_URL"].startswith("postgresql://")
    assert "vidops serve" in (REPO / "docker" / "Dockerfile.serve").read_text()
