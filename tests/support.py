"""Helpers shared by the tests: frame-numbered videos, a tiny dataset, a project copy."""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import yaml

REPO = Path(__file__).resolve().parents[1]

BITS = 8  # frame numbers up to 255 are drawn as 8 blocks
BLOCK = 12  # pixels per block: survives lossy codecs and resizing to 64 px


def draw_number(index: int, size: int = BITS * BLOCK) -> np.ndarray:
    """A square BGR frame showing ``index`` in binary as a row of black/white blocks."""
    frame = np.full((size, size, 3), 128, np.uint8)
    top = size // 2 - BLOCK // 2
    for bit in range(BITS):
        value = 255 if index >> bit & 1 else 0
        frame[top : top + BLOCK, bit * BLOCK : (bit + 1) * BLOCK] = value
    return frame


def read_number(frame: np.ndarray) -> int:
    """Inverse of :func:`draw_number` on a (possibly resized) square frame, RGB or BGR."""
    size = frame.shape[0]
    row = frame[size // 2].mean(axis=1)
    cell = size / BITS
    return sum(1 << bit for bit in range(BITS)
               if row[int((bit + 0.5) * cell)] > 127)


H264_GOPS = {"H264": None, "H264-gop10": 10, "H264-gop600": 600}  # x264 default keyint is 250


def write_numbered(path: Path, frames: int, fourcc: str = "MJPG") -> Path:
    """Write a clip whose frame i shows the number i (H.264 through PyAV's libx264)."""
    if fourcc in H264_GOPS:
        return _write_h264(path, frames, H264_GOPS[fourcc])
    if fourcc == "mp4v-bframes":
        return _write_mpeg4_bframes(path, frames)
    import cv2

    size = BITS * BLOCK
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), 25.0, (size, size))
    assert writer.isOpened(), f"OpenCV cannot write {fourcc}"
    for i in range(frames):
        writer.write(draw_number(i))
    writer.release()
    return path


def _write_h264(path: Path, frames: int, gop: int | None) -> Path:
    """H.264 with B-frames (x264 defaults: 3), so decode order differs from display order."""
    def configure(stream) -> None:
        if gop is not None:
            stream.codec_context.gop_size = gop
            stream.options = {"keyint_min": str(min(gop, 25)), "sc_threshold": "0"}

    return _write_pyav(path, frames, "libx264", configure)


def _write_mpeg4_bframes(path: Path, frames: int) -> Path:
    """MPEG-4 Part 2 with 2 B-frames between references (as DivX/Xvid AVIs often have)."""
    def configure(stream) -> None:
        stream.codec_context.max_b_frames = 2
        stream.codec_context.gop_size = 12

    return _write_pyav(path, frames, "mpeg4", configure)


