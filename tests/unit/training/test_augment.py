"""Training-view augmentation: one draw per clip, never invented motion, reproducible."""

import dataclasses

import pytest
import torch

from vidops.config import AugmentConfig, ConfigError
from vidops.training.augment import augment

ALL = AugmentConfig(crop_scale=0.5, flip=True, color=0.4)


def _static_batch() -> torch.Tensor:
    """4 clips of 5 identical frames each (a still scene), random content per clip."""
    torch.manual_seed(0)
    frames = torch.randint(0, 256, (4, 1, 24, 32, 3), dtype=torch.uint8)
    return frames.expand(4, 5, 24, 32, 3).contiguous()


def test_off_is_the_identity():
    batch = _static_batch()
    assert augment(batch, AugmentConfig(), torch.Generator().manual_seed(0)) is batch


def test_a_still_clip_stays_still_and_keeps_its_format():
    batch = _static_batch()
    out = augment(batch, ALL, torch.Generator().manual_seed(0))
    assert out.shape == batch.shape and out.dtype == torch.uint8
    assert (out == out[:, :1]).all()  # every frame of a clip got the same crop, flip, colour
    assert not torch.equal(out, batch)


def test_same_seed_same_views_other_seed_other_views():
    batch = _static_batch()
    a = augment(batch, ALL, torch.Generator().manual_seed(3))
    b = augment(batch, ALL, torch.Generator().manual_seed(3))
    c = augment(batch, ALL, torch.Generator().manual_seed(4))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_flip_alone_mirrors_or_keeps_each_clip():
    batch = _static_batch()
    out = augment(batch, AugmentConfig(flip=True), torch.Generator().manual_seed(0))
    kinds = [torch.equal(o, b) or torch.equal(o, b.flip(2)) for o, b in zip(out, batch, strict=True)]
    assert all(kinds)
    flipped = [torch.equal(o, b.flip(2)) for o, b in zip(out, batch, strict=True)]
    assert any(flipped) and not all(flipped)  # 4 clips, p = 0.5 each, seed 0: a mix


def test_crop_zooms_in():
    # A frame with a black border and a white centre: a crop sees less border.
    frame = torch.zeros(1, 1, 32, 32, 3, dtype=torch.uint8)
    frame[:, :, 8:24, 8:24] = 255
    out = augment(frame, AugmentConfig(crop_scale=0.3), torch.Generator().manual_seed(1))
    assert out.float().mean() > frame.float().mean()


@pytest.mark.parametrize("field,value", [("crop_scale", 0.0), ("crop_scale", 1.5), ("color", 1.0)])
def test_out_of_range_values_are_refused(field, value):
    with pytest.raises(ConfigError, match=r"train\.augment"):
        dataclasses.replace(AugmentConfig(), **{field: value})
