"""Publishing a model folder as a registered MLflow pyfunc version."""

from __future__ import annotations

import base64
import warnings
from pathlib import Path

import pandas as pd


def publish_model(model_dir: Path, run_id: str, model_name: str, model_code: str,
                  video_column: str, pip_requirements: list[str], model_config: dict,
                  example: Path | None) -> str:
    """Log ``model_dir`` as a pyfunc on run ``run_id`` and register it; returns the version.

    ``model_code``: the models-from-code file MLflow stores and executes on load;
    ``video_column``: the input column of raw video bytes; ``example``: a real clip that
    MLflow serves once before registering.
    """
    import mlflow
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, DataType, Schema
    from mlflow.types.schema import Map

    import vidops

    package = Path(vidops.__file__).parent
    # Outputs as serving/pyfunc.py writes them: a video that cannot be read gets its row
    # with only ``error`` set, so no output column is required.
    outputs = Schema([ColSpec(DataType.string, "label", required=False),
                      ColSpec(DataType.double, "score", required=False),
                      ColSpec(Map(DataType.double), "probabilities", required=False),
                      ColSpec(DataType.string, "error", required=False)])
    # The input is a string column, not binary: JSON clients send base64 text, and MLflow
    # decodes a binary column for the whole batch before the model sees it (one null or
    # one entry that is not base64 failed every video of the request). The model decodes
    # each row itself (bytes from Python are taken as they are) and fails only that row.
    signature = ModelSignature(inputs=Schema([ColSpec(DataType.string, video_column,
                                                      required=False)]), outputs=outputs)
    with mlflow.start_run(run_id=run_id), warnings.catch_warnings():
        # A dataset with no test clip has no example to give; the signature still holds.
        warnings.filterwarnings("ignore", message=".*input example was not provided.*")
        info = mlflow.pyfunc.log_model(
            name="model",
            # Models from code: the registry stores this file, not a pickled object.
            python_model=model_code,
            model_config=model_config,
            artifacts={"model_dir": str(model_dir)},
            # The package travels with the model, so a serving box needs no vidops install.
            code_paths=[str(package)],
            pip_requirements=pip_requirements,
            signature=signature,
            # A real test clip: MLflow checks that the model serves it before registering.
            input_example=(pd.DataFrame({video_column: [
                base64.b64encode(example.read_bytes()).decode("ascii")]}) if example else None),
            registered_model_name=model_name,
        )
    return str(info.registered_model_version)
