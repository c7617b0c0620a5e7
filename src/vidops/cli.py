"""`vidops`: one thin command per stage, plus the commands users run by hand.

Commands parse, load their config section, call the stage's ``run_<stage>`` and turn an
error vidops expects (``VidopsError``: bad input, bad params, a refused state) into a
one-line message and exit code 1; anything else keeps its traceback. Heavy libraries are
imported inside the commands (start-up time), so `vidops ingest` does not pay for torch
and MLflow.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from vidops.cli_help import App
from vidops.config import Params, load_params
from vidops.errors import VidopsError

if TYPE_CHECKING:
    from vidops.evaluation.figures import TestFigures

app = App(help=__doc__.split("\n")[0], no_args_is_help=True, add_completion=False)
ParamsOpt = Annotated[Path, typer.Option("--params", help="params.yaml to read")]
STAGES = "Stages: dvc.yaml runs these (dvc repro, vidops run)"


def _path(key: str, help: str):
    """A stage's path option: dvc.yaml passes each from ``params.yaml``'s ``paths`` (through
    ``${paths.*}``); left out, the stage reads it there itself."""
    return typer.Option(None, help=f"{help} (default: paths.{key} in params.yaml)",
                        show_default=False)


def _stage_params(params: Path, **paths: Path | None) -> Params:
    """params.yaml with the paths given on the command line in place of its own."""
    cfg = load_params(params)
    given = {key: value for key, value in paths.items() if value is not None}
    return dataclasses.replace(cfg, paths=dataclasses.replace(cfg.paths, **given))


@contextmanager
def _known_errors() -> Iterator[None]:
    """Expected failures end with a clear message naming the file; bugs keep their traceback.

    A missing file is expected too (a path on the command line); its message names it.
    """
    try:
        yield
    except (VidopsError, FileNotFoundError) as err:
        typer.secho(f"error: {err}", err=True, fg="red")
        raise typer.Exit(1) from None


def _logging() -> None:
    # Our own messages at INFO; libraries (GX, MLflow, DVC) only when they warn.
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)
    logging.getLogger("vidops").setLevel(os.environ.get("VIDOPS_LOG_LEVEL", "INFO"))


# Telemetry off and a start-up timeout that survives a loaded machine, unless the user
# chose otherwise. Set here, at the edge, before any of these libraries is imported.
_ENV_DEFAULTS = {
    "DVC_NO_ANALYTICS": "1",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "true",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "90",
}


@app.callback()
def main() -> None:
    for key, value in _ENV_DEFAULTS.items():
        os.environ.setdefault(key, value)
    # The `dvc` and `vidops` that stages, imports and flows start are this installation's,
    # whether or not its environment is activated (a project made by `vidops init` shares it).
    here = str(Path(sys.executable).parent)
    if os.environ.get("PATH", "").split(os.pathsep)[0] != here:
        os.environ["PATH"] = here + os.pathsep + os.environ.get("PATH", "")
    _logging()


@app.command()
def init(folder: Annotated[Path, typer.Argument(help="new project folder (made; must be empty)")]
         ) -> None:
    """Make a project of your own: git, DVC, params.yaml, the pipeline; no data in it."""
    from vidops.pipeline.new_project import init_project

    with _known_errors():
        project = init_project(folder)
    typer.echo(f"new vidops project in {project.root} (git and DVC initialised, committed once)\n"
               f"its stages run this installation's vidops and dvc ({project.code})\n"
               f"next:\n  cd {folder}\n  vidops import /path/to/clips   "
               "# a folder per class, or a folder with labels.csv\n  vidops run")


@app.command()
def upgrade() -> None:
    """Bring this project to the installed vidops: dvc.yaml's stage commands and code deps,
    and params.yaml's keys that moved (values kept); `git diff` shows what changed."""
    from vidops.pipeline.new_project import upgrade_project

    with _known_errors():
        changed = upgrade_project(Path("."))
    typer.echo("rewritten from this installation: " + "; ".join(changed) + "\nthe stages whose "
               "params, commands or code changed run again on the next `vidops run`" if changed
               else "dvc.yaml and params.yaml are already this installation's")


