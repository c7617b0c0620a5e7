"""Stage validate: the data-quality rules (data/quality.py) over the manifest and frame
index; writes the verdict and the Data Docs, and fails closed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from vidops.config import ValidateConfig
from vidops.data.quality import ERROR, QUARANTINE, WARN, RuleResult, check_data, clip_table
from vidops.data.verdict_page import verdict_html
from vidops.fileio import atomic_write_json, atomic_write_text

VERDICT_PAGE = "verdict.html"  # in the Data Docs folder: the verdict, readable offline


@dataclass(frozen=True)
class ValidateResult:
    success: bool
    clips: int
    rules: list[RuleResult]
    quarantine: dict[str, list[str]] = field(default_factory=dict)  # path -> rule names

    @property
    def errors(self) -> list[RuleResult]:
        return [r for r in self.rules if not r.passed and r.severity == ERROR]

    @property
    def warnings(self) -> list[RuleResult]:
        return [r for r in self.rules if not r.passed and r.severity in (QUARANTINE, WARN)]

    def summary(self) -> str:
        """A short human summary: which rule, how many clips, three example files."""
        lines = [f"validation {'passed' if self.success else 'FAILED'} on {self.clips} clips"]
        for r in self.errors + self.warnings:
            tag = {ERROR: "ERROR", QUARANTINE: "quarantined", WARN: "warning"}[r.severity]
            lines.append(f"  {tag} {r.rule}: {r.failing} - {r.description}")
            lines.extend(f"      e.g. {e}" for e in r.examples)
        return "\n".join(lines)


def run_validate(cfg: ValidateConfig, manifest_path: Path, frames_dir: Path,
                 report_path: Path, docs_dir: Path, resize: str = "crop") -> ValidateResult:
    """``resize``: extract.resize, to say whether a metadata leak reaches the model."""
    table = clip_table(manifest_path, frames_dir / "index.csv")
    rules, quarantine = check_data(cfg, table, docs_dir, resize)
    result = ValidateResult(not any(r.severity == ERROR and not r.passed for r in rules),
                            len(table), rules, quarantine)
    _write_report(report_path, result)
    docs_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(docs_dir / VERDICT_PAGE, verdict_html(result.success, result.clips, rules,
                                                          quarantine))
    return result


def _write_report(path: Path, result: ValidateResult) -> None:
    # No timestamps: train depends on this file, and an unchanged verdict must not retrain.
    report = {
        "success": result.success,
        "clips": result.clips,
        "errors": [r.rule for r in result.errors],
        "warnings": [r.rule for r in result.warnings],
        "quarantine": result.quarantine,
        "rules": [vars(r) for r in result.rules],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(path, report)  # train reads it: never a torn file
