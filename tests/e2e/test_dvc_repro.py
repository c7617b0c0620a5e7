"""The real `dvc repro` of all six stages in a fresh copy of the project."""

import base64
import json
import os
import re
import subprocess
import sys
import urllib.error
import urllib.request

import pytest

from support import REPO, TINY_PARAMS, answers, copy_project, free_port, rendered, stop_group, wait_until

pytestmark = pytest.mark.slow


def sh(*cmd, cwd, check=True):
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=900)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return proc


def test_dvc_repro_end_to_end_with_bad_clips(tmp_path, tiny_source):
    params = {**TINY_PARAMS, "validate": {"min_decodable_fraction": 0.8},
              "evaluate": {"recipe_cv": "auto"}}
    project = copy_project(tmp_path / "project", params)
    sh("vidops", "import", str(tiny_source), cwd=project)
    assert (project / "data.dvc").is_file() and not (project / "data" / "raw.dvc").exists()

    raw = project / "data" / "raw"
    (raw / "spin" / "zero.mp4").write_bytes(b"")
    (raw / "spin" / "text.mp4").write_text("definitely not a video\n" * 40)
    whole = (raw / "slide" / "slide_000.mp4").read_bytes()
    (raw / "slide" / "truncated.mp4").write_bytes(whole[: len(whole) // 3])
    sh("dvc", "add", "data/raw", cwd=project)  # updates the root data.dvc in place

    repro = sh("dvc", "repro", cwd=project)
    out = repro.stdout + repro.stderr
    for stage in ("ingest", "extract", "validate", "train", "evaluate", "register"):
        assert f"Running stage '{stage}'" in out
    for name in ("zero.mp4", "text.mp4", "truncated.mp4"):
        assert name in out  # named on the console, not dropped silently
    quarantine = json.loads((project / "reports" / "validation.json").read_text())["quarantine"]
    assert {p.rsplit("/", 1)[1] for p in quarantine} == {"zero.mp4", "text.mp4", "truncated.mp4"}

    again = sh("dvc", "repro", cwd=project)
    assert "Running stage" not in again.stdout + again.stderr
    assert "up to date" in sh("dvc", "status", cwd=project).stdout
    _changed_code_reruns_the_stages_that_run_it(project)
    _a_refused_param_costs_no_output(project)

    metrics = json.loads(sh("dvc", "metrics", "show", "--json", cwd=project).stdout)
    figures = next(iter(metrics.values()))["data"]["reports/scores.json"]["data"]
    assert 0.0 <= figures["macro_f1_ci_low"] <= figures["macro_f1"] <= figures["macro_f1_ci_high"]
    assert figures["test_clips"] == 8 and len(figures) <= 20
    # the recipe cross-validated over every usable clip, beside the test split's figure
    assert 0.0 <= figures["cv_macro_f1_low"] <= figures["cv_macro_f1"] <= figures["cv_macro_f1_high"]
    assert "Recipe cross-validated over all" in out
    # short and flat; the one text is what auto chose, so `dvc exp show` lists it (#31)
    assert figures.pop("arch") in ("fusion_linear", "motion_linear")
    assert all(isinstance(v, int | float) for v in figures.values())
    shown = sh("dvc", "metrics", "show", cwd=project).stdout
    assert "reports/metrics.json" not in shown and max(map(len, shown.splitlines())) < 400

    promotion = json.loads((project / "reports" / "promotion.json").read_text())
    assert promotion["promoted"] and promotion["version"] == "1"
    asked = sh("vidops", "predict", "data/raw/spin/spin_000.mp4", cwd=project)
    predicted = asked.stdout
    assert predicted.startswith("data/raw/spin/spin_000.mp4: ")
    assert "answered by vidops-classifier version 1 (@champion)" in asked.stderr
    assert any(c in predicted for c in ("pulse", "slide", "spin", "still"))
    _serve_champion(project)

    plots = json.loads(sh("dvc", "plots", "show", "--json", cwd=project).stdout)["data"]
    assert {"reports/train_log.csv", "reports/predictions.csv"} <= set(plots)
    _plots_render_offline(project, tmp_path)

    history = sh("vidops", "history", cwd=project).stdout
    assert "v1" in history and "gate" in history
    refused = sh("vidops", "rollback", "--reason", "test", cwd=project, check=False)
    assert refused.returncode == 1 and "no earlier champion" in refused.stderr
    promoted = sh("vidops", "promote", "--version", "1", "--reason", "re-affirm", cwd=project)
    assert "champion is now version 1" in promoted.stdout
    assert "promote" in sh("vidops", "history", cwd=project).stdout
    _experiments_register_in_the_project(project)


def _experiments_register_in_the_project(project):
    """#30: queued (and `--temp`) experiments run in temporary workspaces
    (.dvc/tmp/exps/...); each made a store of its own there, registered "version 1" in it and
    deleted it with the workspace, and computed every feature again."""
    import re
    import time

    from mlflow import MlflowClient

    # As the README says after a run: commit what it produced (experiments start from git).
    sh("git", "add", "-A", cwd=project)
    sh("git", "commit", "-qm", "first run", cwd=project)
    # One queued experiment: it runs in a temporary workspace as `--temp` does (the same
    # home-project resolution), through DVC's queue worker (one path fewer costs 30 s).
    sh("dvc", "exp", "run", "--queue", "-n", "seed2", "-S", "train.seed=2",
       "-S", "evaluate.recipe_cv=off", cwd=project)
    sh("dvc", "queue", "start", cwd=project)
    deadline = time.monotonic() + 600
    while re.search(r"\b(Queued|Running)\b", sh("dvc", "queue", "status", cwd=project).stdout):
        assert time.monotonic() < deadline, sh("dvc", "queue", "status", cwd=project).stdout
        time.sleep(3)
    status = sh("dvc", "queue", "status", cwd=project).stdout
    assert "Success" in status and "Failed" not in status, status
    logs = sh("dvc", "queue", "logs", "seed2", cwd=project).stdout
    computed = [int(n) for n in re.findall(r"features \w+: \d+ clips, (\d+) computed", logs)]
    assert computed and sum(computed) == 0, logs[-3000:]  # every feature from the project's cache
    store = f"sqlite:///{project / 'mlruns' / 'mlflow.db'}"
    versions = MlflowClient(store, store).search_model_versions("name='vidops-classifier'")
    experiments = {v.tags.get("dvc_experiment") for v in versions} - {None, ""}
    assert experiments == {"seed2"}, [(v.version, v.tags) for v in versions]
    assert not list((project / ".dvc" / "tmp" / "exps").glob("*/mlruns"))  # nothing left there


def _fake_library(folder, name: str, version: str, code: str):
    """An npm tarball of ``name`` whose build/<name>.min.js is ``code``, and its Library pin."""
    import io
    import tarfile

    data = code.encode()
    with tarfile.open(folder / f"{name}-{version}.tgz", "w:gz") as tar:
        info = tarfile.TarInfo(f"package/build/{name}.min.js")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    offline = _offline_script()
    return offline.Library(name, version, offline.integrity_of((folder / f"{name}-{version}.tgz")
                                                                .read_bytes()))


def _offline_script():
    import importlib.util

    spec = importlib.util.spec_from_file_location("dvc_plots_offline",
                                                  REPO / "scripts" / "dvc_plots_offline.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def _plots_render_offline(project, tmp_path):
    """`make plots-offline`: the template inlines the libraries; DVC's page then draws its Vega
    plots with every host unreachable. Stand-in libraries here (no network in tests): a
    vega-embed that writes what it was given into the plot's div."""
    offline = _offline_script()
    tarballs = tmp_path / "npm"
    tarballs.mkdir()
    embed = ("window.vegaEmbed = function (sel, spec) { document.querySelector(sel)"
             ".insertAdjacentHTML('beforeend', '<p>dr' + 'awn: ' + spec.$schema + '</p>'); "
             "return Promise.resolve(); };")
    libraries = (_fake_library(tarballs, "vega", "5.20.2", "window.vega = {};"),
                 _fake_library(tarballs, "vega-lite", "5.2.0", "window.vegaLite = {};"),
                 _fake_library(tarballs, "vega-embed", "6.18.2", embed))
    template = offline.install(tarballs, libraries)  # once per user: DVC's global config
    assert sh("dvc", "config", "--global", "plots.html_template", cwd=project).stdout.strip() \
        == str(template)
    sh("dvc", "plots", "show", cwd=project)
    page = (project / "dvc_plots" / "index.html").read_text()
    assert "cdn.jsdelivr" not in page and "window.vegaLite = {};" in page
    drawn = rendered((project / "dvc_plots" / "index.html").as_uri(), tmp_path, offline=True)
    # the val F1 curve(s) and the confusion plot; the marker is split in the stand-in's
    # source, so only what it drew counts
    plots = page.count("vegaEmbed('#")
    assert plots >= 2 and drawn.count("<p>drawn: ") == plots

    # A tarball that is not the pinned one is refused by name; the template stays as it was.
    before = template.read_bytes()
    (tarballs / "vega-embed-6.18.2.tgz").write_bytes(b"\x1f\x8b tampered")
    with pytest.raises(offline.OfflinePlotsError, match=re.escape("vega-embed-6.18.2.tgz: integrity")):
        offline.install(tarballs, libraries)
    assert template.read_bytes() == before
    sh("dvc", "config", "--global", "--unset", "plots.html_template", cwd=project)


def _changed_code_reruns_the_stages_that_run_it(project):
    """A module evaluate uses (its intervals) changes: `dvc status` names evaluate; the data
    stages, which do not run it, stay up to date."""
    module = project / "src" / "vidops" / "evaluation" / "intervals.py"
    original = module.read_bytes()
    module.write_bytes(original + b"# changed\n")
    try:
        status = json.loads(sh("dvc", "status", "--json", cwd=project).stdout)
        assert "evaluate" in status
        assert not {"ingest", "extract", "validate"} & set(status)
        assert any("evaluation" in str(change) for change in status["evaluate"])
    finally:
        module.write_bytes(original)
    assert "up to date" in sh("dvc", "status", cwd=project).stdout


def _a_refused_param_costs_no_output(project):
    """#22: a bad train param was refused only after DVC had deleted train's outputs."""
    outputs = ["reports/train_log.csv", "reports/training_curves.png", "reports/model_selection.json",
               "reports/model_selection.png", "artifacts/model/model.pt"]
    before = {name: (project / name).read_bytes() for name in outputs}
    params = (project / "params.yaml").read_text()
    assert "\n  epochs: 2\n" in params  # TINY_PARAMS
    (project / "params.yaml").write_text(params.replace("\n  epochs: 2\n", "\n  epochs: -1\n", 1))
    try:
        failed = sh("dvc", "repro", cwd=project, check=False)
        assert failed.returncode != 0 and "train.epochs must be between 1 and 100000, got -1" in failed.stderr
        assert {name: (project / name).read_bytes() for name in outputs} == before
    finally:
        (project / "params.yaml").write_text(params)
    assert "up to date" in sh("dvc", "status", cwd=project).stdout


def _post(port: int, video: bytes) -> tuple[int, dict]:
    body = {"dataframe_split": {"columns": ["video"], "data": [[base64.b64encode(video).decode()]]}}
    request = urllib.request.Request(f"http://127.0.0.1:{port}/invocations",
                                     data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def _serve_champion(project):
    """The README's recipe: `mlflow models serve` on the champion, a real clip and garbage."""
    port = free_port()
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{project}/mlruns/mlflow.db"}
    server = subprocess.Popen(
        ["mlflow", "models", "serve", "-m", "models:/vidops-classifier@champion",
         "--env-manager", "local", "-h", "127.0.0.1", "-p", str(port)],
        cwd=project, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        start_new_session=True)  # its own process group: we stop the workers with it
    try:
        def up() -> bool:
            assert server.poll() is None, server.stderr.read().decode()[-2000:]
            return answers(f"http://127.0.0.1:{port}/ping")

        wait_until("mlflow models serve to answer /ping", up, 120, interval=0.5)
        status, answer = _post(port, (project / "data/raw/pulse/pulse_000.mp4").read_bytes())
        assert status == 200
        prediction = answer["predictions"][0]
        assert prediction["label"] in ("pulse", "slide", "spin", "still")
        assert set(prediction["probabilities"]) == {"pulse", "slide", "spin", "still"}
        status, answer = _post(port, b"this is not a video")
        assert status == 400 and "not a readable video" in answer["message"]
        status, _ = _post(port, (project / "data/raw/still/still_000.mp4").read_bytes())
        assert status == 200  # still serving after the bad request
        _readme_request_on_a_big_clip(project, port)
    finally:
        stop_group(server)


def _readme_request_on_a_big_clip(project, port: int) -> None:
    """#31: the README's `curl -d "...$(base64 -w0 clip)..."` failed with "Argument list too
    long" on any clip over ~96 KB. Its lines now, run as written (only the port differs),
    on a clip over 1 MB."""
    import cv2
    import numpy as np

    readme = (REPO / "README.md").read_text()
    lines = [line.split("#")[0].strip() for line in readme.splitlines()
             if line.startswith(("vidops request ", "curl -s 127.0.0.1:5001/invocations"))]
    assert len(lines) == 2, lines
    folder = project / "big"
    folder.mkdir()
    writer = cv2.VideoWriter(str(folder / "clip.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 25.0,
                             (320, 240))
    rng = np.random.default_rng(0)
    for _ in range(50):  # noise: nothing to compress
        writer.write(rng.integers(0, 256, (240, 320, 3), dtype=np.uint8))
    writer.release()
    assert (folder / "clip.mp4").stat().st_size > 1 << 20
    script = "\n".join(lines).replace("127.0.0.1:5001", f"127.0.0.1:{port}")
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=folder,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    (answer,) = json.loads(done.stdout)["predictions"]
    assert answer["label"] in ("pulse", "slide", "spin", "still") and answer["error"] is None


def test_validation_failure_stops_dvc_repro_with_the_reason(tmp_path, tiny_source):
    project = copy_project(tmp_path / "project")
    sh("vidops", "import", str(tiny_source), cwd=project)
    for clip in (project / "data" / "raw" / "still").glob("still_00[45].mp4"):
        clip.unlink()  # no `still` clip left in test
    sh("dvc", "add", "data/raw", cwd=project)
    failed = sh("dvc", "repro", cwd=project, check=False)
    assert failed.returncode != 0
    # The split ledger stops ingest before anything is decoded, naming the class and the fix.
    assert "class 'still' has no clip in the test split" in failed.stderr
    assert "ingest.group_splits" in failed.stderr
    assert not (project / "artifacts" / "model").exists()
