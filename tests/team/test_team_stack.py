"""Team mode for real: the scheduled deployment through a worker, on PostgreSQL-backed servers.

PostgreSQL, `mlflow server` (PostgreSQL store, served artifacts), `prefect server` (on
PostgreSQL), a process work pool with a worker running the `prefect.yaml` deployment, a
DVC remote, and `vidops serve` following the champion. vidops is pointed at them only
through MLFLOW_TRACKING_URI and PREFECT_API_URL (and the registry lock's URL). Results are
read back through the servers' APIs and from PostgreSQL itself.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import subprocess
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml

from servers import psql
from support import answers, copy_project, free_port, rendered, stop_group, wait_until

pytestmark = pytest.mark.slow
STAGES = {"ingest", "extract", "validate", "train", "evaluate", "register"}
NAME = "vidops-classifier"


def sh(*cmd, cwd, env, check=True, timeout=600):
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return proc


@pytest.fixture(scope="module")
def team_run(stack, tmp_path_factory, tiny_source):
    """A project with a DVC remote, deployed to a process pool; one scheduled run completed."""
    base = tmp_path_factory.mktemp("team")
    project = copy_project(base / "project")
    env = {**os.environ, **stack.env(), "PREFECT_HOME": str(base / "prefect-home")}
    deployment = yaml.safe_load((project / "prefect.yaml").read_text())
    deployment["deployments"][0]["schedules"] = [{"cron": "* * * * *", "timezone": "UTC"}]
    (project / "prefect.yaml").write_text(yaml.safe_dump(deployment, sort_keys=False))
    sh("vidops", "import", str(tiny_source), cwd=project, env=env)
    sh("dvc", "remote", "add", "-d", "shared", str(base / "dvc-remote"), cwd=project, env=env)
    sh("git", "add", "-A", cwd=project, env=env)
    sh("git", "commit", "-qm", "data and remote", cwd=project, env=env)

    sh("prefect", "work-pool", "create", "vidops-process", "--type", "process", cwd=project, env=env)
    # prefect.yaml records "{{ $PWD }}" as the project folder: PWD as a shell in it has it
    sh("prefect", "--no-prompt", "deploy", "--all", cwd=project, env={**env, "PWD": str(project)})
    with (base / "worker.log").open("w") as log:
        worker = subprocess.Popen(["prefect", "worker", "start", "--pool", "vidops-process"],
                                  cwd=project, env=env, stdout=log, stderr=subprocess.STDOUT,
                                  start_new_session=True)
    try:
        run = wait_until("a scheduled run finished by the worker",
                         lambda: _finished_scheduled_run(stack.prefect, base / "worker.log"), 480, 3)
    finally:
        stop_group(worker)
    return project, env, run


def _prefect(api: str, path: str, body: dict | None = None):
    """Prefect's REST API over plain HTTP: no client state left in the test process."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"{api}/{path}", data, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def _finished_scheduled_run(api: str, worker_log: Path) -> dict | None:
    runs = _prefect(api, "flow_runs/filter", {})
    broken = [r for r in runs if r["state"] and r["state"]["type"] in ("FAILED", "CRASHED")]
    assert not broken, (f"{broken[0]['name']}: {broken[0]['state']['message']}\n"
                        f"{worker_log.read_text()[-3000:]}")
    done = [r for r in runs if r["auto_scheduled"] and r["state"]["type"] == "COMPLETED"]
    return done[0] if done else None


def test_scheduled_deployment_runs_through_the_worker_on_postgres(stack, team_run):
    from mlflow import MlflowClient

    project, _, run = team_run
    # Prefect's API: the flow run came from the schedule and every stage task completed.
    deployment = _prefect(stack.prefect, f"deployments/{run['deployment_id']}")
    tasks = _prefect(stack.prefect, "task_runs/filter", {"flow_runs": {"id": {"any_": [run["id"]]}}})
    assert deployment["name"] == "weekly-retrain" and deployment["work_pool_name"] == "vidops-process"
    assert {t["name"] for t in tasks if t["state"]["type"] == "COMPLETED"} == STAGES | {"dvc-push"}
    # The UI that everybody opens calls this same API from the browser.
    with urllib.request.urlopen(stack.prefect.removesuffix("/api") + "/ui-settings", timeout=10) as r:
        assert json.load(r)["api_url"] == stack.prefect

    # MLflow's API: the version, its provenance, the gate's decision, the DVC record.
    client = MlflowClient(stack.mlflow)
    version = client.get_model_version_by_alias(NAME, "champion")
    assert version.version == "1" and version.tags["gate"] == "promoted"
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=project, capture_output=True,
                            text=True, check=True).stdout.strip()
    assert version.tags["git_commit"].removesuffix("-dirty") == commit
    assert version.tags["dvc_remote"].startswith("shared ")
    assert "vidops restore --version 1" in version.tags["dvc_restore"]
    promotion = json.loads((project / "reports" / "promotion.json").read_text())
    assert promotion["version"] == "1" and promotion["promoted"]

    # PostgreSQL itself holds both servers' state.
    state = psql(stack.pg, [f"SELECT state_type FROM flow_run WHERE id = '{run['id']}'"], db="prefect")
    assert state == [["COMPLETED"]]
    aliases = psql(stack.pg, ["SELECT name, alias, version FROM registered_model_aliases"], db="mlflow")
    assert [NAME, "champion", "1"] in aliases


