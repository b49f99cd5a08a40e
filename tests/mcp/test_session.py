"""``AgentSession`` in-process (no MCP): registration on first claim, what closing does, the tokens it keeps."""

from __future__ import annotations

import pytest

from planner.domain.errors import DomainError, StaleLease
from planner.mcp.session import AgentSession
from planner.service.service import Service


@pytest.fixture
def service(tmp_path):
    with Service.open(tmp_path, "p", create=True) as s:
        s.add_task("one", id="a", capabilities=["sql"])
        s.add_task("two", id="b")
        s.set_mode("working")
        yield s


def types_after(service, seq: int) -> list[str]:
    return [e["type"] for e in service.events(seq + 1)] if service.last_seq() > seq else []


def test_a_session_that_only_reads_or_is_refused_writes_nothing_and_closing_it_neither(service):
    session = AgentSession(service, "ann", capabilities=["sql"])
    start = service.last_seq()
    session.status(), session.analyze(), session.service.ready()
    assert types_after(service, start) == []
    service.set_mode("planning")
    start = service.last_seq()
    with pytest.raises(DomainError, match="planning mode"):
        session.claim()
    session.close()
    assert types_after(service, start) == []


def test_the_first_claim_registers_and_closing_deregisters_giving_back_what_is_held(service):
    session = AgentSession(service, "ann", capabilities=["sql"], capacity=2)
    first, second = session.claim(), session.claim()
    assert [first["task"]["id"], second["task"]["id"]] == ["a", "b"]
    assert session.held() == {"a": first["token"], "b": second["token"]}
    session.close()
    assert [service.show(t)["state"] for t in "ab"] == ["pending", "pending"]
    assert service.show("a")["checkpoint"] is None and service.agent("ann")["active"] is False


def test_an_agent_known_with_other_capabilities_is_registered_again_before_its_first_claim(service):
    service.register_agent("ann", capabilities=[], capacity=1)
    session = AgentSession(service, "ann", capabilities=["sql"])
    assert session.claim()["task"]["id"] == "a"  # it needs sql: the old registration could not take it
    assert service.agent("ann")["capabilities"] == ["sql"]


def test_a_token_given_wins_and_a_stale_one_is_forgotten(service):
    session = AgentSession(service, "ann", capabilities=["sql"])
    got = session.claim()
    with pytest.raises(StaleLease, match=f"token 99 is stale: a is now leased to ann under token {got['token']}"):
        session.set_state("a", "completed", token=99)
    assert session.held() == {"a": got["token"]}  # (99 was never ours)
    service.renew("a", got["token"], ttl=1e-6)
    service.reap()
    with pytest.raises(StaleLease, match="not leased any more"):
        session.checkpoint("a", notes="late")
    assert session.held() == {}
    with pytest.raises(DomainError, match="no lease token for a"):
        session.renew("a")
