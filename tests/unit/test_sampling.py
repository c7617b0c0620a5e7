import pytest

from vidops.video.sampling import uniform_indices


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
