"""`vidops serve` switching to a newly promoted version under a steady stream of requests.

    python benchmarks/serving_switch.py [--switches 5] [--poll-s 10] [--clients 2]

A real `mlflow server` (SQLite store, served artifacts) holds two registered versions of
the default family's pyfunc (flow_linear, default params.yaml frame parameters, saved
through the models-from-code path `register` uses). `vidops serve` starts on the
champion; ``--clients`` threads send the 3-second 640x480 clip back to back; the alias is
moved between the versions ``--switches`` times, 20 s apart. Measured per switch: the
delay from the alias move to the first answer of the new version, and every request's
latency and status. Reference in the same run: `mlflow models serve` on the same
version, same clip, same clients (it never switches).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from serving import make_clip, save_pyfunc

BIN = Path(sys.executable).parent
NAME = "vidops-classifier"


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(cmd: list[str], url: str, env: dict) -> subprocess.Popen:
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2)
            return proc
        except OSError:
            time.sleep(0.5)
    os.killpg(proc.pid, signal.SIGTERM)
    raise RuntimeError(f"{cmd[0]} did not answer {url}")


class Clients:
    """``n`` threads posting the clip back to back; (t_start, latency, status, version) each."""

    def __init__(self, url: str, body: bytes, n: int) -> None:
        self.url, self.body = url, body
        self.records: list[tuple[float, float, int, str]] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(n)]

    def _run(self) -> None:
        while not self._stop.is_set():
            request = urllib.request.Request(f"{self.url}/invocations", self.body,
                                             {"Content-Type": "application/json"})
            t0 = time.monotonic()
            try:
                with urllib.request.urlopen(request, timeout=120) as response:
                    response.read()
                    status, version = response.status, response.headers.get("X-Model-Version", "")
            except urllib.error.HTTPError as err:
                status, version = err.code, ""
            except OSError:
                status, version = -1, ""
            self.records.append((t0, time.monotonic() - t0, status, version))

    def __enter__(self) -> Clients:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=180)


def percentiles(latencies: list[float]) -> str:
    ms = sorted(x * 1000 for x in latencies)
    if not ms:
        return "- | -"
    p99 = ms[min(len(ms) - 1, round(0.99 * (len(ms) - 1)))]
    return f"{statistics.median(ms):.0f} | {p99:.0f}"


def register_two_versions(uri: str, folder: Path) -> None:
    import mlflow

    mlflow.set_tracking_uri(uri)
    saved = save_pyfunc(folder, "flow_linear")
    for _ in range(2):
        with mlflow.start_run() as run:
            mlflow.log_artifacts(str(saved), "model")
        mlflow.register_model(f"runs:/{run.info.run_id}/model", NAME)
    mlflow.MlflowClient().set_registered_model_alias(NAME, "champion", "1")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--switches", type=int, default=5)
    parser.add_argument("--poll-s", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument("--reference-s", type=float, default=30.0)
    args = parser.parse_args()
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    from mlflow import MlflowClient

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        mport, sport, rport = free_port(), free_port(), free_port()
        uri = f"http://127.0.0.1:{mport}"
        env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
               # mlflow starts `uvicorn` by name: the virtual environment's bin must be on PATH
               "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
        tracking = start([str(BIN / "mlflow"), "server", "--backend-store-uri",
                          f"sqlite:///{folder / 'mlflow.db'}", "--artifacts-destination",
                          str(folder / "artifacts"), "--workers", "1", "--host", "127.0.0.1",
                          "--port", str(mport)], f"{uri}/health", env)
        procs = [tracking]
        try:
            register_two_versions(uri, folder)
            clip = make_clip(folder).read_bytes()
            body = json.dumps({"dataframe_split": {"columns": ["video"], "data": [
                [base64.b64encode(clip).decode()]]}}).encode()

            ref_url = f"http://127.0.0.1:{rport}"
            reference = start([str(BIN / "mlflow"), "models", "serve", "-m", f"models:/{NAME}/1",
                               "--env-manager", "local", "-h", "127.0.0.1", "-p", str(rport)],
                              f"{ref_url}/ping", env)
            with Clients(ref_url, body, args.clients) as ref:
                time.sleep(args.reference_s)
            os.killpg(reference.pid, signal.SIGTERM)

            url = f"http://127.0.0.1:{sport}"
            procs.append(start([str(BIN / "vidops"), "serve", "--port", str(sport), "--poll-s",
                                str(args.poll_s)], f"{url}/ping", env))
            client = MlflowClient(uri)
            moves: list[tuple[float, str]] = []
            with Clients(url, body, args.clients) as ours:
                time.sleep(10)
                for i in range(args.switches):
                    target = "2" if i % 2 == 0 else "1"
                    client.set_registered_model_alias(NAME, "champion", target)
                    moves.append((time.monotonic(), target))
                    time.sleep(max(20.0, args.poll_s * 2))
        finally:
            for proc in procs:
                os.killpg(proc.pid, signal.SIGTERM)
    report(args, ref.records, ours.records, moves)


def report(args, ref: list, ours: list, moves: list[tuple[float, str]]) -> None:
    delays, windows = [], []
    for at, target in moves:
        first = min((t0 + lat for t0, lat, status, v in ours if v == target and t0 + lat >= at),
                    default=None)
        if first is not None:
            delays.append(first - at)
            windows.append((at, first + 1.0))
    in_switch = [r for r in ours if any(a <= r[0] <= b for a, b in windows)]
    steady = [r for r in ours if r not in in_switch]
    failed = [r for r in ours if r[2] != 200]
    print(f"{args.clients} clients back to back, 3 s 640x480 clip, flow_linear, poll {args.poll_s} s,"
          f" {args.switches} switches; python {sys.version.split()[0]}, {os.cpu_count()} cores")
    print("| server | requests | failed | p50 ms | p99 ms |")
    print("| --- | --- | --- | --- | --- |")
    print(f"| `mlflow models serve` (reference, no switch) | {len(ref)} | "
          f"{sum(r[2] != 200 for r in ref)} | {percentiles([r[1] for r in ref])} |")
    print(f"| `vidops serve`, between switches | {len(steady)} | "
          f"{sum(r[2] != 200 for r in steady)} | {percentiles([r[1] for r in steady])} |")
    print(f"| `vidops serve`, during switches (alias move to 1 s after the new version's first "
          f"answer) | {len(in_switch)} | {sum(r[2] != 200 for r in in_switch)} | "
          f"{percentiles([r[1] for r in in_switch])} |")
    print(f"switch delay (alias moved -> first answer from the new version), s: "
          f"{', '.join(f'{d:.1f}' for d in delays)}; median {statistics.median(delays):.1f}, "
          f"max {max(delays):.1f}; switches seen {len(delays)} of {len(moves)}; failed requests "
          f"{len(failed)} of {len(ours)}")


if __name__ == "__main__":
    main()
