"""Entrypoint of the Prefect flow `video-pipeline` (defined in vidops.pipeline.prefect_flow).

    python flows/pipeline.py                 # run once (like `vidops run`)
    python flows/pipeline.py --source DIR    # import new clips first
    python flows/pipeline.py serve "0 3 * * 1"   # serve with a cron schedule
"""

from __future__ import annotations

import argparse
import json

from vidops.pipeline.prefect_flow import serve_scheduled, video_pipeline

__all__ = ["video_pipeline"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("command", nargs="?", choices=["run", "serve"], default="run")
    parser.add_argument("cron", nargs="?", help="cron expression for serve")
    parser.add_argument("--source", help="folder of new clips to import first")
    parser.add_argument("--force", action="store_true", help="re-run every stage")
    args = parser.parse_args()
    if args.command == "serve":
        if not args.cron:
            parser.error("serve needs a cron expression")
        serve_scheduled(args.cron)
    else:
        print(json.dumps(video_pipeline(source=args.source, force=args.force), indent=2))


if __name__ == "__main__":
    main()
