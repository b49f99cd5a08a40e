"""The command line (``python -m planner``) and ``planner watch``: adapters over the service."""
