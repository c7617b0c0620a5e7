"""Data-quality rules as Great Expectations suites, run over the manifest and frame index.

Every rule is a GX expectation whose ``meta`` carries its severity:

- ``error``: the data must not be trained on (leakage, a class too thin in a split, too
  many undecodable clips); the stage exits non-zero.
- ``quarantine``: the offending clips are listed in ``reports/validation.json`` with the
  reason, and train/evaluate leave them out; the files in data/raw are never touched.
- ``warn``: reported (class imbalance), nothing is left out.

Rules run in two passes: per-clip rules first, then the per-class counts on the clips
that survive quarantine, so that a class emptied by quarantine is caught.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from vidops.config import ValidateConfig
from vidops.data.metadata_leak import SHAPE_FIELDS, LeakReport, check_metadata_leak, metadata_table
from vidops.data.records import SPLITS, read_frame_index, read_manifest

log = logging.getLogger(__name__)

ERROR, QUARANTINE, WARN = "error", "quarantine", "warn"
STATS = ["decoded_frames", "header_frames", "fps", "width", "height", "duration_s",
         "mean_intensity", "motion_energy"]
LABEL_PATTERN = r"^[^/\\\x00-\x1f]{1,64}$"


@dataclass(frozen=True)
class RuleResult:
    rule: str
    severity: str
    passed: bool
    description: str
    failing: int  # rows that broke the rule
    examples: list[str]  # up to three offending files or (label, split) cells


def clip_table(manifest_path: Path, index_path: Path) -> pd.DataFrame:
    """One row per manifest row, joined with its frame stats and derived leakage columns."""
    clips = pd.DataFrame([vars(r) for r in read_manifest(manifest_path)])
    frames = pd.DataFrame([vars(r) for r in read_frame_index(index_path)])
    frames = frames.drop(columns=["path"]).drop_duplicates("clip_id")
    table = clips.merge(frames, on="clip_id", how="left", validate="many_to_one")
    table["decode_error"] = table["decode_error"].fillna("no row in the frame index")
    table.loc[table["decode_error"] == "", "decode_error"] = None
    # Stats of a clip that did not decode are unknown, not zero; GX skips nulls.
    table[STATS] = table[STATS].astype(float)
    table.loc[table["decode_error"].notna(), STATS] = None
    header = table["header_frames"].where(table["header_frames"] > 0)
    table["decoded_ratio"] = table["decoded_frames"] / header
    table["short_side"] = table[["width", "height"]].min(axis=1)
    table["long_side"] = table[["width", "height"]].max(axis=1)
    table["labels_of_clip"] = table.groupby("clip_id")["label"].transform("nunique")
    table["splits_of_clip"] = table.groupby("clip_id")["split"].transform("nunique")
    table["splits_of_group"] = table.groupby("group")["split"].transform("nunique")
    table["repeat_copy"] = table.duplicated("clip_id", keep="first")
    return table


def class_table(table: pd.DataFrame, quarantined: set[str]) -> pd.DataFrame:
    """Usable clips per (label, split), zeros included."""
    usable = table[~table["path"].isin(quarantined) & table["decode_error"].isna()]
    counts = usable.groupby(["label", "split"]).size()
    cells = [(lab, s, int(counts.get((lab, s), 0))) for lab in sorted(table["label"].unique())
             for s in SPLITS]
    classes = pd.DataFrame(cells, columns=["label", "split", "clips"])
    largest = classes.groupby("split")["clips"].transform("max")
    classes["imbalance"] = largest / classes["clips"].where(classes["clips"] > 0)
    return classes


def _meta(rule: str, severity: str, description: str) -> dict:
    """An expectation's ``meta``: the rule's name, severity and plain-words description."""
    return {"rule": rule, "severity": severity, "description": description}


def clip_rules(cfg: ValidateConfig) -> list:
    import great_expectations as gx

    e = gx.expectations
    label_set = []
    if cfg.expected_labels:
        label_set = [e.ExpectColumnValuesToBeInSet(
            column="label", value_set=list(cfg.expected_labels), meta=_meta(
                "label_set", ERROR, f"label is not one of {list(cfg.expected_labels)}"))]
    return [
        *label_set,
        e.ExpectColumnValuesToMatchRegex(column="label", regex=LABEL_PATTERN, meta=_meta(
            "label_name", ERROR, "label is empty, too long, or has a path separator")),
        e.ExpectColumnValuesToBeBetween(column="labels_of_clip", max_value=1, meta=_meta(
            "same_bytes_two_labels", ERROR, "identical bytes carry two different labels")),
        e.ExpectColumnValuesToBeBetween(column="splits_of_clip", max_value=1, meta=_meta(
            "clip_in_two_splits", ERROR, "identical bytes appear in two splits (leakage)")),
        e.ExpectColumnValuesToBeBetween(column="splits_of_group", max_value=1, meta=_meta(
            "group_in_two_splits", ERROR, "one group spans two splits (leakage)")),
        e.ExpectColumnValuesToBeNull(column="decode_error", mostly=cfg.min_decodable_fraction,
                                     meta=_meta("decodable_fraction", ERROR,
                                            f"fewer than {cfg.min_decodable_fraction:.0%} "
                                            "of clips decode")),
        e.ExpectColumnValuesToBeNull(column="decode_error", meta=_meta(
            "decodes", QUARANTINE, "clip does not decode")),
        e.ExpectColumnValuesToBeInSet(column="repeat_copy", value_set=[False], meta=_meta(
            "duplicate_copy", QUARANTINE, "same bytes as an earlier file; the copy is left out")),
        e.ExpectColumnValuesToBeBetween(
            column="duration_s", min_value=cfg.min_duration_s, max_value=cfg.max_duration_s,
            meta=_meta("duration", QUARANTINE,
                   f"duration outside [{cfg.min_duration_s}, {cfg.max_duration_s}] s")),
        e.ExpectColumnValuesToBeBetween(column="decoded_frames", min_value=cfg.min_frames, meta=_meta(
            "too_few_frames", QUARANTINE, f"fewer than {cfg.min_frames} frames decode")),
        e.ExpectColumnValuesToBeBetween(column="decoded_ratio", min_value=cfg.min_decoded_ratio,
                                        meta=_meta("frames_missing", QUARANTINE,
                                               "far fewer frames decode than the header claims "
                                               "(cut short)")),
        e.ExpectColumnValuesToBeBetween(column="fps", min_value=cfg.min_fps, max_value=cfg.max_fps,
                                        meta=_meta("fps", QUARANTINE, f"frame rate outside "
                                               f"[{cfg.min_fps}, {cfg.max_fps}]")),
        e.ExpectColumnValuesToBeBetween(column="short_side", min_value=cfg.min_side_px, meta=_meta(
            "too_small", QUARANTINE, f"short side under {cfg.min_side_px} px")),
        e.ExpectColumnValuesToBeBetween(column="long_side", max_value=cfg.max_side_px, meta=_meta(
            "too_large", QUARANTINE, f"long side over {cfg.max_side_px} px")),
        e.ExpectColumnValuesToBeBetween(column="mean_intensity", min_value=cfg.min_mean_intensity,
                                        meta=_meta("blank", QUARANTINE, "blank (near-black) clip")),
        e.ExpectColumnValuesToBeBetween(column="motion_energy", min_value=cfg.min_motion_energy,
                                        meta=_meta("frozen", QUARANTINE,
                                               "frozen clip: the sampled frames do not change")),
    ]


def class_rules(cfg: ValidateConfig) -> list:
    import great_expectations as gx

    e = gx.expectations
    return [
        e.ExpectColumnValuesToBeBetween(column="clips", min_value=cfg.min_clips_per_class, meta=_meta(
            "min_clips_per_class", ERROR,
            f"a class has fewer than {cfg.min_clips_per_class} usable clips in a split")),
        e.ExpectColumnValuesToBeBetween(column="imbalance", max_value=cfg.max_imbalance, meta=_meta(
            "class_imbalance", WARN,
            f"the largest class in a split has over {cfg.max_imbalance:g}x this class's clips")),
    ]


def leak_rules(cfg: ValidateConfig, leak: LeakReport, resize: str) -> list:
    import great_expectations as gx

    advice = "a model can learn the camera instead of the action"
    telling = {t.split(" ", 1)[0] for c in leak.leaking for t in c.telling}
    if SHAPE_FIELDS & telling:
        advice = ("extract.resize is pad: its letterbox bars pass the aspect ratio to the model; "
                  "set extract.resize: crop" if resize == "pad" else
                  "extraction crops every clip to the same square (extract.resize: crop), so the "
                  "frame shape does not reach the model, but check how the classes were filmed")
    return [gx.expectations.ExpectColumnValuesToBeBetween(
        column="excess", max_value=0.0, meta=_meta(
            "metadata_leak", WARN,
            f"clip metadata alone predicts this class ({leak.reason}; limit "
            f"{cfg.metadata_leak_margin:g} of the way from chance to F1 1); {advice}"))]


def leak_table(leak: LeakReport) -> pd.DataFrame:
    return pd.DataFrame([{"label": c.label, "f1": c.f1, "chance": c.chance,
                          "excess": c.f1 - c.limit,
                          "telling": "; ".join(c.telling) or "no single field stands out"}
                         for c in leak.classes])


class Checker:
    """Runs GX checkpoints in one ephemeral context and renders their Data Docs."""

    def __init__(self, docs_dir: Path) -> None:
        import great_expectations as gx

        self.gx = gx
        self.context = gx.get_context(mode="ephemeral")
        self.context.variables.progress_bars = {"globally": False}
        if docs_dir.exists():
            shutil.rmtree(docs_dir)  # stale pages of an earlier run would read as current
        self.context.add_data_docs_site(site_name="vidops", site_config={
            "class_name": "SiteBuilder",
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
            "store_backend": {"class_name": "TupleFilesystemStoreBackend",
                              "base_directory": str(docs_dir.resolve())},
        })
        self.source = self.context.data_sources.add_pandas("vidops")
        self.failed_rows: list[tuple[RuleResult, list[int]]] = []

    def run(self, name: str, df: pd.DataFrame, expectations: list, describe) -> list[RuleResult]:
        gx = self.gx
        batch = self.source.add_dataframe_asset(name).add_batch_definition_whole_dataframe(name)
        suite = self.context.suites.add(gx.ExpectationSuite(name=f"vidops_{name}"))
        for expectation in expectations:
            suite.add_expectation(expectation)
        definition = self.context.validation_definitions.add(
            gx.ValidationDefinition(name=name, data=batch, suite=suite))
        checkpoint = self.context.checkpoints.add(gx.Checkpoint(
            name=f"vidops_{name}", validation_definitions=[definition], result_format="COMPLETE",
            actions=[gx.checkpoint.UpdateDataDocsAction(name="docs", site_names=["vidops"])]))
        run = checkpoint.run(batch_parameters={"dataframe": df})
        out = []
        for outcome in next(iter(run.run_results.values())).results:
            meta = outcome.expectation_config.meta
            rows = list(outcome.result.get("unexpected_index_list") or [])
            examples = [describe(df.loc[i]) for i in rows[:3]]
            rule = RuleResult(meta["rule"], meta["severity"], bool(outcome.success),
                              meta["description"], len(rows), examples)
            if not outcome.success:
                self.failed_rows.append((rule, rows))
            out.append(rule)
        return out


def check_data(cfg: ValidateConfig, table: pd.DataFrame, docs_dir: Path, resize: str
               ) -> tuple[list[RuleResult], dict[str, list[str]]]:
    """Every rule over ``clip_table``'s rows: the results and the quarantine (path -> rules)."""
    checker = Checker(docs_dir)
    rules = checker.run("clips", table, clip_rules(cfg), lambda row: row["path"])
    quarantine: dict[str, list[str]] = {}
    for rule, rows in checker.failed_rows:
        if rule.severity == QUARANTINE:
            for path in table.loc[rows, "path"]:
                quarantine.setdefault(path, []).append(rule.rule)
    classes = class_table(table, set(quarantine))
    rules += checker.run("classes", classes, class_rules(cfg),
                         lambda row: f"label {row['label']!r} in {row['split']}: {row['clips']} clips")
    usable = table[~table["path"].isin(set(quarantine))]
    leak = check_metadata_leak(metadata_table(usable), cfg.metadata_leak_margin)
    if leak.ran:
        rules += checker.run("metadata", leak_table(leak), leak_rules(cfg, leak, resize),
                             lambda row: f"{row['label']}: F1 {row['f1']:.2f} from metadata alone "
                                         f"(chance {row['chance']:.2f}); {row['telling']}")
    else:
        log.info("metadata-leak check skipped: %s", leak.reason)
    return rules, dict(sorted(quarantine.items()))

