"""The pyfunc's own logic on a real (randomly initialised) model folder, without MLflow."""

import base64
from types import SimpleNamespace

import mlflow.pyfunc
import pandas as pd
import pytest
import torch
from mlflow.exceptions import MlflowException

from vidops.config import CnnConfig, ExtractConfig, ModelConfig
from vidops.models.artifact import save_model_dir
from vidops.models.factory import build_model
from vidops.serving.pyfunc import VideoClassifier

CLASSES = ["a", "b", "c"]


@pytest.fixture
def model(tmp_path):
    torch.manual_seed(0)
    cfg = ModelConfig(arch="cnn_lstm", cnn=CnnConfig(width=4, hidden=8))
    save_model_dir(tmp_path / "model", build_model(cfg, 3), cfg, ExtractConfig(num_frames=4, size=32),
                   CLASSES, "run-id")
    served = VideoClassifier()
    served.load_context(SimpleNamespace(artifacts={"model_dir": str(tmp_path / "model")},
                                        model_config={"max_video_bytes": 200_000}))
    return served


def test_bytes_and_base64_give_the_same_answer(model, numbered_video):
    data = numbered_video(30).read_bytes()
    raw = model.predict(None, pd.DataFrame({"video": [data]}))
    b64 = model.predict(None, pd.DataFrame({"video": [base64.b64encode(data).decode()]}))
    assert raw.loc[0, "label"] in CLASSES
    assert set(raw.loc[0, "probabilities"]) == set(CLASSES)
    assert sum(raw.loc[0, "probabilities"].values()) == pytest.approx(1.0, abs=1e-5)
    assert raw.loc[0, "probabilities"] == pytest.approx(b64.loc[0, "probabilities"])
    assert raw.loc[0, "score"] == max(raw.loc[0, "probabilities"].values())


@pytest.mark.parametrize("value, message", [
    (b"\x00not a video" * 10, "video 0: not a readable video"),
    (b"", "video 0: empty video"),
    ("%%% not base64 %%%", "base64"),
    (b"x" * 200_001, "over the limit"),
    (12, "expected bytes"),
])
def test_bad_requests_get_a_clear_invalid_parameter_error(model, value, message):
    with pytest.raises(MlflowException, match=message) as err:
        model.predict(None, pd.DataFrame({"video": [value]}))
    assert err.value.get_http_status_code() == 400


def test_missing_column_is_named(model):
    with pytest.raises(MlflowException, match="'video' column"):
        model.predict(None, pd.DataFrame({"path": ["/etc/passwd"]}))


def test_one_bad_video_in_a_batch_costs_its_row_only(model, numbered_video):
    """#22: one bad clip failed the whole request; now each row has a prediction or an error."""
    good = numbered_video(30).read_bytes()
    out = model.predict(None, pd.DataFrame({"video": [good, b"garbage" * 20, good]}))
    assert list(out.columns) == ["label", "score", "probabilities", "error"]
    assert out.loc[0, "label"] in CLASSES and out.loc[2, "label"] == out.loc[0, "label"]
    assert pd.isna(out.loc[0, "error"]) and pd.isna(out.loc[1, "label"])
    assert out.loc[1, "error"].startswith("video 1: not a readable video")


def test_predict_files_names_the_users_file(model, numbered_video, tmp_path, monkeypatch):
    import mlflow.pyfunc

    from vidops.serving.pyfunc import predict_files

    class Loaded:  # what mlflow.pyfunc.load_model returns, around this VideoClassifier
        def predict(self, frame):
            return model.predict(None, frame)

    monkeypatch.setattr(mlflow.pyfunc, "load_model", lambda uri, dst_path=None: Loaded())
    bad = tmp_path / "garbage.mp4"
    bad.write_bytes(b"not a video" * 30)
    out = predict_files("models:/m@champion", [numbered_video(30), bad])
    assert pd.isna(out.loc[0, "error"])
    assert out.loc[1, "error"].startswith(f"{bad}: not a readable video")
    (alone,) = predict_files("models:/m@champion", [bad])["error"]
    assert alone.startswith(f"{bad}: not a readable video")
    # #30: a missing file or a folder raised a traceback and nothing was answered
    missing = tmp_path / "gone.mp4"
    out = predict_files("models:/m@champion", [missing, numbered_video(30), tmp_path], per_call=1)
    assert out.loc[0, "error"].startswith(f"{missing}: cannot be read (No such file")
    assert out.loc[1, "label"] in CLASSES and pd.isna(out.loc[1, "error"])
    assert out.loc[2, "error"].startswith(f"{tmp_path}: cannot be read (Is a directory")
    assert list(out["file"]) == [str(missing), str(out.loc[1, "file"]), str(tmp_path)]


