"""What the MLflow UI says about a version, within what the tracking store keeps."""

from dataclasses import replace

from support import some_figures
from vidops.evaluation.figures import RecipeCV
from vidops.registry.descriptions import MAX_DESCRIPTION, TrainedOn, version_description

METRICS = some_figures()
DATA = TrainedOn("abc.dir", {"train": 120, "val": 40, "test": 40})


def test_a_version_says_what_it_is_with_its_interval_and_the_gate():
    text = version_description("m", "3", "flow_linear", ["a", "b"], DATA, METRICS,
                               "promoted", "macro F1 0.8100 >= min_f1 0.5000")
    assert text.startswith("**flow_linear** over 2 classes (a, b).")
    assert "Test macro F1 **0.810** (95% interval 0.700 to 0.900) on 40 test clips" in text
    assert "Gate: **promoted**: macro F1 0.8100 >= min_f1 0.5000." in text
    assert "mlflow models serve -m models:/m/3" in text


def test_hundreds_of_classes_and_a_long_gate_reason_fit_the_stores_column():
    """PostgreSQL refuses a description over 5,000 characters: register would fail."""
    classes = [f"class_{i:03d}" for i in range(400)]
    reason = "recall drops on class " + ", ".join(f"{c} (recall 0.10 vs 0.90)" for c in classes)
    text = version_description("m", "3", "flow_linear", classes, DATA, METRICS,
                               "not promoted", reason)
    assert len(text) <= MAX_DESCRIPTION
    assert "over 400 classes (class_000, class_001," in text and "and 370 more)" in text
    assert "(whole: tag `gate_reason`)" in text and "Serve it:" in text


def test_a_version_says_how_good_its_recipe_is_across_all_clips():
    cv = RecipeCV("scored", folds=5, clips=60, groups=10, macro_f1=0.84, macro_f1_ci=[0.74, 0.92],
                  fold_f1=[0.8, 0.9, 0.85, 0.7, 0.95])
    text = version_description("m", "3", "flow_linear", ["a", "b"], DATA,
                               replace(METRICS, recipe_cv=cv), "promoted", "ok")
    assert "macro F1 **0.840** (95% interval 0.740 to 0.920; folds 0.80" in text
    assert "Recipe cross" not in version_description("m", "3", "flow_linear", ["a", "b"], DATA,
                                                     METRICS, "promoted", "ok")
