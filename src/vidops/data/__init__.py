"""Data: what a clip is on disk and in the records, before any model sees it.

Owns the typed records (manifest, frame index), label rules, the raw store and the import
of new clips into it, the split ledger, frame extraction (driving ``vidops.video``), the
data-quality rules run by Great Expectations, the metadata-leak check and the synthetic
demo set. Knows nothing of models; never imports torch, MLflow, Prefect or DVC's API.
"""