def test_a_null_or_non_base64_entry_costs_its_row_through_mlflows_parsing(model, numbered_video):
    """#30: MLflow decoded the binary video column for the whole batch before the model ran,
    so one null or one entry that is not base64 answered 400 for every video. Parsed as
    vidops serve parses it (and as the string column new versions declare), each row arrives."""
    import json

    from mlflow.pyfunc import scoring_server
    from mlflow.types import ColSpec, DataType, Schema

    from vidops.serving.server import parse_schema

    old = Schema([ColSpec(DataType.binary, "video")])  # what versions before this declared
    good = base64.b64encode(numbered_video(30).read_bytes()).decode()
    body = json.dumps({"dataframe_split": {"columns": ["video"],
                                           "data": [[good], [None], ["%% not base64 %%"]]}})
    with pytest.raises(MlflowException, match="Failed to convert column video"):
        scoring_server._parse_json_data(body, None, old)  # the old way: the batch refused
    served = SimpleNamespace(metadata=SimpleNamespace(get_input_schema=lambda: old))
    parsed = scoring_server._parse_json_data(body, None, parse_schema(served))
    out = model.predict(None, parsed.data)
    assert out.loc[0, "label"] in CLASSES and pd.isna(out.loc[0, "error"])
    assert out.loc[1, "error"] == "video 1: no video (null)"
    assert "base64" in out.loc[2, "error"]


def test_too_many_videos_are_refused_before_any_is_decoded(model, monkeypatch):
    from vidops.serving import pyfunc

    model.max_clips = 3
    decoded = []
    monkeypatch.setattr(pyfunc, "sample_bytes", lambda *a: decoded.append(1))
    with pytest.raises(MlflowException, match=r"4 videos in one request is over the limit of 3 "
                                              r"\(serve.max_clips\)") as err:
        model.predict(None, pd.DataFrame({"video": [b"x"] * 4}))
    assert err.value.get_http_status_code() == 400 and decoded == []


def test_videos_are_decoded_and_scored_a_chunk_at_a_time(model, numbered_video):
    """Memory per request is one chunk of clips' frames, however many videos it holds."""
    from vidops.serving.pyfunc import CHUNK

    batches = []
    predict = model.loaded.predict_proba

    def recorded(clips, *args):
        batches.append(len(clips))
        return predict(clips, *args)

    model.loaded = SimpleNamespace(frames=model.loaded.frames, classes=model.loaded.classes,
                                   predict_proba=recorded)
    videos = [numbered_video(30).read_bytes()] * (2 * CHUNK + 3) + [None]
    out = model.predict(None, pd.DataFrame({"video": videos}))
    assert batches == [CHUNK, CHUNK, 3]
    assert out["label"].iloc[:-1].notna().all() and out.loc[len(videos) - 1, "error"].endswith("(null)")


class Echo(mlflow.pyfunc.PythonModel):
    def predict(self, context, model_input, params=None):
        return model_input


def test_loading_a_registered_model_writes_nothing_into_the_store(tmp_path, monkeypatch):
    """#30: serving from a read-only store failed: MLflow loads a local store's model in
    place and writes its registered_model_meta file there."""
    from vidops.serving.pyfunc import load_registered

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    mlflow.set_tracking_uri(uri)
    experiment = mlflow.create_experiment("e", artifact_location=(tmp_path / "store").as_uri())
    with mlflow.start_run(experiment_id=experiment):
        mlflow.pyfunc.log_model(name="model", python_model=Echo(), registered_model_name="echo")

    def written() -> list:
        return list((tmp_path / "store").rglob("registered_model_meta"))

    model, folder = load_registered("models:/echo/1")
    assert written() == [] and folder.is_dir()
    assert model.predict(pd.DataFrame({"x": [1]}))["x"].tolist() == [1]
    mlflow.pyfunc.load_model("models:/echo/1")  # MLflow left to choose: into the store
    assert written() != []
