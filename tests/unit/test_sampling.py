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
