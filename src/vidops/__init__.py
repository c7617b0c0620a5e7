"""vidops: a video-classification MLOps pipeline on DVC, Prefect, Great Expectations and MLflow."""

__version__ = "0.1.0"