@app.command()
def synth(out_dir: Annotated[Path, typer.Argument(help="folder to write <class>/<clip>.mp4 into")],
          per_class: int = typer.Option(30, help="clips per class"),
          seed: int = typer.Option(0, help="same seed, same clips")) -> None:
    """Write the embedded demo dataset (real encoded clips, one folder per class)."""
    from vidops.data.synthetic import CLASSES, SynthSpec, write_dataset

    files = write_dataset(out_dir, SynthSpec(per_class=per_class, seed=seed))
    typer.echo(f"wrote {len(files)} clips of classes {', '.join(CLASSES)} to {out_dir}")


@app.command("import")
def import_(source: Annotated[Path, typer.Argument(help="folder per class, or folder with labels.csv")],
            group_column: str = typer.Option("group", help="labels.csv column that holds the group"),
            params: ParamsOpt = Path("params.yaml"),
            no_dvc: bool = typer.Option(False, "--no-dvc", help="copy only; skip `dvc add`"),
            new_classes: bool = typer.Option(False, "--new-classes",
                                             help="allow classes the project's data does not "
                                                  "have yet (another task)")) -> None:
    """Copy new clips into data/raw/<label>/, skip bytes already there, `dvc add` them."""
    from vidops.data.raw_store import import_clips

    with _known_errors():
        cfg = load_params(params)
        result = import_clips(source, Path(cfg.paths.raw), cfg.ingest.extensions, group_column,
                              dvc_root=None if no_dvc else Path("."), new_classes=new_classes)
    for line in result.ignored + result.conflicts:
        typer.secho(f"not imported: {line}", err=True, fg="yellow")
    typer.echo(f"imported {len(result.copied)} new clips, {len(result.duplicates)} already present"
               + ("; data.dvc updated" if result.dvc_added else ""))
    if result.conflicts:
        raise typer.Exit(1)


@app.command(rich_help_panel=STAGES)
def ingest(raw: Path | None = _path("raw", "raw clips folder"),
           manifest: Path | None = _path("manifest", "manifest CSV to write"),
           splits: Path | None = _path("splits", "split ledger: group -> split, extended, never "
                                                 "rewritten"),
           params: ParamsOpt = Path("params.yaml")) -> None:
    """Stage ingest: list clips with ids, groups and splits into the manifest."""
    from vidops.stages.ingest import run_ingest

    with _known_errors():
        cfg = _stage_params(params, raw=raw, manifest=manifest, splits=splits)
        result = run_ingest(cfg.ingest, cfg.paths.raw, cfg.paths.manifest, cfg.paths.splits)
    typer.echo(f"manifest: {result.clips} clips, splits {result.per_split}, "
               f"classes {result.per_label}" + (f", {len(result.skipped)} files skipped"
                                                 if result.skipped else ""))
    typer.echo(f"split ledger {cfg.paths.splits}: {result.new_groups} new group(s) assigned"
               + (" (seeded from the previous manifest: no clip moved)" if result.migrated else ""))
    labels = sorted(result.per_label)
    width = max(len(label) for label in labels)
    typer.echo(f"  {'clips per class':{width}s}  " + "  ".join(f"{s:>5s}" for s in result.per_split_label))
    for label in labels:
        typer.echo(f"  {label:{width}s}  " + "  ".join(
            f"{result.per_split_label[s].get(label, 0):5d}" for s in result.per_split_label))


@app.command(rich_help_panel=STAGES)
def extract(raw: Path | None = typer.Option(None, hidden=True,
                                           help="ignored: projects made before it was dropped "
                                                "still pass it (clips are read through the "
                                                "manifest)"),
            manifest: Path | None = _path("manifest", "manifest CSV"),
            frames: Path | None = _path("frames", "frames folder to write"),
            params: ParamsOpt = Path("params.yaml")) -> None:
    """Stage extract: sample frames of every clip into <clip_id>.npy plus index.csv."""
    from vidops.stages.extract import run_extract

    with _known_errors():
        loaded = _stage_params(params, manifest=manifest, frames=frames)
        cfg = loaded.extract
        result = run_extract(cfg, loaded.paths.manifest, loaded.paths.frames)
    typer.echo(f"frames: {result.clips} clips, {result.decoded} decoded, {result.reused} reused, "
               f"{len(result.failed)} failed, {result.removed} stale files removed"
               + (f" (on {result.executor})" if result.executor else ""))
    if len(result.decoded_by) > 1:
        typer.echo("  decoded by: " + ", ".join(f"{w} {n}" for w, n in result.decoded_by.items()))
    if result.rejected:
        typer.secho(f"  {result.rejected} stored frame files failed their check (see the warnings) "
                    "and were decoded again", err=True, fg="yellow")
    if result.short:
        typer.echo(f"  {result.short} clips shorter than the sampler needs: "
                   f"extract.short_clip {cfg.short_clip}")
    for line in result.failed:
        typer.secho(f"  cannot decode {line}", err=True, fg="yellow")


