"""``--http [HOST:]PORT``: where the dashboard listens, and which ``Host`` headers name it.

A browser sends the name it resolved in ``Host``. Refusing every other name defeats DNS
rebinding: a page of ``evil.example`` whose name is made to resolve to 127.0.0.1 still says
``Host: evil.example``. So the accepted names are the bound ``host:port``; for a loopback
bind also ``localhost``, ``127.0.0.1`` and ``[::1]`` with that port; for a wildcard bind
(``0.0.0.0`` or ``::``), any IP literal (rebinding needs a name), ``localhost`` and this
machine's own names. Pure functions, O(1) per check.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass

from planner.domain.errors import DomainError

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
DEFAULT = f"{DEFAULT_HOST}:{DEFAULT_PORT}"
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "[::1]")
WILDCARDS = ("0.0.0.0", "::")


def parse_address(text: str) -> tuple[str, int]:
    """``PORT``, ``HOST:PORT`` or ``[IPV6]:PORT`` as (host, port); the host defaults to
    127.0.0.1 (loopback only). Port 0 asks the system for a free port. Raises DomainError."""
    text = text.strip()
    host, sep, port = text.rpartition(":")
    if not sep:
        host, port = DEFAULT_HOST, text
    elif host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise DomainError(f"--http {text!r}: write an IPv6 address in brackets, e.g. [::1]:{DEFAULT_PORT}")
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise DomainError(f"--http {text!r}: the port must be a number from 0 to 65535 (e.g. {DEFAULT})")
    return host or DEFAULT_HOST, int(port)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name[1:-1] if name.startswith("[") and name.endswith("]") else name)
    except ValueError:
        return False
    return True


def host_header(host: str, port: int) -> str:
    """How a browser writes ``host:port`` in a ``Host`` header (IPv6 in brackets)."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


@dataclass(frozen=True)
class Bound:
    """The address the dashboard listens on (the real port once bound), and the Host check."""

    host: str
    port: int

    @property
    def url(self) -> str:
        shown = "127.0.0.1" if self.host in WILDCARDS else self.host
        return f"http://{host_header(shown, self.port)}/"

    def names(self) -> frozenset[str]:
        """The exact ``Host`` values accepted (for a wildcard bind, the names besides IP literals)."""
        if self.host in WILDCARDS:
            hosts = {"localhost", socket.gethostname().lower(), socket.getfqdn().lower()}
        elif is_loopback(self.host):
            hosts = {self.host.lower(), *LOOPBACK_NAMES}
        else:
            hosts = {self.host.lower()}
        return frozenset(host_header(h, self.port) if not h.startswith("[") else f"{h}:{self.port}" for h in hosts)

    def accepts(self, header: str | None, names: frozenset[str] | None = None) -> bool:
        """Whether a request's ``Host`` header names this server (see the module docstring)."""
        if not header:
            return False
        value = header.strip().lower()
        if self.port == 80 and not value.endswith("]") and ":" not in value.rpartition("]")[2]:
            value += ":80"  # a browser leaves out the default port
        if value in (names if names is not None else self.names()):
            return True
        if self.host in WILDCARDS:
            name, sep, port = value.rpartition(":")
            return bool(sep) and port == str(self.port) and _is_ip(name)
        return False
