"""The CLI's error contract: an expected error is one line; a bug keeps its traceback."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from vidops import cli
from vidops.stages import ingest


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def test_bad_params_are_one_line_naming_the_file_and_key(runner, tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text("train:\n  epochz: 3\n")
    result = runner.invoke(cli.app, ["ingest", "--params", str(params)])
    assert result.exit_code == 1
    assert "error:" in result.output and "epochz" in result.output and str(params) in result.output
    assert "Traceback" not in result.output and result.exc_info[0] is SystemExit


def test_a_bug_keeps_its_traceback(runner, tmp_path, monkeypatch):
    """A ValueError from a shape bug used to become one red line; now it surfaces whole."""
    (tmp_path / "params.yaml").write_text("{}\n")

    def broken(*args, **kwargs):
        raise ValueError("operands could not be broadcast together with shapes (3,) (4,)")

    monkeypatch.setattr(ingest, "run_ingest", broken)
    result = runner.invoke(cli.app, ["ingest", "--params", str(tmp_path / "params.yaml")])
    assert result.exit_code == 1
    assert isinstance(result.exception, ValueError)  # not turned into `error: ...` and Exit(1)
    assert "error: operands" not in result.output


def test_a_moved_key_says_where_it_went(runner, tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text("register:\n  max_video_bytes: 1000\n")
    result = runner.invoke(cli.app, ["ingest", "--params", str(params)])
    assert result.exit_code == 1 and "serve.max_video_bytes" in result.output
