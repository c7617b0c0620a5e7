"""model.pretrained_weights: what loads, what is left random, and the errors that name the keys."""

import dataclasses

import pytest
import torch
from torchvision.models import video

from vidops.config import CnnConfig, ConfigError, ModelConfig, Video3dConfig
from vidops.models.factory import build_model
from vidops.models.pretrained import PretrainedError

R3D = ModelConfig(arch="r3d_18", video3d=Video3dConfig(diff=0))


def _same(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.shape == b.shape and torch.equal(a, b)


def test_vidops_weights_load_and_a_new_class_count_gets_a_random_head(tmp_path):
    torch.manual_seed(0)
    source = build_model(ModelConfig(arch="cnn_lstm", cnn=CnnConfig(width=4, hidden=8)), 5)
    torch.save(source.state_dict(), tmp_path / "model.pt")
    cfg = ModelConfig(arch="cnn_lstm", pretrained_weights=str(tmp_path / "model.pt"),
                      cnn=CnnConfig(width=4, hidden=8))
    torch.manual_seed(1)
    model = build_model(cfg, 3)
    got, want = model.state_dict(), source.state_dict()
    backbone = [k for k in want if not k.startswith("head.")]
    assert backbone and all(_same(got[k], want[k]) for k in backbone)
    assert got["head.1.weight"].shape == (3, 8)  # 3 classes now, not 5: left random


def test_torchvision_state_dict_loads_into_r3d(tmp_path):
    torch.manual_seed(0)
    kinetics = video.r3d_18(weights=None, num_classes=400)  # the layout of the Kinetics file
    torch.save({"state_dict": kinetics.state_dict()}, tmp_path / "r3d_18_kinetics.pth")
    model = build_model(dataclasses.replace(R3D, pretrained_weights=str(tmp_path / "r3d_18_kinetics.pth")), 4)
    own = model.state_dict()
    assert _same(own["net.stem.0.weight"], kinetics.state_dict()["stem.0.weight"])
    assert _same(own["net.layer4.1.conv2.0.weight"], kinetics.state_dict()["layer4.1.conv2.0.weight"])
    assert own["net.fc.1.weight"].shape == (4, 512)


def test_rgb_stem_is_inflated_for_frame_difference_channels(tmp_path):
    kinetics = video.r3d_18(weights=None)
    torch.save(kinetics.state_dict(), tmp_path / "w.pt")
    cfg = ModelConfig(arch="r3d_18", pretrained_weights=str(tmp_path / "w.pt"))
    model = build_model(cfg, 2)
    stem = model.state_dict()["net.stem.0.weight"]
    assert stem.shape[1] == 6
    assert _same(stem[:, :3], kinetics.state_dict()["stem.0.weight"]) and stem[:, 3:].abs().sum() == 0


def test_another_architecture_is_refused_with_the_key_and_shapes(tmp_path):
    torch.save(video.r3d_18(weights=None).state_dict(), tmp_path / "r3d.pt")
    cfg = ModelConfig(arch="mc3_18", pretrained_weights=str(tmp_path / "r3d.pt"),
                      video3d=Video3dConfig(diff=0))
    with pytest.raises(PretrainedError, match=r"r3d\.pt: net\.layer\d\..* has shape"):
        build_model(cfg, 3)
    pool = build_model(ModelConfig(arch="cnn_pool", cnn=CnnConfig(width=4)), 3)
    torch.save(pool.state_dict(), tmp_path / "pool.pt")
    with pytest.raises(PretrainedError, match=r"missing .*another architecture"):
        build_model(dataclasses.replace(R3D, pretrained_weights=str(tmp_path / "pool.pt")), 3)


def test_width_mismatch_names_the_key(tmp_path):
    wide = build_model(ModelConfig(arch="cnn_pool", cnn=CnnConfig(width=8)), 3)
    torch.save(wide.state_dict(), tmp_path / "w8.pt")
    cfg = ModelConfig(arch="cnn_pool", pretrained_weights=str(tmp_path / "w8.pt"), cnn=CnnConfig(width=4))
    with pytest.raises(PretrainedError, match=r"encoder\.blocks\.0\.0\.weight has shape \(8, 6, 3, 3\) "
                                              r"in the file but \(4, 6, 3, 3\)"):
        build_model(cfg, 3)


@pytest.mark.parametrize("content", [None, b"", b"not a checkpoint", "list"])
def test_missing_or_unreadable_files_are_named(tmp_path, content):
    path = tmp_path / "weights.pt"
    if content == "list":
        torch.save([torch.zeros(2)], path)
    elif content is not None:
        path.write_bytes(content)
    with pytest.raises(PretrainedError, match=r"weights\.pt: "):
        build_model(dataclasses.replace(R3D, pretrained_weights=str(path)), 3)


def test_pretrained_weights_need_an_arch_with_weights_and_only_one_kind():
    for arch in ("motion_linear", "flow_linear"):
        with pytest.raises(ConfigError, match=r"have no weights to load"):
            ModelConfig(arch=arch, pretrained_weights="w.pt")
    with pytest.raises(ConfigError, match=r"one file cannot start cnn_lstm, fusion_linear"):
        ModelConfig(arch="auto", candidates=("motion_linear", "cnn_lstm", "fusion_linear"),
                    pretrained_weights="w.pt")
    # auto among the backbone families (and weightless ones): the file is the backbone's.
    ModelConfig(arch="auto", pretrained_weights="w.pt")
    ModelConfig(arch="r3d_18", pretrained_weights="w.pt")
