"""A registration killed -9 at each point, then run again, on a real SQLite store (#30):
one version of the run, its gate record and provenance, one champion move."""

import pytest

from support import REGISTER_KILL_POINTS, evaluated_project, register_after_a_kill

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = tmp_path_factory.mktemp("register-kills")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    return evaluated_project(root / "project", uri), uri


@pytest.mark.parametrize("point", REGISTER_KILL_POINTS)
def test_a_registration_killed_then_run_again_completes_once(project, point):
    root, uri = project
    name = "kill-" + point.replace(" ", "-")
    assert register_after_a_kill(root, uri, name, point) == []
