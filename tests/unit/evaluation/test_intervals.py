"""Bootstrap intervals: they cover the point estimate, shrink with data, and respect groups."""

import numpy as np
import pytest
from sklearn.metrics import f1_score

from vidops.evaluation.intervals import intervals, paired_difference, resampling_units

CLASSES = ["a", "b", "c"]


def _predictions(n: int, accuracy: float, seed: int) -> tuple[list[str], list[str]]:
    rng = np.random.default_rng(seed)
    truth = [CLASSES[i % 3] for i in range(n)]
    pred = [t if rng.random() < accuracy else CLASSES[(CLASSES.index(t) + 1) % 3] for t in truth]
    return truth, pred


def test_interval_covers_the_estimate_and_narrows_with_more_clips():
    widths = []
    for n in (12, 120, 1200):
        truth, pred = _predictions(n, 0.8, seed=n)
        out = intervals(truth, pred, CLASSES, [str(i) for i in range(n)])
        low, high = out["macro_f1_ci"]
        assert low <= f1_score(truth, pred, average="macro") <= high
        assert out["bootstrap"] == {"resamples": 2000, "level": 0.95, "unit": "video", "units": n}
        widths.append(high - low)
    assert widths[0] > 2 * widths[1] > 4 * widths[2]


def test_same_predictions_give_the_same_interval():
    truth, pred = _predictions(30, 0.7, seed=1)
    groups = [str(i) for i in range(30)]
    assert intervals(truth, pred, CLASSES, groups) == intervals(truth, pred, CLASSES, groups)


def test_groups_are_resampled_whole_when_there_are_enough():
    assert resampling_units(["p1", "p1", "p2", "p3", "p4", "p5"]).kind == "group"
    few = resampling_units(["p1", "p1", "p2", "p2"])
    assert few.kind == "video" and "too few" in few.note
    # Clips of one group that are all right or all wrong together: resampling groups sees
    # 6 units, not 60, and gives a wider interval than pretending the clips are independent.
    truth = [CLASSES[i % 3] for i in range(60)]
    pred = [t if (i // 10) % 2 == 0 else "a" for i, t in enumerate(truth)]
    grouped = intervals(truth, pred, CLASSES, [f"g{i // 10}" for i in range(60)])
    flat = intervals(truth, pred, CLASSES, [str(i) for i in range(60)])
    assert grouped["bootstrap"]["unit"] == "group"
    width = lambda o: o["macro_f1_ci"][1] - o["macro_f1_ci"][0]  # noqa: E731
    assert width(grouped) > 1.5 * width(flat)


def test_paired_difference_sees_through_shared_luck():
    truth, pred = _predictions(40, 0.75, seed=3)
    groups = [str(i) for i in range(40)]
    same = paired_difference(truth, pred, pred, CLASSES, groups)
    assert same.difference == 0.0 and same.ci == [0.0, 0.0]
    better = list(truth[:30]) + pred[30:]  # right wherever the other was, and more
    diff = paired_difference(truth, better, pred, CLASSES, groups)
    assert diff.difference > 0 and diff.ci[0] > 0
    expected = f1_score(truth, better, average="macro") - f1_score(truth, pred, average="macro")
    assert diff.difference == pytest.approx(expected)


def test_all_right_answers_still_get_an_interval_of_nonzero_width():
    from vidops.evaluation.intervals import intervals, wilson

    truth = ["a", "b", "c"] * 3
    out = intervals(truth, truth, ["a", "b", "c"], [str(i) for i in range(9)])
    low, high = out["accuracy_ci"]
    assert high == 1.0 and 0.6 < low < 0.75  # 9 of 9: Wilson's lower end is 0.70
    assert "Wilson" in out["bootstrap"]["note"]
    # Macro F1 too: a posterior over each class's predictions, not the bootstrap's [1, 1].
    f1_low, f1_high = out["macro_f1_ci"]
    assert f1_high == 1.0 and 0.5 < f1_low < 0.8
    more = ["a", "b", "c"] * 30
    assert intervals(more, more, ["a", "b", "c"], [str(i) for i in range(90)])["macro_f1_ci"][0] > 0.9
    wrong = intervals(truth, truth[1:] + truth[:1], ["a", "b", "c"], [str(i) for i in range(9)])
    assert wrong["macro_f1_ci"][0] == 0.0 and 0.1 < wrong["macro_f1_ci"][1] < 0.5
    assert wilson(0, 9)[0] == 0.0 and wilson(9, 9) == out["accuracy_ci"]


def test_all_right_answers_in_groups_count_the_groups_not_the_clips():
    """With several clips per group the all-right interval was Wilson's of 30 clips over 10
    groups: a proportion of 3, a NaN half-width, and [0, 1] where [0.72, 1] is right."""
    from vidops.evaluation.intervals import intervals, wilson

    truth = ["a", "b", "c"] * 10
    groups = [f"g{i // 3}" for i in range(30)]
    out = intervals(truth, truth, ["a", "b", "c"], groups)
    assert out["bootstrap"]["unit"] == "group" and out["accuracy_ci"] == wilson(10, 10)
    assert 0.65 < out["accuracy_ci"][0] < 0.75
    with pytest.raises(ValueError, match="9 successes of 3"):
        wilson(9, 3)


def test_a_class_whose_clips_one_resample_misses_keeps_its_score_in_that_resample():
    """#31's 10-class project read 0.860 [0.86, 1.00]: the one class it always missed had
    all its clips in one group, and every resample that left that group out averaged over
    the other classes only, so read higher: the interval sat above its own estimate."""
    classes = ["a", "b", "c", "d", "e"]
    truth, pred, groups = [], [], []
    for g in range(8):
        for c in classes[:4]:  # a..d right, in every group
            truth.append(c)
            pred.append(c)
            groups.append(f"g{g}")
    truth += ["e", "e"]  # class e: two clips, one group, both taken for a
    pred += ["a", "a"]
    groups += ["g8", "g8"]
    point = f1_score(truth, pred, labels=classes, average="macro", zero_division=0)
    out = intervals(truth, pred, classes, groups)
    low, high = out["macro_f1_ci"]
    assert out["bootstrap"]["unit"] == "group"
    assert low < point <= high, (low, point, high)
    assert high < 1.0  # e's F1 of 0 is in every resample: no resample reads perfect