@app.command(rich_help_panel=STAGES)
def validate(manifest: Path | None = _path("manifest", "manifest CSV"),
             frames: Path | None = _path("frames", "frames folder with index.csv"),
             report: Path | None = _path("validation", "validation JSON to write"),
             data_docs: Path | None = _path("data_docs", "Great Expectations Data Docs folder"),
             params: ParamsOpt = Path("params.yaml")) -> None:
    """Stage validate: Great Expectations rules; exits 1 when the data must not be trained on."""
    from vidops.stages.validate import run_validate

    with _known_errors():
        cfg = _stage_params(params, manifest=manifest, frames=frames, validation=report,
                            data_docs=data_docs)
        paths = cfg.paths
        result = run_validate(cfg.validate, paths.manifest, paths.frames, paths.validation,
                              paths.data_docs, cfg.extract.resize)
    typer.echo(result.summary(), err=not result.success)
    typer.echo(f"details: {paths.validation}; the verdict as a page: "
               f"{paths.data_docs}/verdict.html (reads offline)")
    if not result.success:
        raise typer.Exit(1)


@app.command(rich_help_panel=STAGES)
def train(manifest: Path | None = _path("manifest", "manifest CSV"),
          frames: Path | None = _path("frames", "frames folder"),
          validation: Path | None = _path("validation", "validation JSON (quarantine)"),
          model: Path | None = _path("model", "model folder to write"),
          log: Path | None = _path("train_log", "per-epoch CSV to write"),
          curves: Path | None = _path("curves", "training-curves PNG to write"),
          selection: Path | None = _path("selection", "model-selection JSON to write"),
          selection_plot: Path | None = _path("selection_plot", "model-selection PNG to write"),
          params: ParamsOpt = Path("params.yaml")) -> None:
    """Stage train: choose the architecture (auto), fit on train, best epoch on val macro F1."""
    with _known_errors():
        cfg = _stage_params(params, manifest=manifest, frames=frames, validation=validation,
                            model=model, train_log=log, curves=curves, selection=selection,
                            selection_plot=selection_plot)
    if cfg.train.processes > 1 and "LOCAL_RANK" not in os.environ:
        _relaunch_under_torchrun(cfg.train.processes)
    from vidops.stages.context import StageContext
    from vidops.stages.train import run_train

    with _known_errors():
        result = run_train(StageContext(cfg))
    if result is None:  # a DDP rank other than 0: rank 0 reports
        return
    for cand in result.selection.candidates:
        scored = f"mean macro F1 {cand.mean_f1:.3f}" if cand.mean_f1 is not None else cand.status
        typer.echo(f"  cv {cand.arch}: {scored} over {len(cand.fold_f1)} folds ({cand.seconds:.0f} s)")
    if result.resumed_from:
        typer.echo(f"resumed from the checkpoint of epoch {result.resumed_from}")
    where = f"{result.processes} processes on {result.device}" if result.processes > 1 else result.device
    from vidops.architectures import ARCHITECTURES

    # A linear head is one fit: there is no epoch to name.
    fitted = ("one fit" if ARCHITECTURES[result.arch].fits_a_head
              else f"best epoch {result.best_epoch}")
    typer.echo(f"trained {result.arch} on {where}: {fitted}, "
               f"val macro F1 {result.best_val_f1:.3f}; MLflow run {result.run_id}")


def _relaunch_under_torchrun(processes: int) -> None:
    """``train.processes: N``: the same command as N DDP processes on this machine.

    Multi-node runs start ``torchrun`` themselves (with their rendezvous arguments) and
    call ``vidops train``; LOCAL_RANK then tells this command it is already a rank.
    """
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import get_args_parser
    from torch.distributed.run import run as torchrun

    args = get_args_parser().parse_args(
        ["--standalone", f"--nproc-per-node={processes}", "-m", "vidops.cli"])
    # Set after parsing: torchrun's parser would take `--log` for an abbreviation of its own.
    args.training_script_args = sys.argv[1:]
    try:
        torchrun(args)
    except ChildFailedError as err:
        typer.secho(f"error: a training process failed: {err}", err=True, fg="red")
        raise typer.Exit(1) from None
    raise typer.Exit(0)


