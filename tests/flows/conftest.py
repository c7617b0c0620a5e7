import pytest


@pytest.fixture(scope="session", autouse=True)
def prefect_server():
    """A real temporary Prefect server (SQLite), started once and stopped inside the session."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield
