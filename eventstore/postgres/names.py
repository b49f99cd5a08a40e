"""Store names of the PostgreSQL backend: parsing, and a form safe to print.

A name is a libpq URL plus one parameter of ours, ``schema`` (default
:data:`DEFAULT_SCHEMA`): ``postgresql://user@host:5432/db?schema=plans&sslmode=require``.
Pure string work; libpq itself checks the rest when connecting.
"""

from __future__ import annotations

import re
from typing import NamedTuple
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from ..errors import InvalidArgumentError

SCHEMES = ("postgresql", "postgres")
DEFAULT_SCHEMA = "superplanner"
#: an unquoted PostgreSQL identifier of at most 63 bytes: what ``schema=`` accepts
_SCHEMA_RE = re.compile(r"[a-z_][a-z0-9_]{0,62}\Z")


class StoreName(NamedTuple):
    """A parsed store name."""

    name: str  # as given (what ``Store.name`` returns, so that it opens the same store)
    conninfo: str  # the URL without ``schema``, for libpq
    schema: str
    shown: str  # the URL with its password masked, for messages


def is_postgres(name: str) -> bool:
    """True for a name this backend opens (``postgresql://`` or ``postgres://``)."""
    return name.partition("://")[0].lower() in SCHEMES and "://" in name


def parse(name: str) -> StoreName:
    """Split ``name``; InvalidArgumentError for a malformed URL or schema name. O(len)."""
    try:
        parts = urlsplit(name)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError as exc:
        raise InvalidArgumentError(f"bad PostgreSQL store URL {mask(name)!r}: {exc}") from None
    query = parse_qsl(parts.query, keep_blank_values=True)
    schemas = [v for k, v in query if k == "schema"]
    schema = schemas[-1] if schemas else DEFAULT_SCHEMA
    if not _SCHEMA_RE.match(schema):
        raise InvalidArgumentError(f"bad schema {schema!r} in the store URL {mask(name)!r}: use 1 to 63 "
                                   "lowercase ASCII letters, digits and '_', not starting with a digit")
    rest = urlencode([(k, v) for k, v in query if k != "schema"])
    base = name.partition("?")[0]  # (urlunsplit would drop the "//" of a URL without a host)
    conninfo = f"{base}?{rest}" if rest else base
    return StoreName(name, conninfo, schema, mask(name))


def mask(name: str) -> str:
    """``name`` with any password replaced by ``***`` (messages and logs never show one)."""
    try:
        parts = urlsplit(name)
        password = parts.password
    except ValueError:
        return re.sub(r"(://[^:/@]*:)[^@/]*@", r"\1***@", name)
    if not password:
        return name
    user, _, host = parts.netloc.rpartition("@")
    netloc = f"{user.partition(':')[0]}:***@{host}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
