import subprocess
import sys

import pytest

from vidops.pipeline.repo_lock import RepoBusy, repo_lock


def test_second_holder_is_refused_with_the_first_ones_name(tmp_path):
    with repo_lock(tmp_path):
        code = ("import sys; from pathlib import Path; from vidops.pipeline.repo_lock import repo_lock\n"
                "with repo_lock(Path(sys.argv[1])): pass")
        other = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True,
                               text=True)
        assert other.returncode != 0
        assert "already in progress" in other.stderr and "pid" in other.stderr


def test_lock_is_released_after_the_block(tmp_path):
    with repo_lock(tmp_path):
        assert "pid" in (tmp_path / ".vidops.lock").read_text()
    assert (tmp_path / ".vidops.lock").read_text() == ""
    with repo_lock(tmp_path):
        pass


def test_same_process_cannot_nest(tmp_path):
    with repo_lock(tmp_path), pytest.raises(RepoBusy), repo_lock(tmp_path):
        pass


def test_a_second_run_is_refused_before_prefect_starts(tmp_path, monkeypatch):
    """#22: `vidops run` beside a running one was refused only after the server's ~30 s."""
    import time

    from typer.testing import CliRunner

    from vidops import cli

    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text("{}\n")
    monkeypatch.delitem(sys.modules, "vidops.pipeline.prefect_flow", raising=False)
    with repo_lock(tmp_path):
        began = time.monotonic()
        result = CliRunner().invoke(cli.app, ["run"])
        took = time.monotonic() - began
    assert result.exit_code == 1 and "already in progress" in result.output
    assert took < 5 and "vidops.pipeline.prefect_flow" not in sys.modules
