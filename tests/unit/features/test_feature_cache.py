"""The feature cache computes a clip's features once, and misses whenever an input changed."""

import numpy as np
import pytest

from vidops.errors import DataError
from vidops.features.cache import FeatureCache
from vidops.fileio import digest_path


class Counting:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        self.calls += 1
        return frames.reshape(len(frames), -1).mean(1, keepdims=True)


def _frames(tmp_path, name: str, value: int) -> tuple[str, object]:
    path = tmp_path / f"{name}.npy"
    np.save(path, np.full((4, 8, 8, 3), value, np.uint8))
    return name, path


def test_adding_k_clips_computes_k_and_reuses_the_rest(tmp_path):
    clips = [_frames(tmp_path, f"clip{i}", i) for i in range(5)]
    compute = Counting()
    cache = FeatureCache(tmp_path / "cache", "flow", {"size": 96})
    first = [cache.get(cid, path, compute) for cid, path in clips[:3]]
    assert compute.calls == 3 and (cache.counts.computed, cache.counts.reused) == (3, 0)
    again = FeatureCache(tmp_path / "cache", "flow", {"size": 96})
    second = [again.get(cid, path, compute) for cid, path in clips]
    assert compute.calls == 5 and (again.counts.computed, again.counts.reused) == (2, 3)
    for a, b in zip(first, second[:3], strict=False):
        np.testing.assert_array_equal(a, b)
    assert not list((tmp_path / "cache").rglob("*.tmp"))  # atomic writes leave no debris
    assert (again.dir / "extractor.json").read_text().strip().startswith("{")


def test_new_frames_or_a_new_extractor_miss_the_cache(tmp_path):
    cid, path = _frames(tmp_path, "clip", 10)
    compute = Counting()
    FeatureCache(tmp_path / "cache", "flow", {"size": 96}).get(cid, path, compute)
    np.save(path, np.full((4, 8, 8, 3), 200, np.uint8))  # re-extracted with other parameters
    got = FeatureCache(tmp_path / "cache", "flow", {"size": 96}).get(cid, path, compute)
    assert compute.calls == 2 and got[0, 0] == 200
    other = FeatureCache(tmp_path / "cache", "flow", {"size": 64})
    other.get(cid, path, compute)
    assert compute.calls == 3 and other.counts.computed == 1


def _damage(entry, how: str) -> None:
    if how == "scaled":  # a valid file of the right shape, 50 times the features
        np.save(entry, np.load(entry) * 50)
    elif how == "truncated":
        entry.write_bytes(entry.read_bytes()[:90])
    else:  # killed between the entry and its digest
        digest_path(entry).unlink()


@pytest.mark.parametrize("how", ["scaled", "truncated", "unfinished"])
def test_a_damaged_entry_is_computed_again_and_named(tmp_path, how, caplog):
    cid, path = _frames(tmp_path, "clip", 10)
    compute = Counting()
    cache = FeatureCache(tmp_path / "cache", "flow", {"size": 96})
    good = cache.get(cid, path, compute)
    (entry,) = cache.dir.glob("clip-*.npy")
    _damage(entry, how)
    again = FeatureCache(tmp_path / "cache", "flow", {"size": 96})
    with caplog.at_level("WARNING"):
        got = again.get(cid, path, compute)
    np.testing.assert_array_equal(got, good)
    assert compute.calls == 2 and again.counts.rejected == 1
    assert any(entry.name in r.getMessage() for r in caplog.records)
    # repaired: the next reader reuses it
    third = FeatureCache(tmp_path / "cache", "flow", {"size": 96})
    third.get(cid, path, compute)
    assert third.counts.reused == 1 and compute.calls == 2


def test_an_unreadable_frames_file_is_named(tmp_path):
    cid, path = _frames(tmp_path, "clip", 10)
    path.write_bytes(path.read_bytes()[:60])
    with pytest.raises(DataError, match=str(path)):
        FeatureCache(tmp_path / "cache", "flow", {"size": 96}).get(cid, path, Counting())
