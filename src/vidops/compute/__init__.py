"""Compute: where per-clip work runs (this machine's processes, or a Dask cluster), never what it computes."""
