"""Real servers for the team-mode tests: PostgreSQL, an MLflow tracking server, a Prefect server.

Each is started as a process on a loopback port and stopped (its whole process group) at
the end; nothing is mocked. PostgreSQL comes from the Debian package (`.ci/run` installs it
where it is missing); the cluster is private to the test session, in a temporary folder.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from support import answers, free_port, stop_group, wait_until

BIN = Path(sys.executable).parent
PASSWORD = "vidops-test-password"


@dataclass(frozen=True)
class Postgres:
    port: int
    user: str = "vidops"
    password: str = PASSWORD

    def url(self, db: str, driver: str = "postgresql") -> str:
        return f"{driver}://{self.user}:{self.password}@127.0.0.1:{self.port}/{db}"


def _pg_bindir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: int(p.split("/")[4]))
    if not found:
        raise AssertionError("PostgreSQL is not installed: `apt-get install postgresql` "
                             "(.ci/run does it); the team-mode tests need a real server")
    return Path(found[-1]).parent


def _as_postgres(cmd: list[str]) -> list[str]:
    # PostgreSQL refuses to run as root; CI runs as root. runuser lives in /usr/sbin, which
    # a root shell's PATH does not always hold.
    runuser = shutil.which("runuser") or "/usr/sbin/runuser"
    return [runuser, "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


@contextmanager
def postgres(databases: tuple[str, ...]) -> Iterator[Postgres]:
    """A private PostgreSQL cluster with a password role owning ``databases``."""
    bindir = _pg_bindir()
    base = Path(tempfile.mkdtemp(prefix="vidops-pg-"))  # not under pytest's 0700 tmp root
    if os.geteuid() == 0:
        shutil.chown(base, "postgres")
    data, port = base / "data", free_port()
    subprocess.run(_as_postgres([str(bindir / "initdb"), "-D", str(data), "-U", "postgres",
                                 "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8"]),
                   check=True, capture_output=True)
    options = f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off"
    subprocess.run(_as_postgres([str(bindir / "pg_ctl"), "-D", str(data), "-o", options, "-w",
                                 "-l", str(base / "server.log"), "start"]),
                   check=True, capture_output=True)
    server = Postgres(port)
    try:
        sql = [f"CREATE ROLE {server.user} LOGIN PASSWORD '{server.password}'"]
        sql += [f"CREATE DATABASE {db} OWNER {server.user}" for db in databases]
        psql(server, sql, socket_dir=base)
        yield server
    finally:
        subprocess.run(_as_postgres([str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast",
                                     "stop"]), capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


def psql(server: Postgres, statements: list[str], db: str = "postgres",
         socket_dir: Path | None = None) -> list[list[str]]:
    """Run SQL with the real `psql`; returns the rows of the last statement."""
    args = ["-h", str(socket_dir), "-U", "postgres"] if socket_dir else ["-h", "127.0.0.1",
                                                                          "-U", server.user]
    cmd = [str(_pg_bindir() / "psql"), *args, "-p", str(server.port), "-d", db, "-v",
           "ON_ERROR_STOP=1", "-At", "-F", "\t"]
    for statement in statements:
        cmd += ["-c", statement]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True,
                         env={**os.environ, "PGPASSWORD": server.password}).stdout
    return [line.split("\t") for line in out.splitlines() if line]


@contextmanager
def mlflow_server(db_url: str, artifacts: Path, log: Path) -> Iterator[str]:
    """`mlflow server` on PostgreSQL with served artifacts; yields its URL."""
    port = free_port()
    with _server(["mlflow", "server", "--backend-store-uri", db_url, "--artifacts-destination",
                  str(artifacts), "--workers", "1", "--host", "127.0.0.1", "--port", str(port)],
                 {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"},
                 f"http://127.0.0.1:{port}/health", log):
        yield f"http://127.0.0.1:{port}"


@contextmanager
def prefect_server(db_url: str, home: Path, log: Path) -> Iterator[str]:
    """`prefect server start` on PostgreSQL; yields its API URL."""
    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    with _server(["prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)],
                 {"PREFECT_HOME": str(home), "PREFECT_API_DATABASE_CONNECTION_URL": db_url,
                  # the API address the UI's pages call from the browser (README: without it
                  # the pages call 127.0.0.1:4200 whatever --host and --port say)
                  "PREFECT_UI_API_URL": api,
                  # the scheduler looks for due deployments every 5 s instead of every minute
                  "PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS": "5"}, f"{api}/health", log):
        yield api


@contextmanager
def _server(cmd: list[str], env: dict[str, str], health: str, log: Path) -> Iterator[None]:
    """Start ``cmd`` (a venv command) in its own process group; wait for ``health``; stop it."""
    env = {**os.environ, **env}
    env.pop("PREFECT_API_URL", None)  # a server never points at another one
    with log.open("w") as out:
        proc = subprocess.Popen([str(BIN / cmd[0]), *cmd[1:]], env=env, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_until(f"{cmd[0]} server (log: {log})", lambda: _alive(proc, log) and answers(health), 180)
        yield
    finally:
        stop_group(proc)


def _alive(proc: subprocess.Popen, log: Path) -> bool:
    if proc.poll() is not None:
        raise AssertionError(f"server exited {proc.returncode}:\n{log.read_text()[-3000:]}")
    return True


@dataclass
class DaskCluster:
    address: str
    scheduler: subprocess.Popen
    workers: list[subprocess.Popen]
    folder: Path

    def kill_worker(self, index: int) -> None:
        """SIGKILL a `dask worker` (its nanny and worker process): a machine lost."""
        import signal

        os.killpg(self.workers[index].pid, signal.SIGKILL)
        self.workers[index].wait(timeout=30)


@contextmanager
def dask_cluster(folder: Path, workers: int = 2, env: dict[str, str] | None = None
                 ) -> Iterator[DaskCluster]:
    """`dask scheduler` and ``workers`` `dask worker` processes on 127.0.0.1, each worker in
    its own working directory (it sees the clips only by their absolute paths)."""
    from distributed import Client

    # The workers import the tests' own per-clip functions (support.py) as a user's plugin
    # module would be: from the path they are given, not from their working directory.
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent), **(env or {})}
    env.pop("VIDOPS_DASK_ADDRESS", None)
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    folder.mkdir(parents=True, exist_ok=True)
    procs: list[subprocess.Popen] = []

    def start(name: str, cmd: list[str]) -> subprocess.Popen:
        cwd = folder / name
        cwd.mkdir(exist_ok=True)
        with (folder / f"{name}.log").open("w") as out:
            proc = subprocess.Popen([str(BIN / "dask"), *cmd], cwd=cwd, env=env, stdout=out,
                                    stderr=subprocess.STDOUT, start_new_session=True)
        procs.append(proc)
        return proc

    try:
        scheduler = start("scheduler", ["scheduler", "--host", "127.0.0.1", "--port", str(port),
                                        "--dashboard-address", "127.0.0.1:0", "--no-show"])
        started = [start(f"worker{i}", ["worker", address, "--nthreads", "1", "--nworkers", "1",
                                        "--no-dashboard", "--local-directory", str(folder / f"w{i}")])
                   for i in range(workers)]
        with Client(address, timeout=60) as client:
            client.wait_for_workers(workers, timeout=120)
        yield DaskCluster(address, scheduler, started, folder)
    finally:
        for proc in reversed(procs):
            stop_group(proc)
