from collections import Counter

import pytest

from vidops.splits import split_of


def test_split_is_a_pure_function_of_the_group():
    assert split_of("person7", 0.2, 0.2, "s") == split_of("person7", 0.2, 0.2, "s")


def test_fractions_are_respected_over_many_groups():
    counts = Counter(split_of(f"g{i}", 0.2, 0.1, "salt") for i in range(20000))
    assert abs(counts["val"] / 20000 - 0.2) < 0.015
    assert abs(counts["test"] / 20000 - 0.1) < 0.015


def test_salt_reshuffles():
    a = [split_of(f"g{i}", 0.3, 0.3, "one") for i in range(200)]
    b = [split_of(f"g{i}", 0.3, 0.3, "two") for i in range(200)]
    assert a != b


def test_pinned_groups_win_over_the_hash():
    assert split_of("p3", 0.0, 0.0, "s", {"p3": "test"}) == "test"


def test_pinning_to_an_unknown_split_fails():
    with pytest.raises(ValueError, match="unknown split"):
        split_of("p3", 0.2, 0.2, "s", {"p3": "holdout"})


def test_bad_fractions_fail():
    with pytest.raises(ValueError):
        split_of("g", 0.6, 0.5, "s")
