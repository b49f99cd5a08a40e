"""The git archive's background committer: ``python -m planner.engine.committer --store NAME --project P commit --background``.

Started detached by :func:`planner.engine.maintenance.start_committer_process` when a
writer sees that a commit is due; it commits once and releases the claim that its
starter took (:class:`eventstore.archive_marks.ArchiveMarks`), so that another may be
started. Prints nothing; a failure is left for the next commit to retry.
"""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m planner.engine.committer")
    parser.add_argument("--store", required=True)
    parser.add_argument("--project", required=True)
    parser.add_argument("--archive-dir", help="where the archive of a store without files is kept")
    parser.add_argument("action", choices=["commit"])
    parser.add_argument("--background", action="store_true", help="started by a writer that claimed the commit")
    args = parser.parse_args(argv)
    from planner.engine.engine import Planner
    from planner.engine.maintenance import Maintenance, commit_archive

    with Planner.open(None, args.project, store=args.store, archive_dir=args.archive_dir) as planner:
        try:
            commit_archive(planner, force=True)
        finally:
            marks = Maintenance.marks(planner)
            if args.background and marks is not None:
                marks.release_committer()
    return 0


if __name__ == "__main__":
    sys.exit(main())