def _write_pyav(path: Path, frames: int, codec: str, configure) -> Path:
    import av

    size = BITS * BLOCK
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=25)
        stream.width = stream.height = size
        stream.pix_fmt = "yuv420p"
        configure(stream)
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(draw_number(i), format="bgr24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return path


def write_tiny_dataset(out: Path, per_class: int = 6) -> Path:
    """Synthetic demo clips, small, with labels.csv groups tr/va/te pinned to splits."""
    from vidops.data.synthetic import SynthSpec, write_dataset

    spec = SynthSpec(per_class=per_class, width=64, height=48, min_frames=10, max_frames=14)
    files = write_dataset(out, spec)
    groups = ["tr", "tr", "va", "va", "te", "te"]
    with (out / "labels.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["file", "label", "group"])
        for path in files:
            index = int(path.stem.rsplit("_", 1)[1])
            writer.writerow([path.relative_to(out).as_posix(), path.parent.name,
                             groups[index % len(groups)]])
    return out


TINY_PARAMS = {
    "ingest": {"group_splits": {"tr": "train", "va": "val", "te": "test"}},
    "extract": {"num_frames": 6, "size": 32},
    "model": {"cnn": {"width": 8, "hidden": 16}},
    "train": {"epochs": 2, "batch_size": 4},
    # recipe cross-validation costs 10 s a run on this data; the e2e test turns it on
    "evaluate": {"recipe_cv": "off"},
    "register": {"min_f1": 0.0},
}


def copy_project(dest: Path, overrides: dict | None = None) -> Path:
    """A fresh git+DVC project from this repo's tracked files, with tiny-data params."""
    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                           cwd=REPO, capture_output=True, check=True).stdout.split(b"\0")
    for name in filter(None, (f.decode() for f in files)):
        src = REPO / name
        if src.is_file() and not name.startswith("tests/"):
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    params = yaml.safe_load((dest / "params.yaml").read_text())
    for section, values in (overrides if overrides is not None else TINY_PARAMS).items():
        params[section].update(values)
    (dest / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=dest, check=True)
    subprocess.run(["git", "add", "-A"], cwd=dest, check=True)
    subprocess.run(["git", "commit", "-qm", "project copy"], cwd=dest, check=True)
    return dest


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(what: str, check, timeout: float, interval: float = 1.0):
    """Poll ``check()`` until it returns something truthy; fail naming ``what`` on timeout."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(interval)


def answers(url: str) -> bool:
    """True when ``url`` answers HTTP 200."""
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def stop_group(process: subprocess.Popen | None) -> None:
    """SIGTERM a server started with ``start_new_session=True`` and all its workers."""
    import os
    import signal

    if process is not None and process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


def extract_or_crash(shared, cfg, path, source, cid, out=None):
    """Like extract's per-clip work, but kills its process on files named crash*: a segfault."""
    import os
    from pathlib import Path

    from vidops.data.extraction import _extract_one

    if Path(source).name.startswith("crash"):
        os._exit(139)
    return _extract_one(shared, cfg, path, source, cid, out)


def slow_extract(shared, cfg, path, source, cid, out=None):
    """The real per-clip work, a quarter of a second slower: time to kill a worker mid-run."""
    import time

    from vidops.data.extraction import _extract_one

    time.sleep(0.25)
    return _extract_one(shared, cfg, path, source, cid, out)


def gate_worker(uri: str, name: str, version: str, ready, env: dict | None = None,
                read_together=None) -> None:
    """A registration's critical section: read champion, decide, move (slowly, to race).

    Run in its own process (spawn); all workers enter the section together once every one
    has passed the ``ready`` barrier (a fixed start time lost the race on a loaded machine
    when one interpreter's imports took longer, and the workers then ran one after another).
    ``read_together`` (the unlocked race only: inside the lock it would deadlock) holds every
    worker after its read until all have read, so the stale decisions the lock prevents are
    certain, not a matter of timing (a 2 s sleep alone still ran one after another in CI).
    """
    import os
    import time

    import mlflow
    from mlflow import MlflowClient

    from vidops.registry.champion import current_champion, move_champion
    from vidops.registry.lock import registry_lock

    os.environ.update(env or {})
    mlflow.set_tracking_uri(uri)
    client = MlflowClient()
    own = float(client.get_model_version(name, version).tags["macro_f1"])
    ready.wait(timeout=300)
    with registry_lock(uri, name):
        champion = current_champion(client, name)
        best = float(client.get_model_version(name, champion).tags["macro_f1"]) if champion else -1
        # Re-scoring takes time; without the lock the others read the same champion meanwhile
        # (2 s: on a loaded machine the four reads through one MLflow server worker spread
        # over more than 0.5 s, and the unlocked race then sometimes ran one after another).
        if read_together is not None:
            read_together.wait(timeout=300)
        else:
            time.sleep(2.0)
        if own > best:
            move_champion(client, name, version, "gate", f"{own} beats v{champion}")


# A process that is killed -9 inside move_champion, between the champion record and the
# alias move (argv: tracking URI, registered model name); the fault tests run it.
KILLED_MOVE = """
import os, signal, sys
from mlflow import MlflowClient
from vidops.registry.champion import move_champion
client = MlflowClient(sys.argv[1], sys.argv[1])
def die(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)  # between the champion record and the alias move
client.set_registered_model_alias = die
move_champion(client, sys.argv[2], "2", "promote", "killed half-way")
"""


def sqlite_registry(folder: Path, versions: int = 2, name: str = "vidops-classifier"):
    """A real MLflow SQLite registry in ``folder`` with ``versions`` versions of ``name``;
    returns (client, tracking URI)."""
    from mlflow import MlflowClient

    uri = f"sqlite:///{folder / 'mlflow.db'}"
    client = MlflowClient(uri, uri)
    client.create_registered_model(name)
    (folder / "m").mkdir()
    for _ in range(versions):
        client.create_model_version(name, str(folder / "m"))
    return client, uri


def rendered(url: str, workdir: Path, offline: bool = False, budget_ms: int = 20000) -> str:
    """The page's DOM after its scripts ran, as a user's browser has it: headless Chromium
    (Debian's package, installed by .ci/run), a fresh profile, no background connections.
    ``offline``: every host name fails to resolve, so only file:// and the page itself load."""
    import tempfile

    chromium = shutil.which("chromium")
    assert chromium, "headless Chromium is needed (`apt-get install chromium`; .ci/run installs it)"
    profile = tempfile.mkdtemp(prefix="chromium-", dir=workdir)
    cmd = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
           "--no-first-run", "--disable-background-networking", "--disable-component-update",
           "--disable-sync", f"--user-data-dir={profile}", f"--virtual-time-budget={budget_ms}",
           # a desktop-sized window: pages render only what is in view (Prefect's log list)
           "--window-size=1400,2000",
           "--dump-dom", url]
    if offline:
        cmd.insert(1, "--host-resolver-rules=MAP * ~NOTFOUND")
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


