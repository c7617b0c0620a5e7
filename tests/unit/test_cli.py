"""The CLI's error contract: an expected error is one line; a bug keeps its traceback."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from support import sqlite_registry
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


def test_predict_and_serve_read_the_model_name_from_params(runner, tmp_path, monkeypatch):
    import pandas as pd

    from vidops.serving import pyfunc, server

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    (tmp_path / "params.yaml").write_text("register:\n  model_name: line-camera\n")
    (tmp_path / "a.mp4").write_bytes(b"x")
    asked: list = []

    def fake_predict(uri, paths):
        asked.append(uri)
        return pd.DataFrame({"file": [str(p) for p in paths], "label": ["ok"], "score": [1.0],
                             "probabilities": [{"ok": 1.0}]})

    monkeypatch.setattr(pyfunc, "predict_files", fake_predict)
    monkeypatch.setattr(server, "serve", lambda name, *args: asked.append(name))
    assert runner.invoke(cli.app, ["predict", "a.mp4"]).exit_code == 0
    assert runner.invoke(cli.app, ["serve"]).exit_code == 0
    assert asked == ["models:/line-camera@champion", "line-camera"]


def test_predict_on_a_folder_classifies_its_videos_and_an_empty_one_is_one_line(
        runner, tmp_path, monkeypatch):
    """#30: `vidops predict DIR` printed a raw traceback."""
    import pandas as pd

    from vidops.serving import pyfunc

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    clips = tmp_path / "clips"
    (clips / "day2").mkdir(parents=True)
    for name in ("b.mp4", "a.AVI", "day2/c.mov", "notes.txt", ".hidden.mp4"):
        (clips / name).write_bytes(b"x")
    asked: list = []

    def fake_predict(uri, paths):
        asked.extend(paths)
        return pd.DataFrame({"file": [str(p) for p in paths], "label": ["ok"] * len(paths),
                             "score": [1.0] * len(paths), "probabilities": [{"ok": 1.0}] * len(paths)})

    monkeypatch.setattr(pyfunc, "predict_files", fake_predict)
    result = runner.invoke(cli.app, ["predict", "clips"])
    assert result.exit_code == 0, result.output
    assert [p.as_posix() for p in asked] == ["clips/a.AVI", "clips/b.mp4", "clips/day2/c.mov"]
    (tmp_path / "empty").mkdir()
    result = runner.invoke(cli.app, ["predict", "empty"])
    assert result.exit_code == 1 and "no video files in empty" in result.output
    assert "Traceback" not in result.output


def test_serve_outside_a_project_serves_the_default_model_name(runner, tmp_path, monkeypatch):
    """A serving box has the tracking server, not the project's params.yaml."""
    from vidops.serving import server

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://tracking.invalid:5000")
    asked: list = []
    monkeypatch.setattr(server, "serve", lambda name, *args: asked.append(name))
    assert runner.invoke(cli.app, ["serve"]).exit_code == 0
    assert asked == ["vidops-classifier"]


def test_serve_with_no_store_says_what_to_do_and_creates_nothing(runner, tmp_path, monkeypatch):
    from vidops.serving import server

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setattr(server, "serve", lambda *args: pytest.fail("nothing to serve"))
    result = runner.invoke(cli.app, ["serve"])
    assert result.exit_code == 1
    assert "run the pipeline first" in result.output and "MLFLOW_TRACKING_URI" in result.output
    assert not (tmp_path / "mlruns").exists()  # no empty store left where it was started


def test_history_has_a_header_and_plain_columns(runner, tmp_path, monkeypatch):
    from vidops.registry.champion import move_champion

    client, uri = sqlite_registry(tmp_path)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    (tmp_path / "params.yaml").write_text("{}\n")
    move_champion(client, "vidops-classifier", "1", "gate", "first")
    move_champion(client, "vidops-classifier", "2", "promote", "better")
    lines = runner.invoke(cli.app, ["history"]).output.splitlines()
    assert lines[0].split()[:2] == ["when", "(UTC)"] and "replaced" in lines[0]
    assert lines[1].split()[1:4] == ["v1", "-", "gate"]
    assert lines[2].split()[1:4] == ["v2", "v1", "promote"]


@pytest.mark.parametrize("command", sorted(c.name or c.callback.__name__
                                           for c in cli.app.registered_commands))
def test_help_names_what_to_type_not_python_types(runner, command):
    """typer 0.29 printed `--no-dvc <bool>`, `{source}`, `<list[Path]>`; click's names read."""
    result = runner.invoke(cli.app, [command, "--help"], env={"COLUMNS": "120"})
    assert result.exit_code == 0, result.output
    for python_spelling in ("<bool>", "<str>", "<int>", "<float>", "<path>", "list[", "{"):
        assert python_spelling not in result.output, (command, python_spelling)
    usage = next(line for line in result.output.splitlines() if "Usage:" in line)
    assert usage.split("Usage: ")[1].split()[1] == command


