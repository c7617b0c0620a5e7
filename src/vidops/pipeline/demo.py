"""`vidops demo`: synth + import + one flow run, then where to look."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import typer

from vidops.config import load_params
from vidops.registry.descriptions import TRAINING_VIEW, recipe_cv_sentence


def run_demo(source: Path, per_class: int) -> None:
    if not (Path("dvc.yaml").is_file() and Path("params.yaml").is_file()):
        raise FileNotFoundError("dvc.yaml/params.yaml not found: run the demo from the project root")
    if not source.is_dir():
        from vidops.data.synthetic import SynthSpec, write_dataset

        files = write_dataset(source, SynthSpec(per_class=per_class))
        typer.echo(f"demo dataset: {len(files)} clips written to {source}/")
    from vidops.pipeline.prefect_flow import video_pipeline

    summary = video_pipeline(source=str(source))
    paths = load_params("params.yaml").paths
    typer.echo("\n== stages ==")
    for stage, status in summary["stages"].items():
        typer.echo(f"  {stage:9s} {status}")
    metrics = json.loads(Path(paths.metrics).read_text())
    typer.echo("\n== test metrics ==")
    f1_low, f1_high = metrics["macro_f1_ci"]
    typer.echo(f"  accuracy {metrics['accuracy']:.3f}  macro F1 {metrics['macro_f1']:.3f} "
               f"[95% CI {f1_low:.2f}, {f1_high:.2f}]  weighted F1 {metrics['weighted_f1']:.3f}  "
               f"({metrics['n_clips']} clips)")
    for name, f in metrics["per_class"].items():
        typer.echo(f"  {name:10s} P {f['precision']:.2f} R {f['recall']:.2f} F1 {f['f1']:.2f} "
                   f"n={f['support']}")
    if metrics.get("recipe_cv"):
        typer.echo(textwrap.fill(recipe_cv_sentence(metrics["recipe_cv"], markdown=False), 90,
                                 initial_indent="  ", subsequent_indent="  "))
    promotion = json.loads(Path(paths.promotion).read_text())
    typer.echo("\n== registry ==")
    typer.echo(f"  {promotion['model_name']} v{promotion['version']}: "
               f"{'champion' if promotion['promoted'] else 'challenger only'} - {promotion['reason']}")
    typer.echo("\n== where to look ==")
    for line in (
        f"{paths.confusion}, {paths.curves}   pictures of the result",
        f"{paths.metrics}, {paths.validation}   figures and the data verdict",
        f"{paths.data_docs}/verdict.html   the data verdict as a page (Great Expectations' "
        "Data Docs beside it)",
        "dvc repro / dvc metrics show / dvc plots show   the DVC view (`make plots-offline` "
        "once: the plots page then draws with no network)",
        "dvc exp show --drop '.*' --keep 'Experiment|macro_f1|accuracy|model.arch'   this run "
        "in the `workspace` row (`main` shows ! until dvc.lock and the reports are committed)",
        "mlflow ui --backend-store-uri sqlite:///mlruns/mlflow.db   runs and the registry: open "
        f"http://127.0.0.1:5000/#/experiments/1?{TRAINING_VIEW} (MLflow 3 otherwise "
        "opens on its GenAI overview)",
        "vidops predict demo_data/spin/spin_000.mp4   the champion on a clip",
    ):
        typer.echo(f"  {line}")
