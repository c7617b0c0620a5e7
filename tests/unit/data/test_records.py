import pytest

from vidops.data.records import ClipRecord, FrameRecord, read_records, write_records


def test_records_round_trip_with_types(tmp_path):
    rows = [ClipRecord("ab" * 8, "data/raw/a/x.mp4", "a", "g1", "train", "ab" * 32, 123)]
    write_records(tmp_path / "m.csv", rows, ClipRecord)
    assert read_records(tmp_path / "m.csv", ClipRecord) == rows
    frames = [FrameRecord("id", "p", "id.npy", 10, 12, 25.0, 64, 48, 0.4, "MJPG", 0.5, 0.01, "")]
    write_records(tmp_path / "f.csv", frames, FrameRecord)
    assert read_records(tmp_path / "f.csv", FrameRecord) == frames


def test_missing_columns_are_named(tmp_path):
    (tmp_path / "m.csv").write_text("clip_id,path\nx,y\n")
    with pytest.raises(ValueError, match="missing columns"):
        read_records(tmp_path / "m.csv", ClipRecord)
