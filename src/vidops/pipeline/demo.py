"""`vidops demo`: synth + import + one flow run, then where to look."""

from __future__ import annotations

from pathlib import Path

import typer

from vidops.pipeline.run_summary import summary_lines


def run_demo(source: Path, per_class: int) -> None:
    if not (Path("dvc.yaml").is_file() and Path("params.yaml").is_file()):
        raise FileNotFoundError("dvc.yaml/params.yaml not found: run the demo from the project root")
    if not source.is_dir():
        from vidops.data.synthetic import SynthSpec, write_dataset

        files = write_dataset(source, SynthSpec(per_class=per_class))
        typer.echo(f"demo dataset: {len(files)} clips written to {source}/")
    from vidops.pipeline.prefect_flow import video_pipeline

    summary = video_pipeline(source=str(source))
    for line in summary_lines(summary):
        typer.echo(line)
