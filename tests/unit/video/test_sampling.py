import pytest

from vidops.config import ExtractConfig
from vidops.video.sampling import jitter_offsets, sample_indices, uniform_indices


def test_uniform_indices_cover_the_whole_clip_evenly():
    assert uniform_indices(80, 8) == [5, 15, 25, 35, 45, 55, 65, 75]


def test_uniform_indices_are_sorted_and_in_range():
    for n in range(1, 60):
        for t in (1, 4, 8, 16):
            idx = uniform_indices(n, t)
            assert len(idx) == t
            assert idx == sorted(idx)
            assert idx[0] >= 0 and idx[-1] <= n - 1


def test_short_clip_repeats_frames_instead_of_padding():
    assert uniform_indices(3, 6) == [0, 0, 1, 1, 2, 2]


@pytest.mark.parametrize("n, t", [(0, 8), (-1, 8), (10, 0)])
def test_impossible_requests_fail(n, t):
    with pytest.raises(ValueError):
        uniform_indices(n, t)


def test_offsets_shift_every_frame_within_its_segment():
    assert uniform_indices(80, 8, offset=0.0) == [0, 10, 20, 30, 40, 50, 60, 70]
    assert uniform_indices(80, 8, offset=0.9) == [9, 19, 29, 39, 49, 59, 69, 79]


def test_offset_out_of_range_fails():
    with pytest.raises(ValueError, match="offset"):
        uniform_indices(10, 2, offset=1.0)


from vidops.config import ConfigError  # noqa: E402
from vidops.video.sampling import (  # noqa: E402
    ShortClip,
    dense_indices,
    frames_needed,
    segment_indices,
)


def test_dense_takes_consecutive_frames_at_the_stride_centred():
    assert dense_indices(100, 4, 3) == [45, 48, 51, 54]  # span 10, centred in 100
    assert dense_indices(100, 4, 3, offset=0.0) == [0, 3, 6, 9]
    assert dense_indices(100, 4, 3, offset=0.999) == [90, 93, 96, 99]


def test_segment_offsets_are_per_segment():
    assert segment_indices(80, [0.0, 0.5, 0.9, 0.1]) == [0, 30, 58, 62]  # segments of 20


@pytest.mark.parametrize(("policy", "sampling", "expected"), [
    ("stretch", "uniform", [0, 0, 1, 1, 2, 2]),
    ("repeat_last", "uniform", [0, 1, 2, 2, 2, 2]),
    ("loop", "uniform", [0, 1, 2, 0, 1, 2]),
    ("repeat_last", "dense", [0, 2, 2, 2, 2, 2]),  # stride 2 in a 3-frame clip
    ("loop", "dense", [0, 2, 1, 0, 2, 1]),
])
def test_short_clip_policies(policy, sampling, expected):
    cfg = ExtractConfig(num_frames=6, sampling=sampling, stride=2, short_clip=policy)
    assert sample_indices(3, cfg) == expected


def test_short_clip_reject_says_how_short():
    cfg = ExtractConfig(num_frames=6, sampling="dense", stride=2, short_clip="reject")
    assert frames_needed(cfg) == 11
    with pytest.raises(ShortClip, match="10 frames, fewer than the 11"):
        sample_indices(10, cfg)
    assert sample_indices(11, cfg) == [0, 2, 4, 6, 8, 10]


def test_uniform_and_segment_extract_the_same_centred_frames():
    assert (sample_indices(80, ExtractConfig(num_frames=8, sampling="segment"))
            == sample_indices(80, ExtractConfig(num_frames=8)) == uniform_indices(80, 8))


def test_impossible_extract_params_fail_at_load():
    with pytest.raises(ConfigError, match="stride"):
        ExtractConfig(stride=0)


def test_per_segment_offsets_pick_one_frame_in_each_segment():
    cfg = ExtractConfig(num_frames=4, sampling="segment")
    assert sample_indices(40, cfg, [0.0, 0.99, 0.5, 0.25]) == [0, 19, 25, 32]
    with pytest.raises(ValueError, match="3 segment offsets for 4 frames"):
        sample_indices(40, cfg, [0.1, 0.2, 0.3])


@pytest.mark.parametrize("sampling", ["uniform", "segment", "dense"])
def test_jittered_views_are_reproducible_per_clip_and_differ_between_views(sampling):
    cfg = ExtractConfig(num_frames=4, sampling=sampling, stride=2)
    views = jitter_offsets(cfg, "clip-a", 3)
    assert views == jitter_offsets(cfg, "clip-a", 3) and views != jitter_offsets(cfg, "clip-b", 3)
    indices = [sample_indices(100, cfg, v) for v in views]
    assert len({tuple(i) for i in indices}) == 3
    for idx in indices:
        assert idx == sorted(idx) and all(0 <= i < 100 for i in idx)
        if sampling != "dense":  # still one frame per quarter of the clip
            assert [i * 4 // 100 for i in idx] == [0, 1, 2, 3]