def test_a_registered_version_pulls_into_a_fresh_clone(stack, team_run, tmp_path):
    project, env, _ = team_run
    clone = tmp_path / "clone"
    sh("git", "clone", "-q", str(project), str(clone), cwd=tmp_path, env=env)
    assert not (clone / "artifacts").exists()
    out = sh("vidops", "restore", "--version", "1", cwd=clone, env=env).stdout
    assert "version 1" in out
    for rel in ("artifacts/model/model.pt", "artifacts/model/model.json", "reports/metrics.json",
                "data/splits.csv"):
        assert _sha(clone / rel) == _sha(project / rel), rel
    assert sorted(p.name for p in (clone / "data" / "raw").rglob("*.mp4")) == \
        sorted(p.name for p in (project / "data" / "raw").rglob("*.mp4"))
    # Another commit is refused: the code would not be the code that trained the model.
    (clone / "note.txt").write_text("later work\n")
    sh("git", "add", "note.txt", cwd=clone, env=env)
    sh("git", "commit", "-qm", "later", cwd=clone, env=env)
    refused = sh("vidops", "restore", "--version", "1", cwd=clone, env=env, check=False)
    assert refused.returncode == 1 and "git checkout" in refused.stderr


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_serve_follows_the_champion_without_failing_a_request(stack, team_run, tmp_path):
    from mlflow import MlflowClient

    project, env, _ = team_run
    # A second version of the pipeline's model (register gives one training run one version,
    # so it is made from the same logged model, as a re-upload would be).
    client = MlflowClient(stack.mlflow)
    first = client.get_model_version(NAME, "1")
    assert client.create_model_version(NAME, first.source, first.run_id,
                                       model_id=first.source.removeprefix("models:/")).version == "2"
    sh("vidops", "promote", "--version", "1", "--reason", "serve v1 first", cwd=project, env=env)

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with (tmp_path / "serve.log").open("w") as log:
        server = subprocess.Popen(["vidops", "serve", "--port", str(port), "--poll-s", "1"],
                                  cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT,
                                  start_new_session=True)
    clip = next((project / "data" / "raw").rglob("*.mp4")).read_bytes()
    body = json.dumps({"dataframe_split": {"columns": ["video"],
                                           "data": [[base64.b64encode(clip).decode()]]}}).encode()
    try:
        wait_until("vidops serve", lambda: answers(f"{url}/ping"), 120)
        assert _get(f"{url}/version")["version"] == "1"
        load = _Load(f"{url}/invocations", body)
        load.start()
        time.sleep(2)
        sh("vidops", "promote", "--version", "2", "--reason", "switch test", cwd=project, env=env)
        promoted = time.monotonic()
        wait_until("/version to show version 2", lambda: _get(f"{url}/version")["version"] == "2", 30,
                   0.2)
        switch_s = time.monotonic() - promoted
        time.sleep(2)

        # A version that cannot load: the old one keeps serving and /version says why.
        run_id = client.create_run("0").info.run_id
        client.log_text(run_id, "not a model\n", "model/README.txt")
        client.set_terminated(run_id)
        broken = client.create_model_version(NAME, f"runs:/{run_id}/model", run_id).version
        sh("vidops", "promote", "--version", broken, "--reason", "bad upload", cwd=project, env=env)
        status = wait_until("/version to report the failed load",
                            lambda: (s := _get(f"{url}/version"))["error"] and s, 30, 0.2)
        assert status["version"] == "2" and f"version {broken}" in status["error"]
        sh("vidops", "rollback", "--reason", "bad upload", cwd=project, env=env)
        time.sleep(2)
        load.stop()
        assert _get(f"{url}/version")["version"] == "2"
        _answers_like_mlflow_models_serve(url, "2", clip, env, tmp_path)
    finally:
        stop_group(server)
    assert not load.failures, load.failures[:3]
    assert {"1", "2"} <= set(load.versions), load.versions
    assert load.versions.index("2") > load.versions.index("1")
    assert switch_s < 30
    assert _same_answers(load)


