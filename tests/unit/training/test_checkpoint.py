"""Training checkpoints: what is resumed from is what was written, and a kill at any moment
of a save leaves the previous finished epoch or the new one."""

from __future__ import annotations

from contextlib import nullcontext

import pytest
import torch

from vidops import fileio
from vidops.fileio import digest_path
from vidops.training.checkpoint import Checkpoints


def _state(epoch: int) -> dict:
    return {"epoch": epoch, "weights": torch.full((4,), float(epoch))}


def test_a_damaged_checkpoint_is_not_resumed_from(tmp_path, caplog):
    """#22: reuse verifies what it reuses; a checkpoint that is not the one written starts over."""
    checkpoints = Checkpoints(tmp_path, "key")
    checkpoints.save(_state(3))
    assert checkpoints.load()["epoch"] == 3
    (last,) = checkpoints.files()
    data = last.read_bytes()
    last.write_bytes(data[:-20])
    with caplog.at_level("WARNING"):
        assert checkpoints.load() is None
    assert f"{last}: its bytes differ" in caplog.text and "training starts over" in caplog.text
    last.write_bytes(data)
    digest_path(last).unlink()  # killed between the checkpoint and its digest
    assert checkpoints.load() is None


def test_only_the_newest_finished_epoch_is_kept(tmp_path):
    checkpoints = Checkpoints(tmp_path, "key")
    for epoch in (1, 2, 3):
        checkpoints.save(_state(epoch))
    assert [p.name for p in checkpoints.files()] == ["epoch-0003.pt"]
    assert sorted(p.name for p in checkpoints.dir.iterdir()) == ["epoch-0003.pt", "epoch-0003.pt.b2"]
    assert torch.equal(checkpoints.load()["weights"], torch.full((4,), 3.0))


def test_a_damaged_newest_checkpoint_falls_back_to_the_one_before(tmp_path, caplog):
    checkpoints = Checkpoints(tmp_path, "key")
    checkpoints.save(_state(3))
    older = checkpoints.files()[0].read_bytes(), digest_path(checkpoints.files()[0]).read_bytes()
    checkpoints.save(_state(4))
    checkpoints.path(3).write_bytes(older[0])  # as a kill during the clean-up would leave it
    digest_path(checkpoints.path(3)).write_bytes(older[1])
    checkpoints.path(4).write_bytes(b"torn")
    with caplog.at_level("WARNING"):
        assert checkpoints.load()["epoch"] == 3
    assert f"{checkpoints.path(4)}: its bytes differ" in caplog.text
    assert "starts over" not in caplog.text


class _Killed(BaseException):
    """Stands for SIGKILL: nothing after it runs (BaseException passes every except Exception)."""


SAVE_STEPS = 4  # write the file, write its digest, remove the old digest, remove the old file


@pytest.mark.parametrize("step", range(SAVE_STEPS + 1))
def test_a_kill_at_any_step_of_a_save_leaves_the_old_epoch_or_the_new(tmp_path, monkeypatch, step):
    """Each file-system step of ``save`` is a place the process can die; the process dies
    there (step == SAVE_STEPS: it does not), then the folder is loaded as a resume would."""
    checkpoints = Checkpoints(tmp_path, "key")
    checkpoints.save(_state(3))
    done = []

    def dies_at_step(real):
        def wrapped(*args, **kwargs):
            if len(done) == step:
                raise _Killed
            done.append(real)
            return real(*args, **kwargs)
        return wrapped

    monkeypatch.setattr(fileio, "atomic_write", dies_at_step(fileio.atomic_write))
    monkeypatch.setattr(fileio.Path, "unlink", dies_at_step(fileio.Path.unlink))
    with pytest.raises(_Killed) if step < SAVE_STEPS else nullcontext():
        checkpoints.save(_state(4))
    monkeypatch.undo()
    assert len(done) == step
    loaded = checkpoints.load()
    # Before the digest is written the new epoch does not count; from then on it does.
    assert loaded is not None and loaded["epoch"] == (3 if step < 2 else 4)
    assert torch.equal(loaded["weights"], torch.full((4,), float(loaded["epoch"])))

