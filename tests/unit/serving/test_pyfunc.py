"""The pyfunc's own logic on a real (randomly initialised) model folder, without MLflow."""

import base64
from types import SimpleNamespace

import pandas as pd
import pytest
import torch
from mlflow.exceptions import MlflowException

from vidops.config import ExtractConfig, ModelConfig
from vidops.models.artifact import save_model_dir
from vidops.models.factory import build_model
from vidops.serving.pyfunc import VideoClassifier

CLASSES = ["a", "b", "c"]


@pytest.fixture
def model(tmp_path):
    torch.manual_seed(0)
    cfg = ModelConfig(arch="cnn_lstm", width=4, hidden=8)
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