@app.command(rich_help_panel=STAGES)
def evaluate(manifest: Path | None = _path("manifest", "manifest CSV"),
             frames: Path | None = _path("frames", "frames folder"),
             validation: Path | None = _path("validation", "validation JSON (quarantine)"),
             model: Path | None = _path("model", "model folder"),
             metrics: Path | None = _path("metrics", "metrics JSON to write"),
             confusion: Path | None = _path("confusion", "confusion matrix PNG to write"),
             predictions: Path | None = _path("predictions", "per-clip predictions CSV to write"),
             scores: Path | None = _path("scores", "short flat metrics JSON to write "
                                                   "(dvc metrics show)"),
             params: ParamsOpt = Path("params.yaml")) -> None:
    """Stage evaluate: test-split figures with scikit-learn, logged to the training run."""
    from vidops.registry.descriptions import recipe_cv_sentence
    from vidops.stages.context import StageContext
    from vidops.stages.evaluate import run_evaluate

    with _known_errors():
        cfg = _stage_params(params, manifest=manifest, frames=frames, validation=validation,
                            model=model, metrics=metrics, confusion=confusion,
                            predictions=predictions, scores=scores)
        result = run_evaluate(StageContext(cfg))
    typer.echo(ci_summary("test", result.metrics))
    if result.metrics.video_level is not None:
        typer.echo(ci_summary("video level", result.metrics.video_level))
    typer.echo(recipe_cv_sentence(result.metrics.recipe_cv, markdown=False))


def ci_summary(name: str, m: TestFigures) -> str:
    """One line: the figures with their 95% bootstrap intervals and what was resampled."""
    acc, f1 = m.accuracy_ci, m.macro_f1_ci
    boot = m.bootstrap
    line = (f"{name}: accuracy {m.accuracy:.3f} [95% CI {acc[0]:.3f}, {acc[1]:.3f}], macro F1 "
            f"{m.macro_f1:.3f} [{f1[0]:.3f}, {f1[1]:.3f}], weighted F1 {m.weighted_f1:.3f} "
            f"on {m.n_clips} clips ({boot['units']} {boot['unit']}s resampled)")
    return line + (f"; {boot['note']}" if boot.get("note") else "")


@app.command(rich_help_panel=STAGES)
def register(manifest: Path | None = _path("manifest", "manifest CSV"),
             frames: Path | None = _path("frames", "frames folder with index.csv"),
             validation: Path | None = _path("validation", "validation JSON (quarantine)"),
             model: Path | None = _path("model", "model folder"),
             metrics: Path | None = _path("metrics", "metrics JSON of the candidate"),
             predictions: Path | None = _path("predictions", "per-clip predictions CSV of the "
                                                             "candidate"),
             promotion: Path | None = _path("promotion", "gate decision JSON to write"),
             params: ParamsOpt = Path("params.yaml")) -> None:
    """Stage register: new model version; `champion` moves only when the F1 gate passes."""
    from vidops.stages.context import StageContext
    from vidops.stages.register import run_register

    with _known_errors():
        cfg = _stage_params(params, manifest=manifest, frames=frames, validation=validation,
                            model=model, metrics=metrics, predictions=predictions,
                            promotion=promotion)
        result = run_register(StageContext(cfg))
    verdict = "PROMOTED to champion" if result.promoted else "not promoted"
    typer.echo(f"{result.model_name} version {result.version}: {verdict}: {result.reason}")
    from vidops.pipeline.run_summary import IN_FLOW, summary_lines

    if not os.environ.get(IN_FLOW):  # `dvc repro` ends here: the run's summary (a flow's own)
        for line in summary_lines(None, params):
            typer.echo(line)


def _registry(params: Path):
    import mlflow
    from mlflow import MlflowClient

    from vidops.registry.tracking import tracking_uri

    uri = tracking_uri(Path("."))
    mlflow.set_tracking_uri(uri)
    return MlflowClient(), load_params(params).register.model_name, uri


def _data_classes(params: Path) -> list[str] | None:
    """The classes of the project's data (its manifest), None where there is none."""
    from vidops.data.records import read_manifest

    manifest = Path(load_params(params).paths.manifest) if params.is_file() else None
    if manifest is None or not manifest.is_file():
        return None
    return sorted({r.label for r in read_manifest(manifest)})


