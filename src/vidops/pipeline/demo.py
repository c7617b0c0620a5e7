"""`vidops demo`: a project of its own (``demo/``), the synthetic clips imported into it,
one flow run, then where to look. Trying the demo never mixes into a user's data."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from vidops.errors import VidopsError
from vidops.pipeline.run_summary import summary_lines


def run_demo(project: Path, source: Path, per_class: int) -> None:
    """Make ``project`` with `vidops init` unless it is one already (then `vidops upgrade`
    it), write the demo clips to ``source`` unless they are there, and run the flow in
    ``project`` importing them."""
    project, source = project.resolve(), source.resolve()
    if not (project / "dvc.yaml").is_file():
        from vidops.pipeline.new_project import init_project

        init_project(project)  # refuses a folder with other files in it
        typer.echo(f"demo project made in {project} (vidops init)")
    elif not (project / "params.yaml").is_file():
        raise VidopsError(f"{project}: has dvc.yaml but no params.yaml; not a vidops project")
    else:
        # The demo's project is vidops's own: after an update of vidops (moved params, new
        # stage commands) `make demo` brings it along instead of stopping on its old files.
        from vidops.pipeline.new_project import upgrade_project

        changed = upgrade_project(project)
        if changed:
            typer.echo(f"demo project brought to this vidops: {'; '.join(changed)}")
    if not source.is_dir():
        from vidops.data.synthetic import SynthSpec, write_dataset

        files = write_dataset(source, SynthSpec(per_class=per_class))
        typer.echo(f"demo dataset: {len(files)} clips written to {source}/")
    from vidops.pipeline.prefect_flow import video_pipeline

    os.chdir(project)  # the flow, DVC and the summary's paths are the project's
    summary = video_pipeline(source=str(source))
    for line in summary_lines(summary):
        typer.echo(line)
    typer.echo(f"  (paths above are in the demo project: cd {project})")
