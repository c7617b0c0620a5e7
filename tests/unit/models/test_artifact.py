"""model.json records the input scaling each architecture really uses."""

from __future__ import annotations

import json

import pytest
import torch

from vidops.architectures import ARCHITECTURES, EFFICIENTNET_LITE, IMAGENET, KINETICS
from vidops.config import ExtractConfig, ModelConfig
from vidops.models.artifact import load_model_dir, save_model_dir
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
