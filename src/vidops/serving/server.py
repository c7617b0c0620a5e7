"""`vidops serve`: the scoring server of `mlflow models serve`, following a registry alias.

`mlflow models serve -m models:/name@champion` resolves the alias once, at start-up, and
answers with that version forever. This server speaks the same protocol (``POST
/invocations`` and ``GET /ping`` through MLflow's own request parser and response writer,
so clients cannot tell the difference) and adds ``GET /version``. A background thread
looks the alias up every ``poll_s`` seconds; when it names another version, that version
is loaded beside the serving one and swapped in with one reference assignment. A request
takes the reference once when it starts, so requests in flight finish on the model they
began with and none fails during a switch. A version that cannot load is reported on
``/version`` and in the log while the old one keeps serving.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import threading
import time
from dataclasses import dataclass, field
from typing import Any

# FastAPI reads the handlers' annotations at run time: Request must be a module global.
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Served:
    """One loaded version; replaced as a whole, never mutated."""

    version: str
    run_id: str
    model: Any  # mlflow.pyfunc.PyFuncModel
    loaded_at: str
    load_s: float
    folder: Any = None  # where it was loaded (pyfunc.load_registered); removed when replaced


@dataclass
class FollowState:
    last_check: str | None = None
    error: str | None = None  # why the alias's version is not the one served, if it is not
    switches: list[dict] = field(default_factory=list)  # the newest switches, for /version


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class AliasFollower:
    """Keeps ``models:/name@alias`` loaded; :attr:`served` is what requests use."""

    def __init__(self, name: str, alias: str, poll_s: float, client=None) -> None:
        from mlflow import MlflowClient

        if poll_s <= 0:
            raise ValueError(f"poll interval must be positive, got {poll_s}")
        self.name, self.alias, self.poll_s = name, alias, poll_s
        self.client = client or MlflowClient()
        self.state = FollowState()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        version = self._resolve()
        self.served: Served = self._load(version)  # fail at start-up: nothing to serve yet

    def _resolve(self) -> str:
        return str(self.client.get_model_version_by_alias(self.name, self.alias).version)

    def _load(self, version: str) -> Served:
        from vidops.serving.pyfunc import load_registered

        start = time.perf_counter()
        model, folder = load_registered(f"models:/{self.name}/{version}")
        seconds = time.perf_counter() - start
        log.info("loaded %s version %s in %.1f s", self.name, version, seconds)
        run_id = self.client.get_model_version(self.name, version).run_id
        return Served(version, run_id, model, _now(), round(seconds, 2), folder)

    def check(self) -> bool:
        """Look the alias up once; switch when it moved. True when a switch happened."""
        try:
            version = self._resolve()
        except Exception as err:  # the tracking server is down: keep serving, say why
            self._fail(f"cannot resolve {self.name}@{self.alias}: {err}")
            return False
        finally:
            self.state.last_check = _now()
        if version == self.served.version:
            self.state.error = None
            return False
        try:
            new = self._load(version)
        except Exception as err:
            self._fail(f"version {version} (now {self.alias}) failed to load, still serving "
                       f"version {self.served.version}: {type(err).__name__}: {err}")
            return False
        old, self.served = self.served, new  # the switch: one reference assignment
        if old.folder is not None:  # requests in flight hold the old model, not its files
            shutil.rmtree(old.folder, ignore_errors=True)
        self.state.error = None
        self.state.switches = [*self.state.switches[-9:], {"from": old.version, "to": new.version,
                                                            "at": new.loaded_at}]
        log.info("%s@%s: switched from version %s to %s", self.name, self.alias, old.version,
                 new.version)
        return True

    def _fail(self, message: str) -> None:
        if message != self.state.error:
            log.warning(message)
        self.state.error = message

    def start(self) -> None:
        def loop() -> None:
            while not self._stop.wait(self.poll_s):
                self.check()

        self._thread = threading.Thread(target=loop, name="alias-follower", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.poll_s + 60)

    def describe(self) -> dict[str, Any]:
        s = self.served
        return {"model_name": self.name, "alias": self.alias, "version": s.version,
                "classes": served_classes(s.model),
                "run_id": s.run_id, "loaded_at": s.loaded_at, "load_s": s.load_s,
                "poll_s": self.poll_s, "last_check": self.state.last_check,
                "error": self.state.error, "switches": self.state.switches}


def served_classes(model: Any) -> list[str] | None:
    """The labels the served version answers with (None: not a vidops pyfunc)."""
    try:
        return list(model.unwrap_python_model().loaded.classes)
    except AttributeError:
        return None


def request_limit(model: Any) -> int:
    """The most bytes a request body may have: one video at the model's ``max_video_bytes``,
    base64-encoded (JSON clients), plus 1 MiB for the JSON around it and small companions."""
    from vidops.serving.pyfunc import DEFAULT_MAX_VIDEO_BYTES

    try:
        limit = int(model.unwrap_python_model().max_video_bytes)
    except (AttributeError, TypeError, ValueError):  # not a vidops pyfunc: its default
        limit = DEFAULT_MAX_VIDEO_BYTES
    return limit * 4 // 3 + (1 << 20)


def parse_schema(model: Any) -> Any:
    """The schema the request body is parsed with: the model's, with binary columns read as
    text. Versions registered before 2026-12-06 declare the video column binary, and MLflow
    then base64-decodes the whole column before the model runs, so one null or one entry
    that is not base64 failed every video of the batch; read as text, each row reaches the
    model, which decodes it and fails that row alone."""
    from mlflow.types import ColSpec, DataType, Schema

    schema = model.metadata.get_input_schema()
    if schema is None or schema.is_tensor_spec() or not any(
            c.type == DataType.binary for c in schema.inputs):
        return schema
    return Schema([ColSpec(DataType.string, c.name, required=False) if c.type == DataType.binary
                   else c for c in schema.inputs])


async def _body_within(request: Request, limit: int) -> bytes | None:
    """The body, or None as soon as it is known to exceed ``limit`` (before reading it all)."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        return None
    body = bytearray()
    async for chunk in request.stream():  # chunked uploads: counted as they arrive
        body += chunk
        if len(body) > limit:
            return None
    return bytes(body)


