"""The split ledger: balanced per class, stable as data grows, honest when it cannot be."""

from collections import Counter

import numpy as np
import pytest

from vidops.data.splits import (
    SplitError,
    Targets,
    assign,
    check_coverage,
    read_ledger,
    write_ledger,
    written_splits,
)

TARGETS = Targets(val=0.2, test=0.2)


def _groups(n: int, seed: int, classes: int = 4) -> dict[str, Counter]:
    """``n`` groups with random clip counts per class (0 to 6 each, at least one clip)."""
    rng = np.random.default_rng(seed)
    out = {}
    for g in range(n):
        counts = rng.integers(0, 7, classes)
        counts[rng.integers(classes)] += 1
        out[f"person{g}"] = Counter({f"c{k}": int(v) for k, v in enumerate(counts) if v})
    return out


@pytest.mark.parametrize("n", [10, 20, 50])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_every_class_is_within_one_group_of_its_target_share(n, seed):
    groups = _groups(n, seed)
    ledger = assign(groups, {}, TARGETS, "s")
    for label in {c for g in groups.values() for c in g}:
        total = sum(g[label] for g in groups.values())
        biggest = max(g[label] for g in groups.values())
        for split in ("train", "val", "test"):
            got = sum(g[label] for name, g in groups.items() if ledger[name] == split)
            assert abs(got - TARGETS.share(split) * total) <= biggest, (label, split, got, total)


def test_adding_groups_never_moves_a_recorded_one():
    groups = _groups(20, 3)
    first = assign(dict(list(groups.items())[:8]), {}, TARGETS, "s")
    later = assign(groups, first, TARGETS, "s")
    assert all(later[g] == split for g, split in first.items())
    more = {**groups, **{f"new{i}": Counter({"c0": 3}) for i in range(5)}}
    assert all(assign(more, later, TARGETS, "s")[g] == s for g, s in later.items())


def test_three_groups_give_one_to_each_split_whatever_their_names():
    for names in (["1", "2", "3"], ["a", "b", "c"], ["zed", "person", "cam"]):
        groups = {n: Counter({"wave": 3, "clap": 3}) for n in names}
        assert sorted(assign(groups, {}, TARGETS, "vidops").values()) == ["test", "train", "val"]


def test_assignment_is_deterministic_and_pins_win():
    groups = _groups(12, 4)
    assert assign(groups, {}, TARGETS, "s") == assign(dict(reversed(groups.items())), {}, TARGETS, "s")
    pinned = assign(groups, {"person0": "train"}, TARGETS, "s", {"person0": "test"})
    assert pinned["person0"] == "test"
    with pytest.raises(SplitError, match="unknown split 'holdout'"):
        assign(groups, {}, TARGETS, "s", {"person0": "holdout"})


def test_two_groups_or_a_class_in_one_group_are_refused_naming_the_fix(tmp_path):
    two = {"a": Counter({"x": 2, "y": 2}), "b": Counter({"x": 2, "y": 2})}
    with pytest.raises(SplitError, match=r"2 group\(s\) \(a, b\) cannot fill the 3 splits"):
        check_coverage(two, assign(two, {}, TARGETS, "s"), TARGETS, tmp_path / "splits.csv")
    lonely = {**{g: Counter({"x": 2}) for g in "abcd"}, "e": Counter({"rare": 2})}
    ledger = assign(lonely, {}, TARGETS, "s")
    with pytest.raises(SplitError, match=r"class 'rare' has no clip in the \w+ split: .* group\(s\) e "
                                         r"only.*ingest\.group_splits"):
        check_coverage(lonely, ledger, TARGETS, tmp_path / "splits.csv")
    # No val split asked for: two groups are enough.
    check_coverage(two, assign(two, {}, Targets(0.0, 0.5), "s"), Targets(0.0, 0.5), tmp_path)


def test_ledger_round_trips_and_bad_rows_are_named(tmp_path):
    path = tmp_path / "splits.csv"
    write_ledger(path, {"p2": "val", "p1": "train"})
    assert read_ledger(path) == {"p1": "train", "p2": "val"}
    assert [r.split(",")[:2] for r in path.read_text().splitlines()] == [
        ["group", "split"], ["p1", "train"], ["p2", "val"]]
    assert written_splits(path) == {"p1": "train", "p2": "val"}
    path.write_text(path.read_text().replace("p1,train", "p1,test"))  # the check stays train's
    assert read_ledger(path)["p1"] == "test" and written_splits(path)["p1"] == "train"
    path.write_text("group,split\np1,train\n")  # a ledger from before the checks
    assert read_ledger(path) == {"p1": "train"} and written_splits(path) == {}
    path.write_text("group,split\np1,holdout\n")
    with pytest.raises(SplitError, match=r"splits\.csv:2: group 'p1' has unknown split 'holdout'"):
        read_ledger(path)
