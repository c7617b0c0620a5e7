"""`vidops run` and `vidops demo` end with one summary (#31: run printed ~100 lines of JSON)."""

import json

import pytest
from typer.testing import CliRunner

from support import some_figures
from vidops import cli
from vidops.pipeline import prefect_flow
from vidops.pipeline.run_summary import summary_lines
from vidops.registry.decision import Decision

FLOW_RESULT = {"stages": {"ingest": "ran", "train": "ran", "register": "ran"}}


@pytest.fixture
def project(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text("{}\n")
    (tmp_path / "reports").mkdir()
    some_figures(accuracy=0.9, macro_f1=0.88, macro_f1_ci=[0.7, 1.0], weighted_f1=0.89,
                 n_clips=12, per_class={"hug": {"precision": 1.0, "recall": 0.8, "f1": 0.89,
                                                "support": 6}}).write(
        tmp_path / "reports/metrics.json")
    Decision("m", "3", "run", 0.88, "2", None, False,
             "a different task: champion version 2 answers over 4 classes").write(
        tmp_path / "reports/promotion.json")
    (tmp_path / "reports/predictions.csv").write_text("clip_id,path\nc1,data/raw/hug/a.mp4\n")
    monkeypatch.setattr(prefect_flow, "video_pipeline", lambda **kw: FLOW_RESULT)
    return tmp_path


def test_the_summary_says_how_good_what_the_gate_decided_and_where_to_look(project):
    text = "\n".join(summary_lines(FLOW_RESULT))
    assert "macro F1 0.880 [95% CI 0.70, 1.00]" in text and "(12 clips)" in text
    assert "m v3: challenger only - a different task" in text
    assert "vidops predict data/raw/hug/a.mp4" in text


def test_vidops_run_and_the_demo_end_with_the_same_summary(project, monkeypatch):
    from vidops.pipeline import demo

    run = CliRunner().invoke(cli.app, ["run"])
    assert run.exit_code == 0, run.output
    as_json = CliRunner().invoke(cli.app, ["run", "--json"])  # the lock is free again
    assert json.loads(as_json.output) == FLOW_RESULT
    (project / "dvc.yaml").write_text("stages: {}\n")
    (project / "demo_data").mkdir()
    shown: list[str] = []
    monkeypatch.setattr(demo.typer, "echo", shown.append)
    demo.run_demo(project, project / "demo_data", 1)
    expected = summary_lines(FLOW_RESULT)
    assert run.output.splitlines()[-len(expected):] == expected
    assert shown[-len(expected) - 1:-1] == expected
    assert shown[-1] == f"  (paths above are in the demo project: cd {project})"
    assert not run.output.lstrip().startswith("{")  # not the flow's JSON


def test_the_demo_brings_its_project_of_an_older_vidops_along(tmp_path, monkeypatch):
    """`make demo` after an update of vidops stopped on the demo project's old params.yaml
    (the flat `model` section): the demo project is vidops's own, so it is upgraded."""
    from vidops.config import load_params
    from vidops.pipeline import demo
    from vidops.pipeline.new_project import init_project

    monkeypatch.setattr(prefect_flow, "video_pipeline", lambda **kw: FLOW_RESULT)
    project = init_project(tmp_path / "demo").root
    params = project / "params.yaml"
    params.write_text(params.read_text().replace("  pretrained_weights: \"\"",
                                                 "  pretrained_weights: \"\"\n  head_c: [0.5]"))
    (tmp_path / "demo_data").mkdir()
    shown: list[str] = []
    monkeypatch.setattr(demo.typer, "echo", shown.append)
    demo.run_demo(project, tmp_path / "demo_data", 1)
    assert "demo project brought to this vidops: params.yaml (model.head_c moved)" in shown
    assert load_params(params).model.heads.c == (0.5,)


def test_dvc_repro_ends_with_the_same_summary_from_the_register_stage(project, monkeypatch):
    """The register stage prints it at the end of `dvc repro`; inside a flow it does not (the
    flow prints it once, with the stages before it)."""
    from types import SimpleNamespace

    from vidops.pipeline.run_summary import IN_FLOW
    from vidops.stages import register

    monkeypatch.setattr(register, "run_register", lambda *a, **k: SimpleNamespace(
        model_name="m", version="3", promoted=False, reason="a different task"))
    monkeypatch.delenv(IN_FLOW, raising=False)
    alone = CliRunner().invoke(cli.app, ["register"])
    assert alone.exit_code == 0, alone.output
    assert alone.output.splitlines()[1:] == summary_lines(None)
    assert summary_lines(FLOW_RESULT)[-len(summary_lines(None)):] == summary_lines(None)
    monkeypatch.setenv(IN_FLOW, "1")
    in_flow = CliRunner().invoke(cli.app, ["register"])
    assert in_flow.output.splitlines() == alone.output.splitlines()[:1]


def test_links_name_the_server_in_use(project, monkeypatch):
    """#31: the link named port 5000 whatever server was in use."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow.team:5555/")
    text = "\n".join(summary_lines(FLOW_RESULT))
    assert "http://mlflow.team:5555/#/models/m/versions/3?workflowType=machine_learning" in text
    assert "5000" not in text
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    text = "\n".join(summary_lines(FLOW_RESULT))
    assert (f"mlflow ui --backend-store-uri sqlite:///{project}/mlruns/mlflow.db --port 5000, "
            "then http://127.0.0.1:5000/#/models/m/versions/3?") in text
