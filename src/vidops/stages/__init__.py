"""The six DVC stages; each module holds a pure ``run_<stage>`` and nothing else holds stage logic."""
