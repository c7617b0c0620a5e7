"""A corpus of bad inputs: each caught by the right rule, at the right severity, nothing lost."""

import os

import numpy as np
import pytest

from support import write_tiny_dataset
from vidops.config import ExtractConfig, IngestConfig, ValidateConfig
from vidops.data.raw_store import import_clips
from vidops.data.synthetic import SynthSpec, render_clip, write_clip
from vidops.fileio import sha256_file
from vidops.stages.extract import run_extract
from vidops.stages.ingest import run_ingest
from vidops.stages.validate import run_validate

PINNED = IngestConfig(group_splits={"tr": "train", "va": "val", "te": "test"})
SPEC = SynthSpec(width=64, height=48)


def _frames(n: int, seed: int = 1) -> np.ndarray:
    clip = render_clip("spin", np.random.default_rng(seed), SynthSpec(width=64, height=48,
                                                                       min_frames=40, max_frames=40))
    return clip[:n]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """Clean tiny dataset plus one file per kind of bad input, in data/raw/spin/."""
    root = tmp_path_factory.mktemp("corpus")
    raw = root / "raw"
    import_clips(write_tiny_dataset(root / "source"), raw, PINNED.extensions)
    bad = raw / "spin"
    (bad / "zero_bytes.mp4").write_bytes(b"")
    (bad / "text.mp4").write_text("a text file renamed to .mp4\n" * 30)
    write_clip(bad / "long.avi", _frames(40, seed=2), 15)
    whole = (bad / "long.avi").read_bytes()
    (bad / "cut_short.avi").write_bytes(whole[: len(whole) // 2])  # header still claims 40
    (bad / "long.avi").unlink()
    write_clip(bad / "one_frame.mp4", _frames(1, seed=3), 15)
    write_clip(bad / "black.mp4", np.zeros((20, 48, 64, 3), np.uint8), 15)
    write_clip(bad / "frozen.mp4", np.repeat(_frames(1, seed=4), 20, axis=0), 15)
    big = np.stack([np.full((2160, 3840, 3), 40 * i, np.uint8) for i in range(1, 5)])
    write_clip(bad / "uhd_4k.mp4", big, 15)
    # A Latin-1 name, not valid UTF-8. Written under a plain name and renamed with bytes:
    # OpenCV crashes (SIGSEGV) when handed such a path, which is why ingest refuses it.
    write_clip(bad / "latin1.mp4", _frames(20, seed=5), 15)
    os.rename(os.fsencode(bad / "latin1.mp4"), os.fsencode(bad) + b"/caf\xe9.mp4")
    return root


EXPECTED = {  # file -> the quarantine rule(s) that must name it
    "zero_bytes.mp4": {"decodes"},
    "text.mp4": {"decodes"},
    "cut_short.avi": {"frames_missing"},
    "one_frame.mp4": {"too_few_frames"},
    "black.mp4": {"blank"},
    "frozen.mp4": {"frozen"},
    "uhd_4k.mp4": {"too_large"},
}


def test_each_bad_input_is_named_by_its_rule_and_nothing_is_lost(corpus):
    raw = corpus / "raw"
    before = {p: sha256_file(p) for p in raw.rglob("*") if p.is_file()}
    ingest = run_ingest(PINNED, raw, corpus / "manifest.csv")
    (latin1,) = [s for s in ingest.skipped if "caf" in s]
    assert latin1.endswith("caf\\xe9.mp4: file name is not valid UTF-8; rename it")
    latin1.encode("utf-8")  # printable and writable anywhere: the odd byte is escaped
    run_extract(ExtractConfig(num_frames=6, size=32), corpus / "manifest.csv", corpus / "frames",
                progress=False)
    result = run_validate(ValidateConfig(min_decodable_fraction=0.8), corpus / "manifest.csv",
                          corpus / "frames", corpus / "validation.json", corpus / "docs")
    named = {path.rsplit("/", 1)[1]: set(rules) for path, rules in result.quarantine.items()}
    for name, rules in EXPECTED.items():
        assert rules <= named.get(name, set()), f"{name}: {named.get(name)}"
    assert set(named) == set(EXPECTED)  # no clean clip was quarantined
    assert result.success  # quarantine, not failure: 7 bad among 31
    summary = result.summary()
    assert "quarantined frozen: " in summary and "frozen.mp4" in summary
    after = {p: sha256_file(p) for p in raw.rglob("*") if p.is_file()}
    assert after == before  # data/raw untouched


def test_class_imbalance_is_a_warning_only(tmp_path):
    import shutil

    raw = tmp_path / "raw"
    import_clips(write_tiny_dataset(tmp_path / "source"), raw, PINNED.extensions)
    for i in range(6):  # spin gets 12 more training clips: 14 vs 2 in train
        for k in (0, 1):
            shutil.copy(raw / "spin" / "spin_000.mp4", raw / "spin" / f"extra_{i}_{k}.mp4")
            with (raw / "spin" / f"extra_{i}_{k}.mp4").open("ab") as f:
                f.write(bytes([i, k]))  # new bytes, same content: a distinct clip
    with (raw / "labels.csv").open("a") as f:
        for i in range(6):
            for k in (0, 1):
                f.write(f"spin/extra_{i}_{k}.mp4,spin,tr\n")
    run_ingest(PINNED, raw, tmp_path / "m.csv")
    run_extract(ExtractConfig(num_frames=6, size=32), tmp_path / "m.csv", tmp_path / "f",
                progress=False)
    result = run_validate(ValidateConfig(max_imbalance=5.0), tmp_path / "m.csv", tmp_path / "f",
                          tmp_path / "v.json", tmp_path / "d")
    assert result.success and result.quarantine == {}
    (rule,) = [r for r in result.warnings if r.rule == "class_imbalance"]
    assert rule.severity == "warn" and "in train" in rule.examples[0]