def _answers_like_mlflow_models_serve(url: str, version: str, clip: bytes, env: dict,
                                      cwd: Path) -> None:
    """The same requests to `mlflow models serve` on the same version: the same answers."""
    port = free_port()
    reference = subprocess.Popen(["mlflow", "models", "serve", "-m", f"models:/{NAME}/{version}",
                                  "--env-manager", "local", "-h", "127.0.0.1", "-p", str(port)],
                                 cwd=cwd, env=env, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_until("mlflow models serve", lambda: answers(f"http://127.0.0.1:{port}/ping"), 120, 0.5)
        for video in (clip, b"this is not a video"):
            ours, theirs = _post(url, video), _post(f"http://127.0.0.1:{port}", video)
            # a refused clip's message names the temporary file it was decoded from
            ours, theirs = ((code, re.sub(rb"vidops-\w+\.mp4", b"TMP", body)) for code, body in
                            (ours, theirs))
            assert ours == theirs, (ours, theirs)
        assert _post(url, b"this is not a video")[0] == 400
    finally:
        stop_group(reference)


def _post(url: str, video: bytes) -> tuple[int, bytes]:
    body = {"dataframe_split": {"columns": ["video"], "data": [[base64.b64encode(video).decode()]]}}
    request = urllib.request.Request(f"{url}/invocations", json.dumps(body).encode(),
                                     {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def _same_answers(load: _Load) -> bool:
    # Version 2 is the same pipeline's model: the same clip gets the same label from both.
    return len(set(load.labels)) == 1


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


class _Load(threading.Thread):
    """A steady stream of requests; records every failure and the serving version."""

    def __init__(self, url: str, body: bytes) -> None:
        super().__init__(daemon=True)
        self.url, self.body = url, body
        self.failures: list[str] = []
        self.versions: list[str] = []
        self.labels: list[str] = []
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            request = urllib.request.Request(self.url, self.body,
                                             {"Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(request, timeout=60) as response:
                    answer = json.loads(response.read())
                    self.labels.append(answer["predictions"][0]["label"])
                    self.versions.append(response.headers["X-Model-Version"])
            except (urllib.error.URLError, OSError, KeyError, ValueError) as err:
                self.failures.append(repr(err))

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=120)


def _text(html: str) -> str:
    """What the page says: tags dropped, whitespace collapsed."""
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def test_the_uis_show_what_happened(stack, team_run, tmp_path):
    """The pages a user opens, rendered by headless Chromium against the real servers."""
    _, _, run = team_run
    prefect_ui = stack.prefect.removesuffix("/api")
    # Prefect: the flow-run page has the stage lines (posted live by the flow) and the state.
    logs = _prefect(stack.prefect, "logs/filter", {"logs": {"flow_run_id": {"any_": [run["id"]]}}})
    assert any(log["message"].startswith("ingest | manifest: 24 clips") for log in logs), \
        [log["message"] for log in logs][:20]
    page = _text(rendered(f"{prefect_ui}/runs/flow-run/{run['id']}", tmp_path))
    assert run["name"] in page and "Completed" in page
    assert "ingest | manifest: 24 clips" in page, page[:3000]
    # ... and the result artifact: figures with their interval, the gate, the version's link.
    artifacts = _prefect(stack.prefect, "artifacts/filter",
                         {"artifacts": {"flow_run_id": {"any_": [run["id"]]}}})
    result = next(a for a in artifacts if a["key"] == "pipeline-result")
    page = _text(rendered(f"{prefect_ui}/artifacts/artifact/{result['id']}", tmp_path))
    assert "video-pipeline result" in page and "95% interval" in page
    assert "Gate: promoted to champion" in page and f"{NAME} version 1" in page
    link = f"{stack.mlflow}/#/models/{NAME}/versions/1?workflowType=machine_learning"
    assert f'href="{link}"' in rendered(f"{prefect_ui}/artifacts/artifact/{result['id']}", tmp_path)

    # MLflow: the version's page says what it is; the model's page has the champion history.
    page = _text(rendered(link, tmp_path))
    assert "Test macro F1" in page and "95% interval" in page and "Gate: promoted" in page
    html = rendered(f"{stack.mlflow}/#/models/{NAME}?workflowType=machine_learning", tmp_path)
    assert "Champion history" in _text(html) and "<table" in html
    history = html.split("Champion history", 1)[1].split("</table>", 1)[0]  # not the tags table
    rows = [_text(r) for r in re.findall(r"<tr>(.*?)</tr>", history, re.S)]
    assert rows[0] == "when (UTC) champion replaced how who why"
    # newest first; the oldest is the scheduled run's (other tests here move champion later)
    assert rows[-1].split()[2:5] == ["v1", "-", "gate"], rows  # date, time, then the move
    # The experiment link vidops prints opens on its runs, not MLflow 3's GenAI overview.
    from mlflow import MlflowClient

    client = MlflowClient(stack.mlflow)
    training = client.get_run(client.get_model_version(NAME, "1").run_id)
    page = _text(rendered(f"{stack.mlflow}/#/experiments/{training.info.experiment_id}"
                          "?workflowType=machine_learning", tmp_path))
    assert training.info.run_name in page
