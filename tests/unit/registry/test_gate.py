from vidops.evaluation.intervals import paired_difference
from vidops.registry.gate import decide


def test_below_min_f1_is_never_promoted_even_without_champion():
    d = decide(0.55, None, 0.6, 0.0)
    assert not d.promote and "below min_f1" in d.reason


def test_first_model_above_the_bar_is_promoted():
    assert decide(0.7, None, 0.6, 0.0).promote
    assert decide(0.7, None, 0.6, 0.05, rule="paired").promote  # nothing to pair with yet


def test_worse_than_champion_is_refused():
    d = decide(0.80, 0.85, 0.6, 0.0)
    assert not d.promote and "champion 0.8500" in d.reason


def test_min_delta_is_required_over_the_champion():
    assert not decide(0.86, 0.85, 0.6, 0.02).promote
    assert decide(0.87, 0.85, 0.6, 0.02).promote


def test_tie_with_zero_delta_promotes():
    assert decide(0.85, 0.85, 0.6, 0.0).promote


CLASSES = ["a", "b", "c"]
TRUTH = [CLASSES[i % 3] for i in range(12)]


def _wrong(indices):
    return [CLASSES[(CLASSES.index(t) + 1) % 3] if i in indices else t for i, t in enumerate(TRUTH)]


def _f1(pred):
    from sklearn.metrics import f1_score

    return float(f1_score(TRUTH, pred, average="macro"))


def _decide(challenger, champion, rule="paired", min_delta=0.05, **kw):
    paired = paired_difference(TRUTH, challenger, champion, CLASSES, [str(i) for i in range(12)])
    return decide(_f1(challenger), _f1(champion), 0.0, min_delta, rule, paired, **kw)


def test_equal_skill_with_a_luckier_score_is_refused_by_the_paired_rule():
    # Both miss 2 of 12 test clips' worth of skill; the challenger drew one fewer miss here.
    champion, challenger = _wrong({0, 4, 8}), _wrong({1, 5})
    assert decide(_f1(challenger), _f1(champion), 0.0, 0.0).promote  # the point rule is fooled
    paired = _decide(challenger, champion)
    assert not paired.promote and paired.reason.startswith("may be worse by more than min_delta")
    assert "lower end <= -0.0500 (paired rule)" in paired.reason


def test_a_credibly_better_challenger_is_promoted_under_both_paired_rules():
    champion, challenger = _wrong({0, 1, 2, 3, 4, 5, 6}), TRUTH
    for rule in ("paired", "paired_better"):
        decision = _decide(challenger, champion, rule=rule)
        assert decision.promote, decision.reason


def test_a_challenger_blind_to_one_class_is_refused_naming_it():
    champion = _wrong({0})
    challenger = [("a" if t == "b" else t) for t in TRUTH]  # never says b
    recalls = {"a": (1.0, 0.75), "b": (0.0, 1.0), "c": (1.0, 1.0)}
    decision = _decide(challenger, champion, rule="point", min_delta=-1.0, recalls=recalls,
                       max_class_drop=0.5)
    assert not decision.promote and decision.class_drops == {"b": 1.0}
    assert "on class b (recall 0.00 vs champion 1.00)" in decision.reason
