from vidops.gate import decide


def test_below_min_f1_is_never_promoted_even_without_champion():
    d = decide(0.55, None, 0.6, 0.0)
    assert not d.promote and "below min_f1" in d.reason


def test_first_model_above_the_bar_is_promoted():
    assert decide(0.7, None, 0.6, 0.0).promote


def test_worse_than_champion_is_refused():
    d = decide(0.80, 0.85, 0.6, 0.0)
    assert not d.promote and "champion 0.8500" in d.reason


def test_min_delta_is_required_over_the_champion():
    assert not decide(0.86, 0.85, 0.6, 0.02).promote
    assert decide(0.87, 0.85, 0.6, 0.02).promote


def test_tie_with_zero_delta_promotes():
    assert decide(0.85, 0.85, 0.6, 0.0).promote


def test_most_confused_pairs_are_ranked():
    import numpy as np

    from vidops.metrics import most_confused

    m = np.array([[5, 2, 0], [0, 4, 3], [1, 0, 6]])
    assert most_confused(m, ["a", "b", "c"], top=2) == [
        {"true": "b", "predicted": "c", "clips": 3}, {"true": "a", "predicted": "b", "clips": 2}]