@app.command()
def promote(version: str = typer.Option(..., help="model version to make champion"),
            reason: str = typer.Option(..., help="why, for the audit trail"),
            force: bool = typer.Option(False, help="even when it answers over other classes "
                                                   "than the project's data"),
            params: ParamsOpt = Path("params.yaml")) -> None:
    """Make a version `champion` by hand (bypasses the gate; recorded in the history)."""
    from vidops.registry.champion import move_champion
    from vidops.registry.classes import check_same_task
    from vidops.registry.lock import registry_lock

    with _known_errors():
        client, name, uri = _registry(params)
        with registry_lock(uri, name):
            check_same_task(client, name, version, _data_classes(params), force)
            event = move_champion(client, name, version, "promote", reason)
    typer.echo(f"{name}: champion is now version {event.version} (was {event.previous})")


@app.command()
def rollback(reason: str = typer.Option(..., help="why, for the audit trail"),
             force: bool = typer.Option(False, help="even when that version answers over other "
                                                    "classes than the project's data"),
             params: ParamsOpt = Path("params.yaml")) -> None:
    """Give `champion` back to the version that held it before the current one."""
    from vidops.registry.champion import rollback as roll_back
    from vidops.registry.classes import check_same_task
    from vidops.registry.lock import registry_lock

    with _known_errors():
        client, name, uri = _registry(params)
        classes = _data_classes(params)
        with registry_lock(uri, name):
            event = roll_back(client, name, reason, lambda version: check_same_task(
                client, name, version, classes, force))
    typer.echo(f"{name}: champion rolled back to version {event.version} (was {event.previous})")


@app.command()
def history(params: ParamsOpt = Path("params.yaml")) -> None:
    """List who was champion when, and why."""
    from vidops.registry.champion import history as champion_history

    with _known_errors():
        client, name, _ = _registry(params)
        events = champion_history(client, name)
    if not events:
        typer.echo(f"{name}: no champion yet")
        return
    typer.echo(f"{'when (UTC)':20s}  {'champion':8s}  {'replaced':8s}  {'how':8s}  {'who':10s}  why")
    for e in events:
        typer.echo(f"{e.at:20s}  {'v' + e.version:8s}  {'v' + e.previous if e.previous else '-':8s}  "
                   f"{e.action:8s}  {e.user:10s}  {e.reason}")


@app.command()
def run(source: Path | None = typer.Option(None, help="folder of new clips to import first"),
        force: bool = typer.Option(False, help="re-run every stage even if up to date"),
        new_classes: bool = typer.Option(False, "--new-classes",
                                         help="let --source bring classes the project's data "
                                              "does not have yet (another task)"),
        as_json: bool = typer.Option(False, "--json", help="print the flow's result as JSON "
                                                            "instead of the summary")) -> None:
    """Run the Prefect flow `video-pipeline` once."""
    import atexit

    from vidops.pipeline.repo_lock import hold_repo
    from vidops.pipeline.watchdog import release_lock, start_watchdog, stop_watchdog

    with _known_errors():
        # Before the flow (and the Prefect server it may start): a bad params.yaml or a busy
        # project is refused in a second, and before DVC deletes any stage's outputs.
        load_params(Path("params.yaml"))
        from vidops.pipeline.new_project import is_behind

        if is_behind(Path(".")):
            typer.secho("warning: this project's dvc.yaml was written by another vidops release "
                        "(its stage commands or code deps differ from this one's); `vidops "
                        "upgrade` rewrites it", err=True, fg="yellow")
        with hold_repo(Path(".")) as lock_fd:
            # Whatever this process starts dies with it, however it dies, and the lock is
            # held until then: the watchdog holds it too (pipeline/watchdog.py). Its stop
            # is registered before the flow starts the Prefect server, so at exit it runs
            # after Prefect has sent its last logs and stopped the server.
            watchdog = start_watchdog(lock_fd)
            atexit.register(stop_watchdog, watchdog)
            try:
                from vidops.pipeline.prefect_flow import video_pipeline

                summary = video_pipeline(source=str(source) if source else None, force=force,
                                         new_classes=new_classes)
            finally:
                release_lock(watchdog, lock_fd)  # the flow and its stages are over
    if as_json:
        typer.echo(json.dumps(summary, indent=2))
        return
    from vidops.pipeline.run_summary import summary_lines

    for line in summary_lines(summary):
        typer.echo(line)


