"""model.arch auto: group folds, the time budget, and picking the right family on known cases."""

import numpy as np
import pytest
import torch

from vidops.config import CnnConfig, ModelConfig, TrainConfig
from vidops.data.clips import UsableClip
from vidops.training.devices import TrainingDevice
from vidops.training.selection import SelectionError, group_folds, select_architecture

T, S = 6, 32
CPU = TrainingDevice(torch.device("cpu"), None, 0)


def _clip(kind: str, rng: np.random.Generator) -> np.ndarray:
    """``(T, S, S, 3)`` uint8. moving/still differ only in motion; red/blue only in colour."""
    frames = np.full((T, S, S, 3), 60, np.uint8) + rng.integers(0, 6, (1, S, S, 3), dtype=np.uint8)
    colour = {"red": (230, 20, 20), "blue": (20, 20, 230)}.get(kind, (230, 230, 230))
    start, step = rng.integers(0, 6), 0 if kind == "still" else 4
    row = rng.integers(4, S - 12)
    for t in range(T):
        x = start + step * t
        frames[t, row : row + 8, x : x + 8] = colour
    return frames


def _dataset(tmp_path, kinds: tuple[str, str], per_class: int = 12) -> list[UsableClip]:
    rng = np.random.default_rng(0)
    clips = []
    for kind in kinds:
        for i in range(per_class):
            path = tmp_path / f"{kind}_{i}.npy"
            np.save(path, _clip(kind, rng))
            clips.append(UsableClip(f"{kind}{i}", str(path), kind, f"g{i % 6}", "train", path))
    return clips


@pytest.fixture(autouse=True)
def _mlflow(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")


MODEL = ModelConfig(arch="auto", cnn=CnnConfig(width=4, hidden=8, dropout=0.0))
TRAIN = TrainConfig(epochs=8, batch_size=4, lr=0.01, cv_folds=3, patience=0)


@pytest.mark.parametrize(("kinds", "candidates", "winner"), [
    # Only motion tells these apart: the motion model is perfect, the CNN is given no
    # chance to learn (learning rate near zero). It is listed second, so the tie-break
    # (earlier wins) cannot be what picks it.
    (("moving", "still"), ("cnn_pool", "motion_linear"), "motion_linear"),
    # Only colour tells these apart: motion features are blind to it, the CNN is not.
    (("red", "blue"), ("motion_linear", "cnn_pool"), "cnn_pool"),
])
def test_auto_picks_the_family_that_can_see_the_difference(tmp_path, kinds, candidates, winner):
    import dataclasses

    clips = _dataset(tmp_path, kinds)
    train = TRAIN if winner == "cnn_pool" else dataclasses.replace(TRAIN, lr=1e-7, epochs=1)
    selection = select_architecture(dataclasses.replace(MODEL, candidates=candidates), train,
                                    clips, sorted(kinds), CPU)
    assert selection.winner == winner
    scores = {c.arch: c for c in selection.candidates}
    assert scores[winner].mean_f1 == pytest.approx(1.0)
    loser = next(a for a in candidates if a != winner)
    assert scores[loser].mean_f1 < 0.8
    assert all(len(c.fold_f1) == 3 and c.status == "scored" for c in selection.candidates)


def test_folds_never_split_a_group(tmp_path):
    clips = _dataset(tmp_path, ("moving", "still"))
    folds = group_folds(clips, 3, seed=0)
    assert len(folds) == 3
    for train_idx, held_idx in folds:
        assert not {clips[i].group for i in train_idx} & {clips[i].group for i in held_idx}
    assert sorted(i for _, held in folds for i in held) == list(range(len(clips)))


def test_one_group_cannot_be_cross_validated(tmp_path):
    clips = [UsableClip(c.clip_id, c.path, c.label, "same", c.split, c.frames_file)
             for c in _dataset(tmp_path, ("moving", "still"))]
    with pytest.raises(SelectionError, match="at least 2 groups"):
        group_folds(clips, 3, seed=0)


def test_spent_budget_skips_later_candidates_but_not_the_first(tmp_path):
    import dataclasses

    clips = _dataset(tmp_path, ("moving", "still"), per_class=6)
    selection = select_architecture(
        dataclasses.replace(MODEL, candidates=("motion_linear", "cnn_pool")),
        dataclasses.replace(TRAIN, select_budget_s=0.0, epochs=1), clips, ["moving", "still"],
        CPU)
    first, second = selection.candidates
    assert first.status == "scored" and len(first.fold_f1) == 3
    assert second.status.startswith("skipped: time budget") and second.mean_f1 is None
    assert selection.winner == "motion_linear"
