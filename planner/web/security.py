"""The dashboard's security: read-only for everyone who can reach it, writes with a token.

* **The token** is a random secret in ``<home>/http.token``, created on the first
  ``serve --http`` with mode 0600 (its owner only; a file that others may read is refused),
  and the same across restarts. Whoever can read the file may write through the dashboard:
  the same people who may write the project's files.
* **Host** (every request): a ``Host`` header that does not name this server is refused
  (DNS rebinding; see :mod:`planner.web.address`).
* **Writes** (every method but GET, HEAD, OPTIONS) need the token in a header,
  ``Authorization: Bearer TOKEN`` or ``X-Planner-Token: TOKEN`` (never a cookie, so a
  browser never sends it on its own: no CSRF), and a browser's ``Origin``, when sent,
  must be this server's. No CORS headers are ever sent, so another site's page cannot
  even make the request with the header.
* Every response says ``nosniff``, no framing, no referrer, and a Content-Security-Policy
  that allows this origin's scripts and styles only.

:class:`Guard` is plain ASGI (no Starlette), O(headers) per request; refusals are JSON
``{"error": ...}`` with 401 (no or a wrong token) or 403 (Host, Origin).
"""

from __future__ import annotations

import hmac
import os
import secrets
import stat
from pathlib import Path
from typing import Any

from planner.domain.errors import DomainError
from planner.web.address import Bound

TOKEN_NAME = "http.token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'")
HEADERS = [(b"x-content-type-options", b"nosniff"), (b"x-frame-options", b"DENY"),
           (b"referrer-policy", b"no-referrer"), (b"content-security-policy", CSP.encode())]


def token_path(home: os.PathLike | str) -> Path:
    return Path(home) / TOKEN_NAME


def load_token(home: os.PathLike | str) -> str:
    """The home's dashboard token, created (0600, 256 random bits) when missing. Raises
    DomainError when the file may be read or written by others than its owner."""
    path = token_path(home)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            raise DomainError(f"{path} may be read by others (mode {mode:o}): `chmod 600 {path}`, or delete it "
                              "to get a new token") from None
        token = path.read_text().strip()
        if len(token) < 16:
            raise DomainError(f"{path} holds no usable token: delete it to get a new one") from None
        return token
    token = secrets.token_urlsafe(32)
    with os.fdopen(fd, "w") as f:  # (created 0600 whatever the umask: no moment when others could read it)
        f.write(token + "\n")
    return token


def _json_error(status: int, message: str) -> tuple[dict[str, Any], dict[str, Any]]:
    import json

    body = json.dumps({"error": message}).encode()
    start = {"type": "http.response.start", "status": status,
             "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                         *HEADERS]}
    return start, {"type": "http.response.body", "body": body}


class Guard:
    """ASGI middleware in front of the whole app: the checks of the module docstring."""

    def __init__(self, app: Any, token: str, bound: Bound):
        self.app = app
        self._token = token.encode()
        self.bound = bound
        self._names = bound.names()

    def refusal(self, method: str, headers: dict[bytes, bytes]) -> tuple[int, str] | None:
        """Why a request is refused (status, one line), or None when it may go on."""
        host = headers.get(b"host", b"").decode("latin-1")
        if not self.bound.accepts(host, self._names):
            return 403, (f"Host {host!r} is not this dashboard's address "
                         f"({self.bound.url.removeprefix('http://').rstrip('/')}): refused (DNS rebinding)")
        if method in SAFE_METHODS:
            return None
        origin = headers.get(b"origin", b"").decode("latin-1")
        if origin and not (origin.startswith("http://") and self.bound.accepts(origin[7:], self._names)):
            return 403, f"a write from another origin ({origin}) is refused"
        given = headers.get(b"x-planner-token", b"")
        auth = headers.get(b"authorization", b"")
        if not given and auth[:7].lower() == b"bearer ":
            given = auth[7:].strip()
        if not given:
            return 401, ("this needs the dashboard's token (in the home's http.token file) in an "
                         "X-Planner-Token or Authorization: Bearer header")
        if not hmac.compare_digest(given, self._token):
            return 401, "wrong token: use the one in the home's http.token file"
        return None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)  # lifespan
            return
        headers = dict(scope["headers"])  # (a repeated header: the last one counts)
        refused = self.refusal(scope.get("method", "GET"), headers)
        if refused is not None:
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008})
                return
            start, body = _json_error(*refused)
            await send(start)
            await send(body)
            return

        async def send_with_headers(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", ()), *HEADERS]}
            await send(message)

        await self.app(scope, receive, send_with_headers)
