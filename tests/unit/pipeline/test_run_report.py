"""The result a flow run leaves on its Prefect page, as markdown."""

from dataclasses import replace
from pathlib import Path

from vidops.evaluation.figures import RecipeCV, TestFigures
from vidops.pipeline.run_report import result_markdown
from vidops.registry.decision import Decision

SUMMARY = {"stages": {"ingest": "ran", "train": "ran", "register": "ran"},
           "seconds": {"train": 12.5}}
FIGURES = TestFigures(accuracy=0.83, n_clips=12, macro_precision=0.8, macro_recall=0.8,
                      macro_f1=0.8125, weighted_precision=0.8, weighted_recall=0.8,
                      weighted_f1=0.82, per_class={}, classes=["a", "b"],
                      confusion_matrix=[[5, 1], [1, 5]], most_confused=[],
                      accuracy_ci=[0.6, 0.95], macro_f1_ci=[0.61, 0.93], bootstrap={})


def _decision(**changes) -> Decision:
    return Decision(**{"model_name": "vidops-classifier", "version": "3", "run_id": "r",
                       "candidate_f1": 0.8125, "champion_version": None, "champion_f1": None,
                       "promoted": True, "reason": "macro F1 0.812 >= 0.5", **changes})


def test_figures_come_with_their_interval_and_the_gate_with_its_reason(monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow.team:5000/")
    text = result_markdown(SUMMARY, Path("/p"), FIGURES, _decision())
    assert "| macro F1 | 0.812 (95% interval 0.610 to 0.930) |" in text
    assert "**Gate:** promoted to `champion`: macro F1 0.812 >= 0.5" in text
    assert ("**Registered:** [vidops-classifier version 3](http://mlflow.team:5000/#/models/"
            "vidops-classifier/versions/3?workflowType=machine_learning)") in text
    assert "| train | ran | 12.5 |" in text


def test_a_local_store_gets_the_command_that_opens_it(monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    text = result_markdown(SUMMARY, Path("/p"), FIGURES,
                           _decision(promoted=False, reason="below the bar"))
    assert "**Gate:** not promoted: below the bar" in text
    assert "`mlflow ui --backend-store-uri sqlite:////p/mlruns/mlflow.db --port 5000`, then " \
        "http://127.0.0.1:5000/#/models/" in text


def test_a_retrain_that_registered_nothing_does_not_claim_a_registration(monkeypatch):
    """The champion's twin: promotion.json names the champion's version, not a new one."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    text = result_markdown(SUMMARY, Path("/p"), FIGURES, _decision(
        promoted=False, registered=False,
        reason="same code, data and params as champion version 3: nothing registered"))
    assert "**Registered:**" not in text
    assert "**Champion, unchanged:** vidops-classifier version 3" in text


CV = RecipeCV("scored", folds=5, clips=60, groups=10, macro_f1=0.84, macro_f1_ci=[0.74, 0.92],
              fold_f1=[0.8, 0.9, 0.85, 0.7, 0.95])


def test_the_recipe_cross_validation_stands_beside_the_test_figure(monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    text = result_markdown(SUMMARY, Path("/p"), replace(FIGURES, recipe_cv=CV), _decision())
    assert ("Recipe cross-validated over all 60 usable clips (10 groups, 5 folds by group, "
            "chosen and fitted inside each fold): macro F1 **0.840** (95% interval 0.740 to "
            "0.920; folds 0.80, 0.90, 0.85, 0.70, 0.95).") in text
    skipped = result_markdown(SUMMARY, Path("/p"), replace(FIGURES,
        recipe_cv=RecipeCV("off: evaluate.recipe_cv is off")), _decision())
    assert "Recipe cross-validation off: evaluate.recipe_cv is off." in skipped
    assert "Recipe cross" not in result_markdown(SUMMARY, Path("/p"), FIGURES, _decision())


def test_the_records_read_back_what_they_wrote(tmp_path):
    """#32: metrics.json and promotion.json are written and read through these records."""
    figures = replace(FIGURES, recipe_cv=CV, video_level=replace(FIGURES, views=3), level="clip")
    figures.write(tmp_path / "metrics.json")
    assert TestFigures.read(tmp_path / "metrics.json") == figures
    _decision().write(tmp_path / "promotion.json")
    assert Decision.read(tmp_path / "promotion.json") == _decision()


def test_the_confusion_table_stays_readable_past_ten_classes():
    """#31: a 10-class matrix as a table is 11 columns wide and Prefect shows five of them;
    past five classes each row says what its class was taken for instead."""
    from vidops.pipeline.run_report import confusion_rows

    small = confusion_rows(["a", "b"], [[3, 1], [0, 4]])
    assert small == [{"true label": "a", "predicted a": 3, "predicted b": 1},
                     {"true label": "b", "predicted a": 0, "predicted b": 4}]
    six = confusion_rows(list("abcdef"), [[1 if i == j else 0 for j in range(6)] for i in range(6)])
    assert len(six) == 6 and all(len(r) == 4 for r in six)
    classes = [f"c{i}" for i in range(50)]
    matrix = [[5 if i == j else 0 for j in range(50)] for i in range(50)]
    matrix[7][3], matrix[7][9] = 2, 1
    rows = confusion_rows(classes, matrix)
    assert len(rows) == 50 and all(len(r) == 4 for r in rows)
    assert rows[7] == {"true label": "c7", "clips": 8, "right": 5, "taken for": "c3 (2), c9 (1)"}
    assert rows[0]["taken for"] == "none"
