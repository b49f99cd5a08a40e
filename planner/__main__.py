"""``python -m planner``: see :mod:`planner.cli.cli`."""

from planner.cli.cli import main

raise SystemExit(main())