def build_app(follower: AliasFollower):
    """The FastAPI app: MLflow's scoring protocol on whatever version is served now."""
    from mlflow.exceptions import MlflowException
    from mlflow.pyfunc import scoring_server

    app = FastAPI(title=f"vidops serve {follower.name}@{follower.alias}")

    @app.get("/ping")
    @app.get("/health")
    async def ping() -> Response:
        return Response(content="\n", status_code=200, media_type="application/json")

    @app.get("/version")
    async def version() -> JSONResponse:
        return JSONResponse(follower.describe())

    @app.post("/invocations")
    async def invocations(request: Request) -> Response:
        served = follower.served  # taken once: a switch meanwhile does not touch this request
        limit = request_limit(served.model)
        data = await _body_within(request, limit)
        if data is None:
            message = (f"request body over {limit} bytes (the model's max_video_bytes, base64, plus "
                       "1 MiB); send fewer or smaller videos per request")
            return JSONResponse({"error_code": "REQUEST_TOO_LARGE", "message": message},
                                status_code=413, headers={"X-Model-Version": served.version})
        content_type = request.headers.get("content-type") or ""
        try:
            result = await asyncio.to_thread(scoring_server.invocations, data, content_type,
                                             served.model, parse_schema(served.model))
        except MlflowException as err:
            return Response(content=err.serialize_as_json(), status_code=err.get_http_status_code(),
                            media_type="application/json",
                            headers={"X-Model-Version": served.version})
        return Response(content=result.response, status_code=result.status,
                        media_type=result.mimetype, headers={"X-Model-Version": served.version})

    return app


def serve(name: str, alias: str, host: str, port: int, poll_s: float) -> None:
    """Load ``models:/name@alias``, follow the alias and answer HTTP until stopped."""
    import os

    import uvicorn
    from mlflow.environment_variables import _MLFLOW_IS_IN_SERVING_ENVIRONMENT

    os.environ[_MLFLOW_IS_IN_SERVING_ENVIRONMENT.name] = "true"  # as `mlflow models serve`
    follower = AliasFollower(name, alias, poll_s)
    follower.start()
    try:
        uvicorn.run(build_app(follower), host=host, port=port, log_level="warning")
    finally:
        follower.stop()
