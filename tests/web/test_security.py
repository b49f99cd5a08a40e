"""The address and security rules, without a server: ``--http`` parsing, the Host check, the token file,
and the guard's decisions."""

from __future__ import annotations

import os
import stat

import pytest

from planner.domain.errors import DomainError
from planner.web.address import Bound, parse_address
from planner.web.security import Guard, load_token


@pytest.mark.parametrize(("text", "expected"), [
    ("8765", ("127.0.0.1", 8765)), (":9000", ("127.0.0.1", 9000)), ("localhost:80", ("localhost", 80)),
    ("0.0.0.0:8000", ("0.0.0.0", 8000)), ("[::1]:8765", ("::1", 8765)), ("127.0.0.1:0", ("127.0.0.1", 0)),
])
def test_addresses(text, expected):
    assert parse_address(text) == expected


@pytest.mark.parametrize("text", ["http", "host:", "1.2.3.4:70000", "::1:8765", "x:-1"])
def test_bad_addresses_say_what_to_write(text):
    with pytest.raises(DomainError, match="--http"):
        parse_address(text)


def test_a_loopback_bind_accepts_its_loopback_names_only():
    bound = Bound("127.0.0.1", 8765)
    for host in ("127.0.0.1:8765", "localhost:8765", "LOCALHOST:8765", "[::1]:8765"):
        assert bound.accepts(host), host
    for host in ("127.0.0.1:8766", "evil.example:8765", "evil.example", "localhost", "", None, "127.0.0.2:8765"):
        assert not bound.accepts(host), host


def test_a_named_bind_accepts_its_name_and_a_wildcard_bind_any_ip_literal():
    assert Bound("planner.lan", 8000).accepts("planner.lan:8000")
    assert not Bound("planner.lan", 8000).accepts("localhost:8000")
    wildcard = Bound("0.0.0.0", 8000)
    assert wildcard.accepts("192.0.2.7:8000") and wildcard.accepts("[2001:db8::1]:8000")
    assert wildcard.accepts("localhost:8000")
    assert not wildcard.accepts("rebound.evil.example:8000")  # a name that resolves here: DNS rebinding
    assert not wildcard.accepts("192.0.2.7:8001")
    assert Bound("127.0.0.1", 80).accepts("localhost")  # the default port left out


def test_the_token_file_is_made_once_for_its_owner_only(tmp_path):
    token = load_token(tmp_path)
    path = tmp_path / "http.token"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(token) >= 32 and load_token(tmp_path) == token  # the same across restarts
    os.chmod(path, 0o644)
    with pytest.raises(DomainError, match="chmod 600"):
        load_token(tmp_path)


def headers(**given: str) -> dict[bytes, bytes]:
    return {k.replace("_", "-").encode(): v.encode() for k, v in given.items()}


def test_the_guard_reads_freely_and_writes_with_the_token_from_this_origin():
    guard = Guard(app=None, token="s3cret-token-of-enough-length", bound=Bound("127.0.0.1", 8765))
    here = {"host": "127.0.0.1:8765"}
    assert guard.refusal("GET", headers(**here)) is None
    assert guard.refusal("GET", headers(host="evil.example:8765"))[0] == 403
    assert guard.refusal("POST", headers(**here))[0] == 401
    assert guard.refusal("POST", headers(**here, x_planner_token="wrong"))[0] == 401
    assert guard.refusal("POST", headers(**here, x_planner_token="s3cret-token-of-enough-length")) is None
    assert guard.refusal("POST", headers(**here, authorization="Bearer s3cret-token-of-enough-length")) is None
    assert guard.refusal("POST", headers(**here, origin="http://localhost:8765",
                                         x_planner_token="s3cret-token-of-enough-length")) is None
    refused = guard.refusal("POST", headers(**here, origin="http://evil.example",
                                            x_planner_token="s3cret-token-of-enough-length"))
    assert refused[0] == 403 and "another origin" in refused[1]
