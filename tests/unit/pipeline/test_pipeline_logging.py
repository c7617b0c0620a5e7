"""The flow's task logs carry each line of DVC's own output once."""

import io
import logging

from vidops.pipeline.stage_output import dvc_logs_once


def test_dvc_lines_do_not_also_reach_a_root_handler_while_a_stage_runs():
    root_out = io.StringIO()
    handler = logging.StreamHandler(root_out)
    logging.getLogger().addHandler(handler)  # what `vidops run` configures (cli._logging)
    dvc_logger = logging.getLogger("dvc.stage.run")
    try:
        with dvc_logs_once():
            dvc_logger.warning("Running stage 'extract'")
        assert root_out.getvalue() == ""
        dvc_logger.warning("after the stage")  # propagation is restored afterwards
        assert "after the stage" in root_out.getvalue()
    finally:
        logging.getLogger().removeHandler(handler)
