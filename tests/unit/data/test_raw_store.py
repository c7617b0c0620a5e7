import csv

import pytest

from vidops.data.labels import LabelError
from vidops.data.raw_store import import_clips

EXT = (".mp4", ".avi")


def _tree(root, files):
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)


def test_folder_per_class_copies_and_skips_identical_bytes(tmp_path):
    src, raw = tmp_path / "src", tmp_path / "raw"
    _tree(src, {"walk/a.mp4": b"A", "walk/b.mp4": b"B", "run/c.avi": b"C", "walk/readme.txt": b"x"})
    first = import_clips(src, raw, EXT)
    assert sorted(p.relative_to(raw).as_posix() for p in first.copied) == [
        "run/c.avi", "walk/a.mp4", "walk/b.mp4"]
    assert any("readme.txt" in line for line in first.ignored)
    _tree(src, {"walk/a_copy.mp4": b"A", "walk/d.mp4": b"D"})
    second = import_clips(src, raw, EXT)
    assert [p.name for p in second.copied] == ["d.mp4"]
    assert len(second.duplicates) == 4  # a, a_copy, b, c are already there
    assert (raw / "walk" / "a.mp4").read_bytes() == b"A"


def test_same_bytes_with_another_label_is_reported_not_imported(tmp_path):
    src, raw = tmp_path / "src", tmp_path / "raw"
    _tree(src, {"walk/a.mp4": b"A"})
    import_clips(src, raw, EXT)
    _tree(src, {"run/a.mp4": b"A"})
    result = import_clips(src, raw, EXT)
    assert result.copied == []
    assert "labelled 'run'" in result.conflicts[0]


def test_name_clash_with_different_bytes_keeps_both(tmp_path):
    raw = tmp_path / "raw"
    _tree(tmp_path / "one", {"walk/a.mp4": b"A"})
    _tree(tmp_path / "two", {"walk/a.mp4": b"Z"})
    import_clips(tmp_path / "one", raw, EXT)
    result = import_clips(tmp_path / "two", raw, EXT)
    assert result.copied[0].name.startswith("a-") and (raw / "walk" / "a.mp4").read_bytes() == b"A"


def test_labels_csv_with_groups_is_recorded_for_ingest(tmp_path):
    src, raw = tmp_path / "src", tmp_path / "raw"
    _tree(src, {"clips/1.mp4": b"1", "clips/2.mp4": b"2"})
    (src / "labels.csv").write_text("file,label,person\nclips/1.mp4,wave,p1\nclips/2.mp4,clap,p2\n")
    import_clips(src, raw, EXT, group_column="person")
    assert (raw / "wave" / "1.mp4").is_file() and (raw / "clap" / "2.mp4").is_file()
    rows = list(csv.DictReader((raw / "labels.csv").open()))
    assert {(r["file"], r["group"]) for r in rows} == {("wave/1.mp4", "p1"), ("clap/2.mp4", "p2")}


@pytest.mark.parametrize("label", ["../escape", "a/b", ".."])
def test_bad_label_in_labels_csv_fails_before_anything_is_copied(tmp_path, label):
    src, raw = tmp_path / "src", tmp_path / "raw"
    _tree(src, {"1.mp4": b"1", "2.mp4": b"2"})
    (src / "labels.csv").write_text(f"file,label\n1.mp4,ok\n2.mp4,{label}\n")
    with pytest.raises(LabelError, match=r"labels.csv:3"):
        import_clips(src, raw, EXT)
    assert not raw.exists()


def test_labels_csv_cannot_reach_outside_the_source(tmp_path):
    src = tmp_path / "src"
    _tree(tmp_path, {"secret.mp4": b"s"})
    src.mkdir()
    (src / "labels.csv").write_text("file,label\n../secret.mp4,x\n")
    with pytest.raises(LabelError, match="outside"):
        import_clips(src, tmp_path / "raw", EXT)


def test_labels_csv_naming_a_missing_file_fails(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "labels.csv").write_text("file,label\nghost.mp4,x\n")
    with pytest.raises(FileNotFoundError, match=r"labels\.csv:2.*ghost\.mp4"):
        import_clips(src, tmp_path / "raw", EXT)


