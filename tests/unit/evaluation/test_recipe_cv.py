"""Recipe cross-validation: nested, over every usable clip, and at chance when labels are noise."""

import numpy as np
import pytest

from vidops.config import EvaluateConfig, HeadsConfig, ModelConfig, TrainConfig
from vidops.data.clips import UsableClip
from vidops.evaluation.recipe_cv import Recipe, run_recipe_cv, why_not

STEPS = {"still": 0, "slow": 2, "fast": 5}


def _clip(step: int, seed: int) -> np.ndarray:
    """A textured square moving ``step`` pixels per frame on a noisy grey field."""
    rng = np.random.default_rng(seed)
    out = rng.integers(100, 140, (6, 48, 48, 3), dtype=np.uint8)
    texture = rng.integers(0, 255, (12, 12, 3), dtype=np.uint8)
    for t in range(6):
        x = 4 + step * t + int(rng.integers(0, 3))
        out[t, 18:30, x:x + 12] = texture
    return out


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    """36 clips of three speeds, 9 groups (people) of four clips, in every split."""
    root = tmp_path_factory.mktemp("clips")
    made = []
    for i in range(36):
        label = list(STEPS)[i % 3]
        path = root / f"c{i}.npy"
        np.save(path, _clip(STEPS[label], seed=i))
        made.append(UsableClip(f"c{i}", str(path), label, f"g{i % 9}",
                               ("train", "val", "test")[i % 9 // 3], path))
    return made


RECIPE = Recipe(ModelConfig(arch="auto", candidates=("motion_linear", "flow_linear"),
                            heads=HeadsConfig(c=(0.1, 1.0))), TrainConfig(cv_folds=3))


def test_the_recipe_scores_real_signal_high_and_says_what_each_fold_chose(clips, tmp_path):
    cv = run_recipe_cv(EvaluateConfig(recipe_cv_folds=3), RECIPE, clips, tmp_path / "cache")
    assert cv.status == "scored" and cv.folds == 3 and cv.clips == 36 and cv.groups == 9
    assert cv.macro_f1 > 0.9 and cv.macro_f1_ci[0] <= cv.macro_f1 <= cv.macro_f1_ci[1]
    assert len(cv.fold_f1) == 3 and set(cv.fold_winner) <= {"motion_linear", "flow_linear"}
    assert cv.scores()["cv_macro_f1"] == round(cv.macro_f1, 4)


def test_with_random_labels_the_figure_is_at_chance(clips, tmp_path):
    """No leak: a selection made on the held-out clips would read high on noise too."""
    rng = np.random.default_rng(0)
    labels = rng.permutation([c.label for c in clips])
    shuffled = [UsableClip(c.clip_id, c.path, str(label), c.group, c.split, c.frames_file)
                for c, label in zip(clips, labels, strict=True)]
    cv = run_recipe_cv(EvaluateConfig(recipe_cv_folds=3), RECIPE, shuffled, tmp_path / "cache")
    assert cv.macro_f1 < 0.6 and cv.macro_f1_ci[0] < 1 / 3 + 0.05


def test_it_runs_by_default_only_where_it_is_cheap():
    auto = EvaluateConfig(recipe_cv_max_clips=100)
    assert why_not(auto, RECIPE, 100, cuda=False) == ""
    assert "recipe_cv_max_clips" in why_not(auto, RECIPE, 101, cuda=False)
    neural = Recipe(ModelConfig(arch="r3d_18"), TrainConfig())
    assert "r3d_18" in why_not(auto, neural, 50, cuda=False)
    # appearance_tsn (fine-tuning) joins auto's candidates on a GPU only
    assert why_not(auto, Recipe(ModelConfig(), TrainConfig()), 50, cuda=False) == ""
    assert "appearance_tsn" in why_not(auto, Recipe(ModelConfig(), TrainConfig()), 50, cuda=True)
    assert why_not(EvaluateConfig(recipe_cv="on"), neural, 10**6, cuda=False) == ""
    assert why_not(EvaluateConfig(recipe_cv="off"), RECIPE, 10, cuda=False).startswith("off")
