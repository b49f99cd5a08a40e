"""The service layer: every command and query as plain, JSON-ready data (see :mod:`planner.service.service`)."""
