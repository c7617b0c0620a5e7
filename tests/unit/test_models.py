import pytest
import torch

from vidops.config import ModelConfig
from vidops.models import build_model
from vidops.models.video_nets import frame_differences


@pytest.mark.parametrize("arch", ["cnn_lstm", "cnn_pool"])
@pytest.mark.parametrize("frame_diff", [True, False])
def test_models_map_uint8_clips_to_logits(arch, frame_diff):
    model = build_model(ModelConfig(arch=arch, width=4, hidden=8, frame_diff=frame_diff), 3)
    clips = torch.randint(0, 256, (2, 5, 32, 32, 3), dtype=torch.uint8)
    out = model(clips)
    assert out.shape == (2, 3) and torch.isfinite(out).all()
    out.sum().backward()  # gradients flow to the first layer
    assert model.encoder.blocks[0][0].weight.grad.abs().sum() > 0


def test_lstm_sees_frame_order_but_pooling_does_not():
    torch.manual_seed(0)
    clips = torch.randint(0, 256, (1, 6, 32, 32, 3), dtype=torch.uint8)
    reversed_clips = clips.flip(1)
    pool = build_model(ModelConfig(arch="cnn_pool", width=4, frame_diff=False), 3).eval()
    lstm = build_model(ModelConfig(arch="cnn_lstm", width=4, hidden=8, frame_diff=False), 3).eval()
    assert torch.allclose(pool(clips), pool(reversed_clips), atol=1e-5)
    assert not torch.allclose(lstm(clips), lstm(reversed_clips), atol=1e-5)


def test_frame_differences():
    x = torch.arange(4.0).view(1, 4, 1, 1, 1).expand(1, 4, 3, 2, 2)
    d = frame_differences(x)
    assert d[:, 0].abs().sum() == 0 and (d[:, 1:] == 1).all()


def test_one_class_is_refused():
    with pytest.raises(ValueError, match="at least 2 classes"):
        build_model(ModelConfig(), 1)
