"""Reused frames are checked against what the index says they are (#22: nothing silently wrong)."""

import dataclasses
import json

import numpy as np
import pytest

from support import write_tiny_dataset
from vidops.config import ExtractConfig, IngestConfig
from vidops.data import extraction
from vidops.data.raw_store import import_clips
from vidops.data.records import FrameRecord, read_frame_index, write_records
from vidops.stages.extract import run_extract
from vidops.stages.ingest import run_ingest

PINNED = IngestConfig(group_splits={"tr": "train", "va": "val", "te": "test"})
FRAMES = ExtractConfig(num_frames=6, size=32, workers=1)


@pytest.fixture(scope="module")
def extracted(tmp_path_factory):
    """A manifest and a reference extraction to compare repaired folders with."""
    root = tmp_path_factory.mktemp("integrity")
    import_clips(write_tiny_dataset(root / "source"), root / "raw", PINNED.extensions)
    run_ingest(PINNED, root / "raw", root / "manifest.csv")
    run_extract(FRAMES, root / "manifest.csv", root / "reference", progress=False)
    return root


@pytest.fixture
def frames(extracted, tmp_path):
    import shutil

    shutil.copytree(extracted / "reference", tmp_path / "frames")
    return tmp_path / "frames"


def same_as_reference(extracted, frames) -> bool:
    return all(p.read_bytes() == (frames / p.name).read_bytes()
               for p in (extracted / "reference").glob("*.npy"))


def test_the_index_records_a_digest_of_every_frame_file(frames):
    rows = read_frame_index(frames / "index.csv")
    assert all(len(r.frames_digest) == 32 for r in rows)


@pytest.mark.parametrize("damage", ["truncate", "rescale", "fewer_frames"])
def test_a_damaged_frame_file_is_decoded_again(extracted, frames, damage, caplog):
    victim = frames / read_frame_index(frames / "index.csv")[3].frames_file
    data = np.load(victim)
    if damage == "truncate":
        victim.write_bytes(victim.read_bytes()[:-500])
    elif damage == "rescale":  # still a valid file of the right shape: only the digest tells
        np.save(victim, (data // 2).astype(np.uint8))
    else:  # as left by a run with extract.num_frames 3
        np.save(victim, data[:3])
    with caplog.at_level("WARNING"):
        result = run_extract(FRAMES, extracted / "manifest.csv", frames, progress=False)
    assert (result.rejected, result.decoded, result.reused) == (1, 1, 23)
    assert any(victim.name in r.getMessage() for r in caplog.records)
    assert same_as_reference(extracted, frames)


def test_a_kill_during_a_re_extraction_never_leaves_mixed_frames(extracted, frames, monkeypatch):
    """num_frames 6 -> 3, killed after two clips, back to 6: every file is 6 frames again."""
    written = []
    real = extraction._extract_one

    def killed_after_two(shared, cfg, path, source, cid, out=None):
        if len(written) == 2:
            raise KeyboardInterrupt  # the kill
        written.append(cid)
        return real(shared, cfg, path, source, cid, out)

    monkeypatch.setattr(extraction, "_extract_one", killed_after_two)
    with pytest.raises(KeyboardInterrupt):
        run_extract(dataclasses.replace(FRAMES, num_frames=3), extracted / "manifest.csv", frames,
                    progress=False)
    monkeypatch.setattr(extraction, "_extract_one", real)
    assert not (frames / extraction.FINGERPRINT).exists()  # nothing vouches for the mix
    result = run_extract(FRAMES, extracted / "manifest.csv", frames, progress=False)
    assert result.decoded == 24
    assert same_as_reference(extracted, frames)
    assert json.loads((frames / extraction.FINGERPRINT).read_text())["num_frames"] == 6


def test_an_interrupted_extraction_resumes_where_it_stopped(extracted, frames, monkeypatch):
    """New frame parameters, interrupted after five clips: the next run decodes the other 19."""
    written = []
    real = extraction._extract_one

    def interrupted_after_five(shared, cfg, path, source, cid, out=None):
        if len(written) == 5:
            raise KeyboardInterrupt  # Ctrl-C, or the Dask client lost
        written.append(cid)
        return real(shared, cfg, path, source, cid, out)

    fewer = dataclasses.replace(FRAMES, num_frames=3)
    monkeypatch.setattr(extraction, "_extract_one", interrupted_after_five)
    with pytest.raises(KeyboardInterrupt):
        run_extract(fewer, extracted / "manifest.csv", frames, progress=False)
    monkeypatch.setattr(extraction, "_extract_one", real)
    assert (frames / extraction.JOURNAL).is_file()
    # The last journal line torn by a kill costs that clip only.
    journal = (frames / extraction.JOURNAL).read_text()
    (frames / extraction.JOURNAL).write_text(journal + '{"clip_id": "torn')
    result = run_extract(fewer, extracted / "manifest.csv", frames, progress=False)
    assert (result.decoded, result.reused) == (19, 5)
    assert not (frames / extraction.JOURNAL).exists()  # folded into index.csv
    rows = read_frame_index(frames / "index.csv")
    assert len(rows) == 24 and all(r.frames_file for r in rows)
    fresh = frames.parent / "fresh"
    run_extract(fewer, extracted / "manifest.csv", fresh, progress=False)
    assert (fresh / "index.csv").read_bytes() == (frames / "index.csv").read_bytes()
    for row in rows:
        assert (fresh / row.frames_file).read_bytes() == (frames / row.frames_file).read_bytes()


def test_an_index_from_an_older_release_is_read_and_its_frames_checked(extracted, frames):
    rows = read_frame_index(frames / "index.csv")
    old = [dataclasses.replace(r, frames_digest="") for r in rows]
    write_records(frames / "index.csv", old, FrameRecord)
    text = (frames / "index.csv").read_text().splitlines()
    # The old header had no digest columns at all.
    header = text[0].split(",")
    keep = [i for i, name in enumerate(header) if name not in ("frames_digest", "views_digest")]
    (frames / "index.csv").write_text("\n".join(",".join(line.split(",")[i] for i in keep)
                                                for line in text) + "\n")
    result = run_extract(FRAMES, extracted / "manifest.csv", frames, progress=False)
    assert result.decoded == 24 and result.rejected == 24
    assert read_frame_index(frames / "index.csv") == read_frame_index(
        extracted / "reference" / "index.csv")