def test_a_symbolic_link_out_of_the_source_folder_is_refused(tmp_path):
    """#22: `spin/y.mp4 -> /etc/hostname` was imported into data/raw, the cache and data.dvc."""
    source = tmp_path / "source"
    (source / "spin").mkdir(parents=True)
    outside = tmp_path / "secret.mp4"
    outside.write_bytes(b"not yours")
    (source / "spin" / "y.mp4").symlink_to(outside)
    (source / "spin" / "inside.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42")
    (source / "spin" / "alias.mp4").symlink_to(source / "spin" / "inside.mp4")  # stays inside
    result = import_clips(source, tmp_path / "raw", (".mp4",), dvc_root=None)
    assert len(result.copied) == 1 and len(result.duplicates) == 1  # inside.mp4 and its alias
    assert any("y.mp4" in line and "outside" in line for line in result.ignored)
    assert not any(p.read_bytes() == b"not yours" for p in (tmp_path / "raw").rglob("*.mp4"))


def test_a_flat_folder_fails_naming_the_two_layouts(tmp_path):
    """#24: three 'not inside a class folder' lines, then 'imported 0 new clips' and exit 0."""
    from vidops.errors import DataError

    _tree(tmp_path / "flat", {"a.mp4": b"1", "b.mp4": b"2"})
    with pytest.raises(DataError, match=r"labels\.csv") as err:
        import_clips(tmp_path / "flat", tmp_path / "raw", EXT, dvc_root=None)
    assert "<label>/<clip>" in str(err.value) and not (tmp_path / "raw").exists()


def test_an_import_killed_between_its_two_dvc_files_recovers(tmp_path, caplog):
    """`dvc add` writes data/raw.dvc, vidops moves it to data.dvc: a kill between the two
    leaves both, which real DVC refuses (one output tracked twice); the next import recovers."""
    import subprocess

    from vidops.data.raw_store import dvc_add_raw

    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    subprocess.run(["dvc", "init", "-q"], cwd=tmp_path, check=True)
    raw = tmp_path / "data" / "raw"
    _tree(raw, {"walk/a.mp4": b"A"})
    dvc_add_raw(tmp_path, raw)
    record = (tmp_path / "data.dvc").read_text()
    (raw.parent / "raw.dvc").write_text(record.replace("path: data/raw", "path: raw"))
    _tree(raw, {"walk/b.mp4": b"B"})
    with caplog.at_level("WARNING"):
        dvc_add_raw(tmp_path, raw)
    assert "raw.dvc: left by an interrupted import" in caplog.text
    assert not (raw.parent / "raw.dvc").exists()
    assert (tmp_path / "data.dvc").read_text() != record  # now records b.mp4 too
    status = subprocess.run(["dvc", "status", "--json"], cwd=tmp_path, capture_output=True,
                            text=True, check=True)
    assert status.stdout.strip() == "{}"


def test_clips_of_classes_the_project_lacks_are_refused_without_the_flag(tmp_path):
    """#31: importing a user's six classes into the demo's project made a ten-class model."""
    from vidops.errors import DataError

    mine, demo, raw = tmp_path / "mine", tmp_path / "demo", tmp_path / "raw"
    _tree(demo, {"spin/a.mp4": b"A", "still/b.mp4": b"B"})
    _tree(mine, {"wave/c.mp4": b"C", "spin/d.mp4": b"D"})
    assert len(import_clips(demo, raw, EXT, new_classes=False).copied) == 2  # first: anything
    before = sorted(p.relative_to(raw).as_posix() for p in raw.rglob("*"))
    with pytest.raises(DataError, match=r"brings 1 class\(es\) this project's data does not have "
                                        r"\(wave; it has spin, still\).*--new-classes"):
        import_clips(mine, raw, EXT, new_classes=False)
    assert sorted(p.relative_to(raw).as_posix() for p in raw.rglob("*")) == before  # nothing
    assert len(import_clips(mine, raw, EXT, new_classes=True).copied) == 2
    _tree(mine, {"wave/e.mp4": b"E"})  # more of classes it has now: no flag needed
    assert len(import_clips(mine, raw, EXT, new_classes=False).copied) == 1
