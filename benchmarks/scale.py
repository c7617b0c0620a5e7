"""Per-clip work on Dask against this machine's pool and the previous release, in one run.

    python benchmarks/scale.py [--clips 40] [--repeats 3] [--release REV]

The 10-second 320x240 clips of benchmarks/extract.py (half H.264 MP4, half MPEG-4 AVI),
extracted by the extract stage (T=16 at 112x112) into a fresh folder each time, by:

- release: the extract stage of git revision ``--release`` (default: the commit before
  the executor seam), from a `git worktree`, 2 worker processes (its default here);
- local: this tree's default path (``extract.workers: 0``: one process per core, 2 here);
- dask-1, dask-2: a real `dask scheduler` with one and with two `dask worker` processes
  (``--nthreads 1`` each) on this machine.

Every run is a fresh Python process (imports included, as `dvc repro` pays them); the
figure is the stage's own wall time, repeats round-robin, medians. Then the per-task
overhead of the scheduler: a task that does nothing, through the in-process executor and
through Dask (one worker), and a task that returns 1.3 MB (one clip's frames).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from extract import make_set, manifest_for
from release import RELEASE, release_env

BIN = Path(sys.executable).parent

STAGE = """
import json, sys, time
from pathlib import Path
from vidops.config import ExtractConfig
from vidops.stages.extract import run_extract
start = time.perf_counter()
result = run_extract(ExtractConfig(num_frames=16, size=112), Path(sys.argv[1]), Path(sys.argv[2]),
                     progress=False)
print(json.dumps({"seconds": time.perf_counter() - start, "decoded": result.decoded,
                  "failed": len(result.failed)}))
"""


def run_stage(manifest: Path, out: Path, env: dict[str, str]) -> float:
    done = subprocess.run([sys.executable, "-c", STAGE, str(manifest), str(out)], env=env,
                          capture_output=True, text=True, check=True)
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert figures["failed"] == 0 and figures["decoded"] > 0, figures
    return figures["seconds"]


class Cluster:
    """`dask scheduler` + ``workers`` `dask worker` processes; stopped on exit."""

    def __init__(self, folder: Path, workers: int) -> None:
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.address = f"tcp://127.0.0.1:{port}"
        log = (folder / f"dask-{workers}.log").open("w")
        self.procs = [subprocess.Popen([str(BIN / "dask"), "scheduler", "--host", "127.0.0.1",
                                        "--port", str(port), "--dashboard-address", ":0"],
                                       stdout=log, stderr=log, start_new_session=True)]
        self.procs += [subprocess.Popen([str(BIN / "dask"), "worker", self.address, "--nthreads",
                                         "1", "--nworkers", "1", "--no-dashboard"], cwd=folder,
                                        stdout=log, stderr=log, start_new_session=True)
                       for _ in range(workers)]
        from distributed import Client

        with Client(self.address, timeout=60) as client:
            client.wait_for_workers(workers, timeout=120)

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, *exc: object) -> None:
        import signal

        for proc in reversed(self.procs):
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)


def noop(_shared, index: int) -> int:
    return index


def payload(_shared, index: int) -> bytes:
    return bytes(16 * 112 * 112 * 3 + 128)  # one clip's .npy at T=16, 112x112


def task_overhead(executor, fn, tasks: int) -> float:
    """Milliseconds per task through ``executor``, median of three batches."""
    from vidops.compute.tasks import Task

    times = []
    for _ in range(3):
        start = time.perf_counter()
        assert len(list(executor.run(fn, [Task(str(i), (i,)) for i in range(tasks)]))) == tasks
        times.append((time.perf_counter() - start) / tasks * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clips", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--release", default=RELEASE)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        files = make_set(root / "clips", args.clips)[: args.clips]
        manifest = manifest_for(files, root / "manifest.csv")
        with release_env(args.release, root / "release") as release:
            base = {**os.environ, "VIDOPS_DASK_ADDRESS": "local"}
            base.pop("DASK_SCHEDULER_ADDRESS", None)
            release.pop("DASK_SCHEDULER_ADDRESS", None)
            envs = {"release": release, "local": base}
            with Cluster(root, 1) as one, Cluster(root, 2) as two:
                envs["dask-1"] = {**base, "VIDOPS_DASK_ADDRESS": one.address}
                envs["dask-2"] = {**base, "VIDOPS_DASK_ADDRESS": two.address}
                times: dict[str, list[float]] = {name: [] for name in envs}
                for repeat in range(args.repeats):
                    for name, env in envs.items():
                        out = root / f"frames-{name}-{repeat}"
                        times[name].append(run_stage(manifest, out, env))
                        print(f"  {name} run {repeat + 1}: {times[name][-1]:.2f} s", flush=True)
                from vidops.compute.dask_cluster import DaskExecutor
                from vidops.compute.executor import InProcess

                with DaskExecutor.connect(one.address, "the benchmark") as dask_one:
                    overhead = {"in-process noop": task_overhead(InProcess(), noop, 200),
                                "dask noop": task_overhead(dask_one, noop, 200),
                                "dask 1.3 MB result": task_overhead(dask_one, payload, 100)}
    medians = {name: statistics.median(t) for name, t in times.items()}
    print(f"\n{args.clips} clips of 10 s, T=16 at 112x112, {args.repeats} repeats, "
          f"{os.cpu_count()} cores; median stage seconds and clips/s:")
    for name, seconds in medians.items():
        print(f"  {name:8s} {seconds:7.2f} s  {args.clips / seconds:6.2f} clips/s  "
              f"(x{medians['release'] / seconds:.2f} vs release)")
    print(f"  dask-2 / dask-1 speed-up: x{medians['dask-1'] / medians['dask-2']:.2f}")
    print(f"  local / release time: {medians['local'] / medians['release']:.3f}")
    print("per-task overhead, ms (median of 3 batches):")
    for name, ms in overhead.items():
        print(f"  {name:20s} {ms:7.2f}")
    per_clip = medians["dask-1"] / args.clips
    print(f"one Dask worker thread: {per_clip:.3f} s per 10-s clip -> 100,000 clips take "
          f"{per_clip * 1e5 / 3600:.1f} worker-hours")


if __name__ == "__main__":
    main()
