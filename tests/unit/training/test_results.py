"""The one rule for the epoch that ships: the epoch reported is the epoch whose weights ship."""

from __future__ import annotations

import copy

import pytest
import torch

from support import write_tiny_dataset
from vidops.config import CnnConfig, ExtractConfig, IngestConfig, ModelConfig, TrainConfig, ValidateConfig
from vidops.data.clips import class_names, usable_clips
from vidops.data.raw_store import import_clips
from vidops.stages.extract import run_extract
from vidops.stages.ingest import run_ingest
from vidops.stages.validate import run_validate
from vidops.training import epoch_loop
from vidops.training.devices import training_device
from vidops.training.fit import fit
from vidops.training.fit_data import FitData
from vidops.training.results import BestEpoch, EpochStats

# Val scores per epoch, as (loss, accuracy, macro F1): epochs 2 and 3 tie on F1, 3 has the
# lower loss, so 3 is the best epoch; epoch 4 is worse.
SCRIPT = {1: (1.2, 0.25, 0.40), 2: (0.9, 0.75, 0.75), 3: (0.6, 0.75, 0.75), 4: (0.8, 0.50, 0.50)}


def stats(epoch: int, loss: float, f1: float) -> EpochStats:
    return EpochStats(epoch, 0.0, 0.0, loss, 0.0, f1, 0.0, 1.0, 1.0, 0.0)


def test_a_tie_on_f1_goes_to_the_lower_loss():
    best = BestEpoch()
    assert best.offer(stats(1, 1.0, 0.5))
    assert best.offer(stats(2, 0.7, 0.5))  # same F1, lower loss: better
    assert not best.offer(stats(3, 0.9, 0.5))
    assert best.epoch == 2
    assert best.stale(4, 2) and not best.stale(3, 2) and not best.stale(9, 0)


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    root = tmp_path_factory.mktemp("best-epoch")
    import_clips(write_tiny_dataset(root / "source"), root / "raw", (".mp4",))
    run_ingest(IngestConfig(group_splits={"tr": "train", "va": "val", "te": "test"}),
               root / "raw", root / "manifest.csv")
    run_extract(ExtractConfig(num_frames=4, size=32), root / "manifest.csv", root / "frames",
                progress=False)
    run_validate(ValidateConfig(), root / "manifest.csv", root / "frames",
                 root / "validation.json", root / "docs")
    return usable_clips(root / "manifest.csv", root / "frames", root / "validation.json")


def test_the_shipped_weights_are_the_reported_epochs_on_a_tie(clips, monkeypatch):
    """Epochs 2 and 3 tie on val F1; 3 has the lower loss and is reported: 3's weights ship."""
    seen: dict[int, dict[str, torch.Tensor]] = {}
    epoch = iter(SCRIPT)

    def scripted_score(model, loader, device, criterion=None):
        e = next(epoch)
        seen[e] = copy.deepcopy(model.state_dict())  # the weights this epoch is scored with
        return SCRIPT[e]

    monkeypatch.setattr(epoch_loop, "score", scripted_score)
    train = [c for c in clips if c.split == "train"]
    val = [c for c in clips if c.split == "val"]
    cfg = TrainConfig(epochs=4, batch_size=8, patience=0, lr=0.05)
    result = fit(ModelConfig(arch="cnn_pool", cnn=CnnConfig(width=4)), cfg,
                 FitData(train, val, class_names(clips)), training_device(cfg), progress=False)
    assert result.kept.epoch == 3 and [s.epoch for s in result.history] == [1, 2, 3, 4]
    shipped = result.model.state_dict()
    assert all(torch.equal(shipped[k], seen[3][k]) for k in shipped)
    assert not all(torch.equal(shipped[k], seen[2][k]) for k in shipped)
