"""ingest -> extract -> validate on real tiny clips, including the bad inputs."""

import json
import shutil
from pathlib import Path

import pytest

from support import write_tiny_dataset
from vidops.config import ExtractConfig, IngestConfig, ValidateConfig
from vidops.data.raw_store import import_clips
from vidops.data.records import read_frame_index, read_manifest, write_records
from vidops.data.splits import read_ledger
from vidops.stages.extract import run_extract
from vidops.stages.ingest import IngestError, run_ingest
from vidops.stages.validate import run_validate

PINNED = IngestConfig(group_splits={"tr": "train", "va": "val", "te": "test"})
FRAMES = ExtractConfig(num_frames=6, size=32)


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    return write_tiny_dataset(tmp_path_factory.mktemp("data") / "source")


@pytest.fixture
def raw(tmp_path, source):
    raw = tmp_path / "data" / "raw"
    import_clips(source, raw, PINNED.extensions)
    return raw


def _pipeline(tmp_path, raw, validate=ValidateConfig()):
    manifest, frames = tmp_path / "manifest.csv", tmp_path / "frames"
    ingest = run_ingest(PINNED, raw, manifest)
    extract = run_extract(FRAMES, manifest, frames, progress=False)
    report = tmp_path / "validation.json"
    result = run_validate(validate, manifest, frames, report, tmp_path / "docs")
    return ingest, extract, result, json.loads(report.read_text())


def test_clean_data_passes_without_warnings(tmp_path, raw):
    ingest, extract, result, report = _pipeline(tmp_path, raw)
    assert ingest.clips == 24 and ingest.per_split == {"train": 8, "val": 8, "test": 8}
    assert extract.decoded == 24 and extract.failed == []
    assert result.success and result.warnings == [] and report["quarantine"] == {}
    assert (tmp_path / "docs" / "index.html").is_file()  # Great Expectations Data Docs


def test_manifest_ids_groups_and_splits(tmp_path, raw):
    run_ingest(PINNED, raw, tmp_path / "m.csv")
    rows = read_manifest(tmp_path / "m.csv")
    assert all(r.clip_id == r.sha256[:16] for r in rows)
    assert {r.group: r.split for r in rows} == {"tr": "train", "va": "val", "te": "test"}


