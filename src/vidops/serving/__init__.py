"""Serving: raw video in, label and probabilities out, from a registered model.

Owns the MLflow pyfunc (``VideoClassifier``, decoding with the training sampler), the
models-from-code entry file MLflow executes, and ``vidops serve``, which follows a
registry alias. Never imports training or registry code.

``VideoClassifier`` is exported here because champions logged before the package split
execute ``from vidops.serving import VideoClassifier`` when they load.
"""

from pathlib import Path

from vidops.serving.pyfunc import VIDEO_COLUMN, VideoClassifier

# The models-from-code file register logs; MLflow executes it on load (never import it).
MODEL_CODE = Path(__file__).with_name("model_code.py")

__all__ = ["MODEL_CODE", "VIDEO_COLUMN", "VideoClassifier"]