@app.command()
def schedule(cron: str = typer.Option(..., help='cron expression, e.g. "0 3 * * 1"'),
             name: str = typer.Option("vidops-scheduled", help="deployment name"),
             source: Path | None = typer.Option(None, help="landing folder every run imports from")
             ) -> None:
    """Serve the flow with a cron schedule (needs `prefect server start` and PREFECT_API_URL)."""
    from vidops.pipeline.prefect_flow import serve_scheduled

    serve_scheduled(cron, name, source=str(source) if source else None)


def _model_name(params: Path) -> str:
    """register.model_name of the project, or its default where there is no project (a
    serving box that only has the tracking server)."""
    return (load_params(params) if params.is_file() else Params()).register.model_name


@app.command()
def predict(videos: Annotated[list[Path], typer.Argument(help="video files (or folders of them) to "
                                                         "classify")],
            model_uri: str = typer.Option("", help="MLflow model URI (default: "
                                          "models:/<register.model_name>@champion)"),
            params: ParamsOpt = Path("params.yaml")) -> None:
    """Print the champion's label and class probabilities for each video."""
    import mlflow

    from vidops.registry.tracking import tracking_uri
    from vidops.serving.pyfunc import predict_files

    with _known_errors():
        uri = model_uri or f"models:/{_model_name(params)}@champion"
        mlflow.set_tracking_uri(tracking_uri(Path(".")))
        files = _video_files(videos, _extensions(params))
        if not files:
            raise VidopsError(f"no video files in {', '.join(map(str, videos))}")
        with _decoder_noise_kept_back():
            out = predict_files(uri, files)
        version = _answering_version(uri)
    if version:
        typer.echo(f"answered by {version}", err=True)
    failed = 0
    for row in out.itertuples():
        if isinstance(getattr(row, "error", None), str):
            failed += 1
            typer.secho(f"{row.file}: error: {row.error.split(': ', 1)[-1]}", err=True, fg="red")
            continue
        probs = ", ".join(f"{k} {v:.3f}" for k, v in sorted(row.probabilities.items(),
                                                             key=lambda kv: -kv[1]))
        typer.echo(f"{row.file}: {row.label} ({row.score:.3f})  [{probs}]")
    if failed:
        raise typer.Exit(1)


def _answering_version(uri: str) -> str:
    """``name version N (@alias)`` for a ``models:/name@alias`` or ``models:/name/N`` URI."""
    from mlflow import MlflowClient

    target = uri.removeprefix("models:/")
    try:
        if "@" in target:
            name, alias = target.split("@", 1)
            return (f"{name} version {MlflowClient().get_model_version_by_alias(name, alias).version}"
                    f" (@{alias})")
        name, _, version = target.partition("/")
        return f"{name} version {version}" if version.isdigit() else ""
    except Exception:  # only a courtesy line: the answers are already printed
        return ""


@contextmanager
def _decoder_noise_kept_back() -> Iterator[None]:
    """FFmpeg and OpenCV write warnings about a damaged file straight to fd 2, above the
    clean error line that names it; kept back, and shown only if something crashes."""
    import tempfile

    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        try:
            yield
        except BaseException:
            os.dup2(saved, 2)
            held.seek(0)
            sys.stderr.write(held.read().decode(errors="replace")[-4000:])
            raise
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)


@app.command()
def request(videos: Annotated[list[Path], typer.Argument(help="video files (or folders of them)")],
            params: ParamsOpt = Path("params.yaml")) -> None:
    """Print the JSON body that asks a served model about these videos (MLflow's
    dataframe_split, base64): `vidops request clip.mp4 > req.json`, then
    `curl --data-binary @req.json` (a body on the command line is limited to ~128 KB)."""
    import base64

    with _known_errors():
        files = _video_files(videos, _extensions(params))
        if not files:
            raise VidopsError(f"no video files in {', '.join(map(str, videos))}")
        rows = []
        for path in files:
            try:
                rows.append([base64.b64encode(path.read_bytes()).decode("ascii")])
            except OSError as err:
                raise VidopsError(f"{path}: cannot be read ({err.strerror or err})") from None
    typer.echo(json.dumps({"dataframe_split": {"columns": ["video"], "data": rows}}))


