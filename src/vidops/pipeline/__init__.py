"""Pipeline: running the six stages as DVC stages under a Prefect flow.

Owns the Prefect flow and its schedule, reproducing stages through DVC's Python API,
pushing to and restoring from the DVC remote, the one-run-per-project lock and the demo.
Never imports a stage: stages run only through DVC, so a Prefect run and ``dvc repro``
give the same ``dvc.lock``.
"""
