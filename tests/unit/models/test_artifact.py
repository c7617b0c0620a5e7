"""model.json records the input scaling each architecture really uses; mlflow_run.json, written
last, says the folder is finished and which files it holds."""

from __future__ import annotations

import json

import pytest
import torch

from vidops.architectures import ARCHITECTURES, EFFICIENTNET_LITE, IMAGENET, KINETICS
from vidops.config import CnnConfig, ExtractConfig, ModelConfig
from vidops.errors import DataError
from vidops.models.artifact import load_model_dir, model_identity, save_model_dir
from vidops.models.factory import build_model


@pytest.mark.parametrize("arch, expected", [("r3d_18", KINETICS), ("cnn_pool", IMAGENET),
                                            ("appearance_tsn", EFFICIENTNET_LITE)])
def test_model_json_records_the_normalisation_the_network_applies(tmp_path, arch, expected):
    model = build_model(ModelConfig(arch=arch), 3, load_weights=False)
    save_model_dir(tmp_path, model, ModelConfig(arch=arch), ExtractConfig(), ["a", "b", "c"], "run")
    recorded = json.loads((tmp_path / "model.json").read_text())["normalisation"]
    assert recorded["name"] == expected.name
    # The buffers the network normalises with hold the same numbers (0-1 or 0-255 scale).
    net = model.embedder if arch == "appearance_tsn" else model
    mean = net.mean.flatten() / (255 if arch == "appearance_tsn" else 1)
    assert torch.allclose(mean, torch.tensor(recorded["mean"]))
    assert load_model_dir(tmp_path).classes == ["a", "b", "c"]


def test_feature_families_record_each_stream():
    fusion = ARCHITECTURES["fusion_linear"].normalisation()
    assert set(fusion["streams"]) == {"flow", "appearance"}
    assert fusion["streams"]["appearance"]["mean"] == list(EFFICIENTNET_LITE.mean)
    assert "mean" not in ARCHITECTURES["motion_linear"].normalisation()  # grey levels, no mean/std


def _save(folder, classes, run_id, seed):
    torch.manual_seed(seed)
    config = ModelConfig(arch="cnn_pool", cnn=CnnConfig(width=4))
    save_model_dir(folder, build_model(config, len(classes), load_weights=False), config,
                   ExtractConfig(), classes, run_id)


def test_a_finished_folder_names_its_run_and_files(tmp_path):
    _save(tmp_path, ["a", "b"], "run-1", 0)
    identity = model_identity(tmp_path)
    assert identity.run_id == "run-1" and set(identity.files) == {"model.pt", "model.json"}


def test_a_folder_killed_while_it_was_replaced_is_refused(tmp_path, monkeypatch):
    """DVC keeps train's model folder in place while train runs (persist): a kill after the new
    weights but before the rest leaves one training's weights beside another's config."""
    _save(tmp_path, ["a", "b"], "run-1", 0)
    from vidops.models import artifact

    def killed(*args, **kwargs):
        raise KeyboardInterrupt  # stands for SIGKILL: nothing after it runs

    # The new weights are written (atomic_write), then the process dies at the next write.
    monkeypatch.setattr(artifact, "atomic_write_json", killed)
    with pytest.raises(KeyboardInterrupt):
        _save(tmp_path, ["a", "b"], "run-2", 1)
    monkeypatch.undo()
    load_model_dir(tmp_path)  # new weights, old config: loadable, so only the record can tell
    with pytest.raises(DataError, match=r"not finished \(mlflow_run.json is written last"):
        model_identity(tmp_path)


@pytest.mark.parametrize("damage, expected", [
    (lambda d: (d / "model.pt").write_bytes((d / "model.pt").read_bytes()[:-8]),
     r"model.pt: not the file the training wrote"),
    (lambda d: (d / "model.json").write_text("{}"), r"model.json: not the file the training wrote"),
    (lambda d: (d / "mlflow_run.json").write_text('{"run_id": "x"}'), r"written by an older vidops"),
    (lambda d: (d / "model.pt").unlink(), r"not a model folder"),
])
def test_a_folder_that_is_not_what_train_wrote_is_refused(tmp_path, damage, expected):
    _save(tmp_path, ["a", "b"], "run-1", 0)
    damage(tmp_path)
    with pytest.raises(DataError, match=expected):
        model_identity(tmp_path)
