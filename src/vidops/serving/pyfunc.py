"""The MLflow pyfunc model: raw video bytes in, label and class probabilities out.

It decodes and samples with the same code as extraction (``vidops.video.decode``) and the
frame parameters stored with the model, so serving cannot drift from training. It only
ever reads the bytes it is sent, never a path named in a request.
"""

from __future__ import annotations

import base64
import binascii
import math
import shutil
from pathlib import Path

import mlflow.pyfunc
import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

from vidops.config import ServeConfig
from vidops.models.artifact import load_model_dir
from vidops.video.decode import DecodeError, sample_bytes

VIDEO_COLUMN = "video"
# A model logged before a limit existed in its model_config gets today's default.
DEFAULT_MAX_VIDEO_BYTES = ServeConfig.max_video_bytes
DEFAULT_MAX_CLIPS = ServeConfig.max_clips
# Videos decoded and scored together: a request's memory is this many clips' frames (T x
# size x size x 3 bytes each: 2.4 MB at the defaults) and the model's activations for them,
# however many videos it holds. Measured (benchmarks/serving_memory.py, motion_linear): 16
# at a time held 345 MB over a one-video request, 4 at a time 90 MB, at the same speed.
CHUNK = 4


class VideoClassifier(mlflow.pyfunc.PythonModel):
    """pyfunc over ``artifacts/model``; input: a DataFrame with a ``video`` column of bytes.

    ``model_config`` (set when logging) may hold ``max_video_bytes`` (one video's size limit)
    and ``max_clips`` (videos per request).
    """

    max_video_bytes = DEFAULT_MAX_VIDEO_BYTES
    max_clips = DEFAULT_MAX_CLIPS

    def load_context(self, context) -> None:
        config = getattr(context, "model_config", None) or {}
        self.max_video_bytes = int(config.get("max_video_bytes", DEFAULT_MAX_VIDEO_BYTES))
        self.max_clips = int(config.get("max_clips", DEFAULT_MAX_CLIPS))
        self.loaded = load_model_dir(Path(context.artifacts["model_dir"]), "cpu")

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        """One row per video: label, score, probabilities, and ``error`` (None when it worked).

        One bad video in a batch (unreadable, not base64, null) costs that row, not the batch.
        A request of a single video that cannot be read is answered 400 with the reason, as
        MLflow's protocol expects; a request of more than ``max_clips`` videos is refused
        before any is decoded. Videos are decoded and scored ``CHUNK`` at a time, so memory
        does not grow with the number of videos in a request.
        """
        values = _column(model_input)
        if len(values) > self.max_clips:
            raise _bad_input(f"{len(values)} videos in one request is over the limit of "
                             f"{self.max_clips} (serve.max_clips); send them in several requests")
        answers: dict[int, np.ndarray] = {}
        errors: dict[int, str] = {}
        for start in range(0, len(values), CHUNK):
            clips: dict[int, np.ndarray] = {}
            for i in range(start, min(start + CHUNK, len(values))):
                try:
                    clips[i] = sample_bytes(self._as_bytes(values[i], i), self.loaded.frames).frames
                except DecodeError as err:
                    errors[i] = f"video {i}: {err.reason}"
                except MlflowException as err:
                    errors[i] = err.message
            if len(values) == 1 and errors:
                raise _bad_input(errors[0])
            if clips:
                probs = self.loaded.predict_proba(np.stack(list(clips.values())))
                answers.update(zip(clips, probs, strict=True))
        classes = self.loaded.classes
        rows = []
        for i in range(len(values)):
            row = answers.get(i)
            rows.append({"label": None, "score": None, "probabilities": None, "error": errors[i]}
                        if row is None else
                        {"label": classes[int(row.argmax())], "score": float(row.max()),
                         "probabilities": {c: float(p) for c, p in zip(classes, row, strict=True)},
                         "error": None})
        # object columns: a missing value stays None, which JSON writes as null (not NaN)
        return pd.DataFrame(rows, columns=["label", "score", "probabilities", "error"], dtype=object)

    def _as_bytes(self, value, i: int) -> bytes:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            raise _bad_input(f"video {i}: no video (null)")
        if isinstance(value, str):
            try:  # JSON clients send base64 text
                value = base64.b64decode(value, validate=True)
            except (binascii.Error, ValueError):
                raise _bad_input(f"video {i}: a string must be base64-encoded video bytes") from None
        if not isinstance(value, bytes | bytearray):
            raise _bad_input(f"video {i}: expected bytes, got {type(value).__name__}")
        if len(value) > self.max_video_bytes:
            raise _bad_input(f"video {i}: {len(value)} bytes is over the limit of "
                             f"{self.max_video_bytes}")
        return bytes(value)


