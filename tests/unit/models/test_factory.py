import pytest
import torch

from vidops.config import CnnConfig, ModelConfig, Video3dConfig
from vidops.models.factory import build_model
from vidops.models.video_nets import frame_differences

NEURAL = ["cnn_lstm", "cnn_pool", "r3d_18", "mc3_18", "r2plus1d_18"]


def _first_conv(model):
    return model.net.stem[0] if hasattr(model, "net") else model.encoder.blocks[0][0]


@pytest.mark.parametrize("arch", NEURAL)
@pytest.mark.parametrize("frame_diff", [True, False])
def test_models_map_uint8_clips_to_logits(arch, frame_diff):
    """Each family reads its own section: `diff` of model.cnn or of model.video3d."""
    diff = int(frame_diff)
    model = build_model(ModelConfig(arch=arch, cnn=CnnConfig(width=4, hidden=8, diff=diff),
                                    video3d=Video3dConfig(diff=diff)), 3)
    clips = torch.randint(0, 256, (2, 5, 32, 32, 3), dtype=torch.uint8)
    out = model(clips)
    assert out.shape == (2, 3) and torch.isfinite(out).all()
    out.sum().backward()  # gradients flow to the first layer
    conv = _first_conv(model)
    assert conv.in_channels == (6 if frame_diff else 3) and conv.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("arch", ["r3d_18", "r2plus1d_18"])
def test_channels_last_3d_gives_the_same_logits(arch):
    torch.manual_seed(0)
    model = build_model(ModelConfig(arch=arch), 4).eval()
    clips = torch.randint(0, 256, (2, 4, 32, 32, 3), dtype=torch.uint8)
    with torch.inference_mode():
        plain = model(clips)
        model.to(memory_format=torch.channels_last_3d)
        fast = model(clips)
    assert _first_conv(model).weight.is_contiguous(memory_format=torch.channels_last_3d)
    assert torch.allclose(plain, fast, atol=1e-4)


def test_lstm_sees_frame_order_but_pooling_does_not():
    torch.manual_seed(0)
    clips = torch.randint(0, 256, (1, 6, 32, 32, 3), dtype=torch.uint8)
    reversed_clips = clips.flip(1)
    pool = build_model(ModelConfig(arch="cnn_pool", cnn=CnnConfig(width=4, diff=0)), 3).eval()
    lstm = build_model(ModelConfig(arch="cnn_lstm", cnn=CnnConfig(width=4, hidden=8, diff=0)), 3).eval()
    assert torch.allclose(pool(clips), pool(reversed_clips), atol=1e-5)
    assert not torch.allclose(lstm(clips), lstm(reversed_clips), atol=1e-5)


def test_frame_differences():
    x = torch.arange(4.0).view(1, 4, 1, 1, 1).expand(1, 4, 3, 2, 2)
    d = frame_differences(x)
    assert d[:, 0].abs().sum() == 0 and (d[:, 1:] == 1).all()


def test_one_class_is_refused():
    with pytest.raises(ValueError, match="at least 2 classes"):
        build_model(ModelConfig(), 1)