def test_bad_clips_are_named_quarantined_and_kept(tmp_path, raw):
    (raw / "spin" / "zero.mp4").write_bytes(b"")
    (raw / "spin" / "text.mp4").write_text("not a video at all\n" * 50)
    whole = (raw / "slide" / "slide_000.mp4").read_bytes()
    (raw / "slide" / "truncated.mp4").write_bytes(whole[: len(whole) // 3])
    before = sorted(p.name for p in raw.rglob("*"))
    _, extract, result, report = _pipeline(tmp_path, raw, ValidateConfig(min_decodable_fraction=0.8))
    failed = "\n".join(extract.failed)
    for name in ("zero.mp4", "text.mp4", "truncated.mp4"):
        assert name in failed
        assert any(path.endswith(name) for path in report["quarantine"])
    assert "empty file (0 bytes)" in failed
    index = {Path(r.path).name: r for r in read_frame_index(tmp_path / "frames" / "index.csv")}
    assert index["text.mp4"].decode_error and index["text.mp4"].frames_file == ""
    assert result.success  # 3 bad of 27: quarantined, not fatal
    assert "decodes" in report["warnings"]
    # The verdict offline: one static page, no script, every quarantined clip named.
    page = (tmp_path / "docs" / "verdict.html").read_text()
    assert "Validation passed on 27 clips" in page and "<script" not in page
    assert all(name in page for name in ("zero.mp4", "text.mp4", "truncated.mp4"))
    assert "Quarantined clips (3)" in page
    assert sorted(p.name for p in raw.rglob("*")) == before  # nothing in data/raw touched


def test_too_many_undecodable_clips_fail_the_data(tmp_path, raw):
    for i in range(5):
        (raw / "still" / f"junk{i}.mp4").write_bytes(b"junk" * i)
    _, _, result, report = _pipeline(tmp_path, raw)
    assert not result.success and "decodable_fraction" in report["errors"]
    assert "junk" in result.summary()


def test_group_spanning_two_splits_is_leakage(tmp_path, raw):
    manifest, frames = tmp_path / "manifest.csv", tmp_path / "frames"
    run_ingest(PINNED, raw, manifest)
    run_extract(FRAMES, manifest, frames, progress=False)
    rows = read_manifest(manifest)
    rows[0] = type(rows[0])(**{**vars(rows[0]), "split": "test" if rows[0].split != "test" else "val"})
    write_records(manifest, rows, type(rows[0]))
    result = run_validate(ValidateConfig(), manifest, frames, tmp_path / "v.json", tmp_path / "d")
    assert not result.success
    rule = next(r for r in result.errors if r.rule == "group_in_two_splits")
    assert rule.examples[0] == rows[0].path
    assert rule.failing == sum(r.group == rows[0].group for r in rows)


def test_same_bytes_under_two_labels_fails(tmp_path, raw):
    shutil.copy(raw / "spin" / "spin_000.mp4", raw / "pulse" / "looks_like_pulse.mp4")
    _, _, result, report = _pipeline(tmp_path, raw)
    assert not result.success and "same_bytes_two_labels" in report["errors"]


def test_class_thin_in_a_split_fails(tmp_path, raw):
    (raw / "pulse" / "pulse_005.mp4").unlink()  # one of the two pulse test clips
    _, _, result, _ = _pipeline(tmp_path, raw)
    rule = next(r for r in result.errors if r.rule == "min_clips_per_class")
    assert rule.examples == ["label 'pulse' in test: 1 clips"]


def test_class_missing_from_a_split_stops_ingest_naming_it(tmp_path, raw):
    for p in (raw / "pulse").glob("pulse_00[45].mp4"):  # both pulse test clips
        p.unlink()
    with pytest.raises(IngestError, match=r"class 'pulse' has no clip in the test split.*group_splits"):
        run_ingest(PINNED, raw, tmp_path / "m.csv")


def test_extraction_is_incremental(tmp_path, raw, source):
    manifest, frames = tmp_path / "manifest.csv", tmp_path / "frames"
    run_ingest(PINNED, raw, manifest)
    assert run_extract(FRAMES, manifest, frames, progress=False).decoded == 24
    again = run_extract(FRAMES, manifest, frames, progress=False)
    assert (again.decoded, again.reused) == (0, 24)
    shutil.copy(source / "slide" / "slide_000.mp4", raw / "slide" / "copy.mp4")  # same bytes
    (raw / "spin" / "new.mp4").write_bytes((source / "spin" / "spin_001.mp4").read_bytes() + b"\0")
    run_ingest(PINNED, raw, manifest)
    added = run_extract(FRAMES, manifest, frames, progress=False)
    assert (added.decoded, added.reused) == (1, 24)
    (raw / "spin" / "new.mp4").unlink()
    run_ingest(PINNED, raw, manifest)
    removed = run_extract(FRAMES, manifest, frames, progress=False)
    assert removed.removed == 1 and len(list(frames.glob("*.npy"))) == 24
    changed = run_extract(ExtractConfig(num_frames=4, size=32), manifest, frames, progress=False)
    assert changed.decoded == 24  # a frame parameter changed: everything again


def test_parallel_extraction_writes_what_one_process_writes(tmp_path, raw):
    import dataclasses

    from vidops.data.records import read_frame_index

    manifest = tmp_path / "manifest.csv"
    run_ingest(PINNED, raw, manifest)
    one = run_extract(dataclasses.replace(FRAMES, workers=1), manifest, tmp_path / "a", progress=False)
    two = run_extract(dataclasses.replace(FRAMES, workers=2), manifest, tmp_path / "b", progress=False)
    assert (one.workers, two.workers, two.decoded) == (1, 2, 24)
    assert read_frame_index(tmp_path / "a" / "index.csv") == read_frame_index(tmp_path / "b" / "index.csv")
    for path in (tmp_path / "a").glob("*.npy"):
        assert path.read_bytes() == (tmp_path / "b" / path.name).read_bytes()
    # The worker count is not a frame parameter: changing it re-extracts nothing.
    again = run_extract(dataclasses.replace(FRAMES, workers=1), manifest, tmp_path / "b",
                        progress=False)
    assert (again.decoded, again.reused) == (0, 24)


def test_no_half_written_frames_after_a_kill(tmp_path, raw):
    manifest, frames = tmp_path / "manifest.csv", tmp_path / "frames"
    run_ingest(PINNED, raw, manifest)
    run_extract(FRAMES, manifest, frames, progress=False)
    victim = next(frames.glob("*.npy"))
    victim.rename(victim.with_name(victim.name + ".tmp"))  # as left by a kill before rename
    result = run_extract(FRAMES, manifest, frames, progress=False)
    assert result.decoded == 1 and not list(frames.glob("*.tmp"))


def test_ingest_skips_non_video_files_loudly(tmp_path, raw):
    (raw / "spin" / "notes.txt").write_text("x")
    result = run_ingest(PINNED, raw, tmp_path / "m.csv")
    assert any("notes.txt" in s for s in result.skipped)


def test_ingest_refuses_unsafe_label_folder(tmp_path, raw):
    (raw / "bad\\label").mkdir()
    shutil.copy(raw / "spin" / "spin_000.mp4", raw / "bad\\label" / "x.mp4")
    with pytest.raises(ValueError, match="path separator"):
        run_ingest(PINNED, raw, tmp_path / "m.csv")


def test_ingest_on_missing_raw_says_what_to_do(tmp_path):
    with pytest.raises(IngestError, match="vidops import"):
        run_ingest(PINNED, tmp_path / "nothing", tmp_path / "m.csv")


def test_label_outside_the_expected_set_fails(tmp_path, raw):
    cfg = ValidateConfig(expected_labels=("pulse", "slide", "spin"))  # no `still`
    _, _, result, report = _pipeline(tmp_path, raw, cfg)
    assert not result.success and report["errors"] == ["label_set"]
    (rule,) = result.errors
    assert rule.failing == 6 and all("/still/" in e for e in rule.examples)


@pytest.fixture(scope="module")
def wide_spin_source(tmp_path_factory):
    """The tiny set, but every spin clip filmed by "another camera": 112x48 instead of 64x48."""
    from vidops.data.synthetic import SynthSpec, write_dataset

    root = tmp_path_factory.mktemp("leak")
    source = write_tiny_dataset(root / "source")
    shutil.rmtree(source / "spin")
    wide = write_dataset(root / "wide", SynthSpec(per_class=6, width=112, height=48,
                                                  min_frames=10, max_frames=14))
    for path in wide:
        if path.parent.name == "spin":
            (source / "spin").mkdir(exist_ok=True)
            shutil.copy2(path, source / "spin" / path.name)
    return source


@pytest.mark.parametrize("resize", ["crop", "pad"])
def test_metadata_leak_is_reported_with_the_telling_field(tmp_path, wide_spin_source, resize):
    raw = tmp_path / "data" / "raw"
    import_clips(wide_spin_source, raw, PINNED.extensions)
    manifest, frames = tmp_path / "manifest.csv", tmp_path / "frames"
    run_ingest(PINNED, raw, manifest)
    run_extract(FRAMES, manifest, frames, progress=False)
    result = run_validate(ValidateConfig(), manifest, frames, tmp_path / "v.json", tmp_path / "d",
                          resize=resize)
    assert result.success  # a warning: the data may still be right, a person has to look
    (leak,) = [r for r in result.warnings if r.rule == "metadata_leak"]
    assert leak.failing == 1  # spin, and only spin
    (example,) = leak.examples
    assert example.startswith("spin: F1 1.00 from metadata alone (chance 0.25)"), example
    assert "width (F1 1.00 alone; pulse: 64, slide: 64, spin: 112, still: 64)" in example
    if resize == "pad":
        assert "set extract.resize: crop" in leak.description
    else:
        assert "frame shape does not reach the model" in leak.description


def test_metadata_leak_check_is_quiet_on_clean_data(tmp_path, raw):
    _, _, _, report = _pipeline(tmp_path, raw)
    (leak,) = [r for r in report["rules"] if r["rule"] == "metadata_leak"]
    assert leak["passed"], leak


def test_short_clips_are_counted_and_rejected_ones_recorded(tmp_path, raw):
    import dataclasses

    manifest = tmp_path / "manifest.csv"
    run_ingest(PINNED, raw, manifest)
    # The tiny clips have 10 to 14 frames: with T=12 some are short.
    long_t = dataclasses.replace(FRAMES, num_frames=12, workers=1)
    stretched = run_extract(long_t, manifest, tmp_path / "a", progress=False)
    assert stretched.short > 0 and stretched.failed == []
    rejected = run_extract(dataclasses.replace(long_t, short_clip="reject"), manifest,
                           tmp_path / "b", progress=False)
    assert len(rejected.failed) == stretched.short and rejected.short == 0
    assert all("too short" in line and "extract.short_clip: reject" in line
               for line in rejected.failed)
    rows = read_frame_index(tmp_path / "b" / "index.csv")
    assert len(rows) == 24 and sum(not r.frames_file for r in rows) == stretched.short


def test_a_decoder_crash_costs_one_clip_not_the_stage(tmp_path, source):
    """A worker process dies on one file: that file gets a row saying so, the rest extract."""
    from types import SimpleNamespace

    from support import extract_or_crash
    from vidops.compute.executor import LocalPool
    from vidops.data.extraction import _decode_all

    files = sorted(source.glob("*/*.mp4"))[:6]
    crash = tmp_path / "crash.mp4"
    shutil.copy(files[0], crash)
    todo = [SimpleNamespace(clip_id=f"c{i}", path=str(p)) for i, p in enumerate([*files, crash])]
    frames = tmp_path / "frames"
    frames.mkdir()
    rows = [row for row, _ in _decode_all(FRAMES, todo, frames, LocalPool(2), progress=False,
                                          work=extract_or_crash)]
    assert sorted(r.clip_id for r in rows) == sorted(c.clip_id for c in todo)  # nothing lost
    (crashed,) = [r for r in rows if r.decode_error]
    assert crashed.path.endswith("crash.mp4") and "crashed its process" in crashed.decode_error
    assert all((frames / r.frames_file).is_file() for r in rows if not r.decode_error)


def test_the_ledger_keeps_every_clip_in_its_split_as_data_grows(tmp_path, source):
    """Clips without groups (each its own group): new clips never move the old ones."""
    raw = tmp_path / "raw"
    for label_dir in sorted(source.iterdir()):
        if label_dir.is_dir():
            (raw / label_dir.name).mkdir(parents=True)
            for clip in sorted(label_dir.glob("*.mp4"))[:4]:
                shutil.copy(clip, raw / label_dir.name / clip.name)
    manifest, ledger = tmp_path / "manifest.csv", tmp_path / "splits.csv"
    first = run_ingest(IngestConfig(), raw, manifest, ledger)
    before = {r.clip_id: r.split for r in read_manifest(manifest)}
    assert first.new_groups == 16 and all(first.per_split_label[s] for s in ("train", "val", "test"))
    for label_dir in sorted(source.iterdir()):
        if label_dir.is_dir():
            for clip in sorted(label_dir.glob("*.mp4"))[4:]:
                shutil.copy(clip, raw / label_dir.name / clip.name)
    second = run_ingest(IngestConfig(), raw, manifest, ledger)
    after = {r.clip_id: r.split for r in read_manifest(manifest)}
    assert second.new_groups == 8 and len(after) == 24
    assert all(after[c] == s for c, s in before.items())
    assert sum(1 for _ in ledger.open()) == 1 + 24  # header + one row per group


def test_a_project_from_before_the_ledger_migrates_without_moving_a_clip(tmp_path, raw):
    manifest, ledger = tmp_path / "manifest.csv", tmp_path / "splits.csv"
    run_ingest(PINNED, raw, manifest)  # no ledger recorded (the old behaviour's output)
    old = {r.clip_id: r.split for r in read_manifest(manifest)}
    result = run_ingest(IngestConfig(), raw, manifest, ledger)  # pins gone: the ledger holds
    assert result.migrated and {r.clip_id: r.split for r in read_manifest(manifest)} == old
    assert read_ledger(ledger) == {"te": "test", "tr": "train", "va": "val"}


@pytest.mark.parametrize("edit", ["moved", "deleted"])
def test_an_edited_ledger_is_refused_naming_the_group(tmp_path, raw, edit):
    """#22: moving a group from train to test in data/splits.csv by hand moved its clips."""
    manifest, ledger = tmp_path / "manifest.csv", tmp_path / "splits.csv"
    run_ingest(PINNED, raw, manifest, ledger)
    before = manifest.read_bytes()
    rows = [r for r in ledger.read_text().splitlines() if not r.startswith("tr,")]
    ledger.write_text("\n".join(rows + (["tr,test"] if edit == "moved" else [])) + "\n")
    with pytest.raises(IngestError, match="group 'tr' had its clips in train") as err:
        run_ingest(IngestConfig(), raw, manifest, ledger)
    assert "ingest.group_splits" in str(err.value)
    assert manifest.read_bytes() == before  # nothing moved


def test_an_edited_ledger_is_refused_without_a_previous_manifest(tmp_path, raw):
    """#30: with artifacts/manifest.csv absent, a group moved by hand in the ledger moved its
    clips unnoticed; each row's check now says which split ingest wrote it with."""
    manifest, ledger = tmp_path / "manifest.csv", tmp_path / "splits.csv"
    run_ingest(PINNED, raw, manifest, ledger)
    manifest.unlink()
    ledger.write_text(ledger.read_text().replace("te,test", "te,train"))
    with pytest.raises(IngestError, match="group 'te' had its clips in test") as err:
        run_ingest(IngestConfig(), raw, manifest, ledger)
    assert "ingest.group_splits" in str(err.value)
    assert not manifest.exists()


def test_a_renamed_clip_keeps_its_group_or_the_rename_is_refused(tmp_path, raw, caplog):
    """#30: a clip renamed in data/raw lost its labels.csv row and silently became a group of
    its own (the leakage rule could no longer see the person)."""
    manifest, ledger = tmp_path / "manifest.csv", tmp_path / "splits.csv"
    run_ingest(PINNED, raw, manifest, ledger)
    groups = {r.clip_id: r.group for r in read_manifest(manifest)}
    first, second = sorted(raw.glob("*/*.mp4"))[:2]
    first.rename(first.with_name("renamed_" + first.name))
    with caplog.at_level("WARNING"):
        run_ingest(PINNED, raw, manifest, ledger)
    assert {r.clip_id: r.group for r in read_manifest(manifest)} == groups
    assert f"renamed_{first.name}: no row in" in caplog.text and "keeps that clip's group" in caplog.text

    manifest.unlink()  # nothing left that knows the clip's content: refused, naming both sides
    second.rename(second.with_name("renamed_" + second.name))
    with pytest.raises(IngestError, match=rf"names 2 file\(s\) that are not in .*{second.name}"
                                          rf".*renamed_{second.name}.*renamed clips would lose"):
        run_ingest(PINNED, raw, manifest, ledger)


def test_a_group_moved_on_purpose_is_pinned_in_params(tmp_path, raw):
    manifest, ledger = tmp_path / "manifest.csv", tmp_path / "splits.csv"
    run_ingest(PINNED, raw, manifest, ledger)
    moved = IngestConfig(group_splits={"tr": "train", "va": "test", "te": "val"})
    run_ingest(moved, raw, manifest, ledger)
    assert {r.group: r.split for r in read_manifest(manifest)} == {"tr": "train", "va": "test",
                                                                  "te": "val"}
