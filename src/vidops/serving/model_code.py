"""MLflow models-from-code entry: the file `register` logs as the pyfunc's code.

MLflow executes this file when it loads the model, so the registry holds code rather
than a cloudpickle of an object. Not imported anywhere else.
"""

from mlflow.models import set_model

from vidops.serving.pyfunc import VideoClassifier

set_model(VideoClassifier())