def _video_files(paths: list[Path], extensions: tuple[str, ...]) -> list[Path]:
    """Files as given (a missing one is answered with its error); a folder: the video files
    under it (ingest.extensions), sorted."""
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            out += sorted(p for p in path.rglob("*") if p.is_file()
                          and p.suffix.lower() in extensions and not p.name.startswith("."))
        else:
            out.append(path)
    return out


def _extensions(params: Path) -> tuple[str, ...]:
    return (load_params(params) if params.is_file() else Params()).ingest.extensions


@app.command()
def push(params: ParamsOpt = Path("params.yaml")) -> None:
    """Push data and outputs to the default DVC remote; record them on the model version."""
    from vidops.pipeline.dvc_remote import push_run

    with _known_errors():
        result = push_run(Path("."), Path(load_params(params).paths.promotion))
    if result is None:
        typer.secho("error: no default DVC remote (`dvc remote add -d NAME URL`)", err=True, fg="red")
        raise typer.Exit(1)
    typer.echo(f"pushed {result.pushed} files to {result.remote} ({result.url})"
               + (f"; recorded on model version {result.version}" if result.version else ""))


@app.command()
def restore(version: str = typer.Option(..., help="registered model version to get back"),
            force: bool = typer.Option(False, help="restore even at another git commit"),
            params: ParamsOpt = Path("params.yaml")) -> None:
    """Get a registered version's data, model and reports back from the DVC remote."""
    from vidops.pipeline.dvc_remote import restore_version

    with _known_errors():
        name = load_params(params).register.model_name
        result = restore_version(Path("."), name, version, force)
    typer.echo(f"{name} version {result.version} (commit {result.git_commit}): restored "
               f"{', '.join(result.files)} and pulled its data and outputs")


@app.command()
def serve(host: str = typer.Option("127.0.0.1", help="address to listen on (0.0.0.0: all)"),
          port: int = typer.Option(5001, help="TCP port"),
          model_name: str = typer.Option("", help="registered model (default: register.model_name)"),
          alias: str = typer.Option("champion", help="registry alias to serve and follow"),
          poll_s: float = typer.Option(10.0, help="seconds between alias look-ups; a promotion "
                                       "is served within this plus the model's load time"),
          params: ParamsOpt = Path("params.yaml")) -> None:
    """Serve models:/NAME@ALIAS like `mlflow models serve`, switching when the alias moves."""
    import mlflow
    from mlflow.exceptions import MlflowException

    from vidops.registry.tracking import tracking_uri
    from vidops.serving.server import serve as run_server

    with _known_errors():
        model_name = model_name or _model_name(params)
    if not os.environ.get("MLFLOW_TRACKING_URI") and not Path("mlruns/mlflow.db").is_file():
        # Checked before MLflow opens the store: it would create an empty one here.
        typer.secho(f"error: no model to serve: MLFLOW_TRACKING_URI is not set and there is no "
                    f"MLflow store in {Path.cwd()} (mlruns/mlflow.db)\n  run the pipeline first "
                    "(`vidops run` or `dvc repro`) in this project, start `vidops serve` from the "
                    "project folder, or point MLFLOW_TRACKING_URI at the tracking server that "
                    "holds the model", err=True, fg="red")
        raise typer.Exit(1)
    uri = tracking_uri(Path("."))
    mlflow.set_tracking_uri(uri)
    typer.echo(f"serving models:/{model_name}@{alias} from {uri} on http://{host}:{port} "
               f"(POST /invocations, GET /ping, GET /version; alias checked every {poll_s:g} s)")
    try:
        run_server(model_name, alias, host, port, poll_s)
    except (MlflowException, ValueError) as err:
        typer.secho(f"error: cannot serve {model_name}@{alias} from {uri}: {err}\n"
                    f"  run the pipeline first (`vidops run` or `dvc repro`), or point "
                    f"MLFLOW_TRACKING_URI at the tracking server that holds the model",
                    err=True, fg="red")
        raise typer.Exit(1) from None


@app.command()
def demo(per_class: int = typer.Option(30, help="demo clips per class"),
         project: Path = typer.Option(Path("demo"), help="the demo's own project folder"),
         source: Path = typer.Option(Path("demo_data"), help="where the demo clips are written")
         ) -> None:
    """Make the demo project, generate its clips, import them, run the pipeline, say where
    to look."""
    from vidops.pipeline.demo import run_demo

    with _known_errors():
        run_demo(project, source, per_class)


if __name__ == "__main__":
    app()