# `run_register` in a process killed -9 at one point of the registration (argv: point,
# project root, model folder's parent, registered model name); tracking URI from the env.
KILLED_REGISTER = """
import os, signal, sys
from pathlib import Path
import vidops.stages.register as reg
from vidops.config import Params, PathsConfig, RegisterConfig
from vidops.stages.context import StageContext
point, root, out, name = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]), sys.argv[4]
def die(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)
def then_die(function):
    def wrapped(*args, **kwargs):
        function(*args, **kwargs)
        die()
    return wrapped
if point == "after the version row":
    reg.publish_model = then_die(reg.publish_model)
elif point == "before the alias moves":
    reg.move_champion = die
elif point == "after the alias moved":
    reg.move_champion = then_die(reg.move_champion)
paths = PathsConfig(manifest=root / "manifest.csv", frames=root / "frames",
                    validation=root / "validation.json", model=out / "model",
                    metrics=out / "metrics.json", predictions=out / "pred.csv",
                    promotion=out / "promotion.json")
reg.run_register(StageContext(Params(paths=paths, register=RegisterConfig(model_name=name, min_f1=0.0)),
                              root=root))
"""
REGISTER_KILL_POINTS = ("after the version row", "before the alias moves", "after the alias moved")


def stage_context(root: Path, out: Path, **sections):
    """A StageContext for the model stages: inputs from the prepared project ``root``, every
    output under ``out``, the given params sections (``evaluate`` defaults to no recipe
    cross-validation: the tests that want it ask for it)."""
    from vidops.config import EvaluateConfig, Params, PathsConfig
    from vidops.stages.context import StageContext

    paths = PathsConfig(manifest=root / "manifest.csv", frames=root / "frames",
                        validation=root / "validation.json", model=out / "model",
                        train_log=out / "log.csv", curves=out / "curves.png",
                        selection=out / "selection.json", selection_plot=out / "selection.png",
                        metrics=out / "metrics.json", confusion=out / "cm.png",
                        predictions=out / "pred.csv", scores=out / "scores.json",
                        promotion=out / "promotion.json")
    sections.setdefault("evaluate", EvaluateConfig(recipe_cv="off"))
    return StageContext(Params(paths=paths, **sections), root=root, progress=False)