def test_help_spells_flags_options_and_arguments_as_click_does(runner):
    env = {"COLUMNS": "120"}
    imp = runner.invoke(cli.app, ["import", "--help"], env=env).output
    assert "import [OPTIONS] SOURCE" in imp
    assert [line.split()[1:3] for line in imp.splitlines() if "--params" in line] == [["--params", "PATH"]]
    no_dvc = next(line for line in imp.splitlines() if "--no-dvc" in line).split()
    assert no_dvc[1:3] == ["--no-dvc", "copy"]  # a flag: no value named after it
    predict = runner.invoke(cli.app, ["predict", "--help"], env=env).output
    assert "predict [OPTIONS] VIDEOS..." in predict
    assert any(line.split()[1:4] == ["*", "VIDEOS...", "PATH"] for line in predict.splitlines())
    serve = runner.invoke(cli.app, ["serve", "--help"], env=env).output
    assert any(line.split()[1:3] == ["--port", "INTEGER"] for line in serve.splitlines())
    assert any(line.split()[1:3] == ["--poll-s", "FLOAT"] for line in serve.splitlines())
    missing = runner.invoke(cli.app, ["import"], env=env)
    assert missing.exit_code == 2 and "Missing argument 'SOURCE'" in missing.output


def test_request_prints_the_body_a_served_model_reads(runner, tmp_path, monkeypatch):
    import base64
    import json

    monkeypatch.chdir(tmp_path)
    (tmp_path / "a.mp4").write_bytes(b"video bytes")
    body = json.loads(runner.invoke(cli.app, ["request", "a.mp4"]).output)
    assert body == {"dataframe_split": {"columns": ["video"],
                                        "data": [[base64.b64encode(b"video bytes").decode()]]}}
    missing = runner.invoke(cli.app, ["request", "gone.mp4"])
    assert missing.exit_code == 1 and "gone.mp4: cannot be read" in missing.output
    assert "Traceback" not in missing.output


def test_predict_keeps_decoder_noise_back_unless_something_crashes(runner, tmp_path, monkeypatch,
                                                                   capfd):
    """#31: FFmpeg/OpenCV warnings printed above the clean error line naming the file."""
    import os

    import pandas as pd

    from vidops.serving import pyfunc

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    (tmp_path / "a.mp4").write_bytes(b"x")

    def noisy(uri, paths):
        os.write(2, b"[mov,mp4 @ 0x55] moov atom not found\n")
        return pd.DataFrame({"file": ["a.mp4"], "label": [None], "score": [None],
                             "probabilities": [None], "error": ["a.mp4: not a readable video"]})

    monkeypatch.setattr(pyfunc, "predict_files", noisy)
    result = runner.invoke(cli.app, ["predict", "a.mp4"])
    assert result.exit_code == 1 and "a.mp4: error: not a readable video" in result.output
    assert "moov atom" not in capfd.readouterr().err

    def crashing(uri, paths):
        os.write(2, b"decoder said why\n")
        raise RuntimeError("a bug")

    monkeypatch.setattr(pyfunc, "predict_files", crashing)
    result = runner.invoke(cli.app, ["predict", "a.mp4"])
    assert isinstance(result.exception, RuntimeError)
    said = (result.stderr if result.stderr_bytes is not None else "") + result.output
    assert "decoder said why" in said + capfd.readouterr().err  # a crash keeps what was said


def test_a_stage_without_path_options_reads_its_paths_from_params(runner, tmp_path, monkeypatch):
    """Each path is named once, in params.yaml: dvc.yaml passes it, and a stage command run
    by hand without the option reads it there (no second default in the code); an option
    given on the command line wins."""
    from pathlib import Path

    seen: list = []

    def recorded(cfg, raw, manifest, splits):
        seen.append((raw, manifest, splits))
        raise ingest.IngestError("recorded")  # one line, exit 1: nothing else to run

    monkeypatch.setattr(ingest, "run_ingest", recorded)
    params = tmp_path / "params.yaml"
    params.write_text("paths:\n  raw: clips/here\n  manifest: out/m.csv\n")
    for extra in ([], ["--manifest", "other.csv"]):
        result = runner.invoke(cli.app, ["ingest", "--params", str(params), *extra])
        assert result.exit_code == 1 and "recorded" in result.output
    assert seen == [(Path("clips/here"), Path("out/m.csv"), Path("data/splits.csv")),
                    (Path("clips/here"), Path("other.csv"), Path("data/splits.csv"))]