def _column(model_input) -> list:
    if isinstance(model_input, pd.DataFrame):
        if VIDEO_COLUMN not in model_input.columns:
            raise _bad_input(f"input needs a {VIDEO_COLUMN!r} column, has {list(model_input.columns)}")
        return list(model_input[VIDEO_COLUMN])
    if isinstance(model_input, bytes | str):
        return [model_input]
    return list(model_input)


def _bad_input(message: str) -> MlflowException:
    # INVALID_PARAMETER_VALUE makes `mlflow models serve` answer 400 with this message.
    return MlflowException(message, error_code=INVALID_PARAMETER_VALUE)


def load_registered(model_uri: str) -> tuple[mlflow.pyfunc.PyFuncModel, Path]:
    """``mlflow.pyfunc.load_model`` into a folder of its own (returned; the caller removes it
    when done). Left to choose, MLflow loads a local store's model in place and writes its
    ``registered_model_meta`` file into the store: serving then modified the registry's
    files, and failed on a read-only store (a mounted volume, a shared disk)."""
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="vidops-model-"))
    try:
        return mlflow.pyfunc.load_model(model_uri, dst_path=str(folder)), folder
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise


def predict_files(model_uri: str, paths: list[Path], per_call: int = 100) -> pd.DataFrame:
    """Load ``model_uri`` and classify video files; one row per file, in order. A file that
    cannot be read (missing, a folder, no permission) or decoded gets its ``error``, naming
    the file; the others are answered, ``per_call`` files per request to the model."""
    model, folder = load_registered(model_uri)
    try:
        return _predict_files(model, paths, per_call)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _predict_files(model, paths: list[Path], per_call: int) -> pd.DataFrame:
    data: dict[int, bytes] = {}
    errors: dict[int, str] = {}
    for i, path in enumerate(paths):
        try:
            data[i] = path.read_bytes()
        except OSError as err:
            errors[i] = f"{path}: cannot be read ({err.strerror or err})"
    rows: dict[int, dict] = {}
    order = sorted(data)
    for start in range(0, len(order), per_call):
        part = order[start:start + per_call]
        frame = pd.DataFrame({VIDEO_COLUMN: [data[i] for i in part]})
        out = model.predict(frame) if len(part) != 1 else _one(model, frame)
        for i, row in zip(part, out.to_dict("records"), strict=True):
            error = row.get("error")
            if isinstance(error, str):  # "video 3: ..." -> the user's file name
                row["error"] = f"{paths[i]}: {error.split(': ', 1)[-1]}"
            rows[i] = row
    empty = {"label": None, "score": None, "probabilities": None}
    result = pd.DataFrame([rows.get(i) or {**empty, "error": errors[i]} for i in range(len(paths))],
                          columns=["label", "score", "probabilities", "error"], dtype=object)
    result.insert(0, "file", [str(p) for p in paths])
    return result


def _one(model, frame: pd.DataFrame) -> pd.DataFrame:
    try:
        return model.predict(frame)
    except MlflowException as err:
        return pd.DataFrame([{"label": None, "score": None, "probabilities": None,
                              "error": err.message}])