def prepared_project(root: Path, frames) -> Path:
    """The tiny dataset imported, ingested (one group per split), extracted with ``frames``
    (an ExtractConfig) and validated in ``root``: what train reads. Returns ``root``."""
    from vidops.config import IngestConfig, ValidateConfig
    from vidops.data.raw_store import import_clips
    from vidops.stages.extract import run_extract
    from vidops.stages.ingest import run_ingest
    from vidops.stages.validate import run_validate

    import_clips(write_tiny_dataset(root / "source"), root / "raw", (".mp4",))
    run_ingest(IngestConfig(group_splits={"tr": "train", "va": "val", "te": "test"}),
               root / "raw", root / "manifest.csv")
    run_extract(frames, root / "manifest.csv", root / "frames", progress=False)
    run_validate(ValidateConfig(), root / "manifest.csv", root / "frames",
                 root / "validation.json", root / "docs")
    return root


def evaluated_project(root: Path, tracking: str) -> Path:
    """A prepared project with a motion_linear model trained, tracked in ``tracking`` (a
    tracking URI), and evaluated: what register reads. Returns the folder."""
    from vidops.config import ExtractConfig, ModelConfig
    from vidops.stages.evaluate import run_evaluate
    from vidops.stages.train import run_train

    os.environ["MLFLOW_TRACKING_URI"] = tracking
    try:
        frames = ExtractConfig(num_frames=6, size=32)
        prepared_project(root, frames)
        ctx = stage_context(root, root / "out", model=ModelConfig(arch="motion_linear"),
                            extract=frames)
        run_train(ctx)
        run_evaluate(ctx)
    finally:
        del os.environ["MLFLOW_TRACKING_URI"]
    return root


def register_after_a_kill(project: Path, tracking: str, name: str, point: str) -> list[str]:
    """Kill a registration at ``point``, run it again; returns what is wrong afterwards."""
    import subprocess
    import sys

    from mlflow import MlflowClient

    from vidops.config import RegisterConfig
    from vidops.registry.champion import current_champion, history
    from vidops.stages.register import run_register

    env = {**os.environ, "MLFLOW_TRACKING_URI": tracking}
    killed = subprocess.run([sys.executable, "-c", KILLED_REGISTER, point, str(project),
                             str(project / "out"), name], env=env, capture_output=True,
                            text=True, timeout=600)
    assert killed.returncode == -9, killed.stderr[-3000:]
    os.environ["MLFLOW_TRACKING_URI"] = tracking
    try:
        result = run_register(stage_context(project, project / "out",
                                            register=RegisterConfig(model_name=name, min_f1=0.0)))
    finally:
        del os.environ["MLFLOW_TRACKING_URI"]
    client = MlflowClient(tracking, tracking)
    versions = client.search_model_versions(f"name='{name}'")
    problems = [f"{len(versions)} versions of one training run"] if len(versions) != 1 else []
    tags = client.get_model_version(name, "1").tags
    problems += [f"version 1 has no {key} tag" for key in ("gate", "gate_reason", "run_id",
                                                           "code_digest", "macro_f1")
                 if key not in tags]
    if tags.get("registration") != "complete":
        problems.append(f"registration is {tags.get('registration')!r}, not complete")
    if current_champion(client, name) != "1" or not result.promoted or result.version != "1":
        problems.append(f"champion {current_champion(client, name)}, result {result}")
    if [e.version for e in history(client, name)] != ["1"]:
        problems.append(f"history {[e.version for e in history(client, name)]}, not [1]")
    return problems


def some_figures(**changes):
    """A TestFigures record (metrics.json) with plausible values; ``changes`` override."""
    from vidops.evaluation.figures import TestFigures

    base = dict(accuracy=0.8, n_clips=40, macro_precision=0.8, macro_recall=0.8, macro_f1=0.81,
                weighted_precision=0.8, weighted_recall=0.8, weighted_f1=0.8, per_class={},
                classes=["a", "b"], confusion_matrix=[[18, 2], [6, 14]], most_confused=[],
                accuracy_ci=[0.65, 0.9], macro_f1_ci=[0.7, 0.9], bootstrap={})
    return TestFigures(**{**base, **changes})
