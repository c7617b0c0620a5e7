"""Registry: MLflow tracking and the model registry as an audit trail.

Owns the tracking store location, provenance and environment tags, the champion alias
and its history, the registry lock, the promotion gate's rule, and publishing a model
folder as a registered pyfunc version. Never imports torch: it handles model folders and
scores, not networks.
"""
