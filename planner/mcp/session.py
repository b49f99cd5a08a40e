"""One agent's session on a project: what every MCP tool does, as plain data, without MCP.

An :class:`AgentSession` wraps a project's service (embedded, or a client of ``planner
serve``: :func:`~planner.service.opening.open_service` decides) for one agent name:

* the agent is registered (with the session's capabilities and capacity) when its first
  ``claim`` finds it unknown, not before: a session that only reads, or whose claims are
  refused (planning mode), leaves no trace in the log;
* ``claim`` is ``planner claim`` followed by ``planner set TASK in_progress``, as a worker
  does (a task that cannot start is given back at once, not left to expire);
* the session keeps each lease's fencing token, so a command on a task it claimed needs no
  token; a token given explicitly wins. An ending (complete, fail, release) forgets it;
* every refusal is the service's: a :class:`~planner.domain.errors.DomainError` with the
  CLI's message, raised before anything is written;
* :meth:`close` deregisters the agent if this session claimed as it (what it still holds
  goes back to pending with its checkpoint, no attempt used up), as a stopping worker does.

Thread-safe as far as the service is (both kinds are); the token table has its own lock.
Each method costs what its service calls cost: one engine command (or a round trip to the
server) per command, ``claim`` two, ``checkpoint`` two (it renews the lease too).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterable
from typing import Any

from planner.domain.errors import DomainError, StaleLease, UnknownAgent


def default_agent() -> str:
    """The agent name of a session not given one: ``mcp-<pid>`` (one agent per server process)."""
    return f"mcp-{os.getpid()}"


class AgentSession:
    """See the module docstring."""

    def __init__(self, service: Any, agent: str, capabilities: Iterable[str] = (), capacity: int = 1,
                 owns_service: bool = False):
        self.service = service
        self.project: str = service.project
        self.agent = agent
        self.capabilities = tuple(capabilities)
        self.capacity = capacity
        self._owns_service = owns_service
        self._tokens: dict[str, int] = {}
        self._mutex = threading.Lock()
        self._in_use = False  # this session has claimed as the agent (close() deregisters it)

    @classmethod
    def open(cls, home: os.PathLike | str, project: str, agent: str | None = None,
             capabilities: Iterable[str] = (), capacity: int = 1) -> AgentSession:
        """A session on ``project`` (through the home's server when one runs). Refuses at once,
        before anything is written: an agent name, capabilities or capacity the planner would not
        register (a pydantic ValidationError, ``invalid agent: ...``), or a project that does not
        exist (ProjectNotFound)."""
        from planner.domain.events import RegisterAgent
        from planner.service.opening import open_service

        agent = agent or default_agent()
        caps = tuple(capabilities)
        RegisterAgent(agent=agent, capabilities=caps, capacity=capacity)  # validated now, registered on first claim
        return cls(open_service(home, project), agent, caps, capacity, owns_service=True)

    def close(self) -> None:
        """Deregister the agent if this session claimed as it; close the service if it opened it."""
        try:
            if self._in_use:
                self._in_use = False
                try:
                    self.service.deregister_agent(self.agent, reason="MCP session ended")
                except DomainError:
                    pass  # deregistered by someone else already, or the server is gone
        finally:
            if self._owns_service:
                self.service.close()

    def __enter__(self) -> AgentSession:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- tokens ---------------------------------------------------------------------
    def token(self, task: str, given: int | None = None) -> int | None:
        """The token to present for ``task``: ``given``, else the one this session's claim got, else None."""
        if given is not None:
            return given
        with self._mutex:
            return self._tokens.get(task)

    def _forget(self, task: str, token: int | None) -> None:
        with self._mutex:
            if token is not None and self._tokens.get(task) == token:
                del self._tokens[task]

    def _fenced(self, task: str, token: int | None, command: Any) -> Any:
        """``command(token)`` with the token for ``task``; a token found stale is forgotten (tokens
        only grow: it can never be current again)."""
        presented = self.token(task, token)
        try:
            return command(presented)
        except StaleLease:
            self._forget(task, presented)
            raise

    def held(self) -> dict[str, int]:
        """The tokens this session keeps, by task."""
        with self._mutex:
            return dict(self._tokens)

    # -- queries ----------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        """The project's status, with this session's agent name and that agent's board entry."""
        return {**self.service.status(), "agent": self.agent, "you": self.service.agent(self.agent)}

    def analyze(self, top: int = 10, levels: bool = False) -> dict[str, Any]:
        """The analysis, its levels as widths (and in full with ``levels``)."""
        report = self.service.analyze(top=top)
        found = report.pop("levels")
        report["level_widths"] = [len(level) for level in found]
        if levels:
            report["levels"] = found
        return report

    # -- the lease's life -----------------------------------------------------------------
    def claim(self, task: str | None = None, ttl: float | None = None) -> dict[str, Any]:
        """Lease the best ready task this agent can do (or ``task``) and start it: a Claimed."""
        s = self.service
        if not self._in_use:
            self._update_registration()
        try:
            lease = s.claim(self.agent, task=task, ttl=ttl)
        except UnknownAgent:  # first use (or deregistered by someone else): registered only now, so that a
            # claim refused before (planning mode) wrote nothing
            s.register_agent(self.agent, capabilities=self.capabilities, capacity=self.capacity)
            self._in_use = True
            lease = s.claim(self.agent, task=task, ttl=ttl)
        self._in_use = True
        if lease is None:
            return {"claimed": False, "message": f"nothing ready that {self.agent} can do"}
        claimed, token = lease["task"], lease["token"]
        try:
            shown = s.set_state(claimed, "in_progress", token=token, by=self.agent)
        except DomainError as exc:  # it must wait now (a dependency added since), or expired already
            try:
                s.release(claimed, token, reason=f"could not start: {exc}")
            except DomainError:
                pass  # (expired: nothing of ours to give back)
            raise
        with self._mutex:
            self._tokens[claimed] = token
        expires_in = round(lease["expires_at"] - time.time(), 1)
        resume = shown["checkpoint"]
        message = (f"{claimed} is yours: token {token}, expires in {expires_in:.0f} s (attempt {lease['attempt']})"
                   + ("; resume from its checkpoint" if resume is not None else ""))
        return {"claimed": True, "message": message, "task": shown, "token": token,
                "expires_at": lease["expires_at"], "expires_in": expires_in, "attempt": lease["attempt"],
                "resume_from": resume}

    def _update_registration(self) -> None:
        """An agent of this name registered before (an earlier session) with other capabilities or
        capacity is registered again with this session's, before its first claim."""
        known = self.service.agent(self.agent)
        if known is not None and known["active"] and (sorted(known["capabilities"]) != sorted(self.capabilities)
                                                      or known["capacity"] != self.capacity):
            self.service.register_agent(self.agent, capabilities=self.capabilities, capacity=self.capacity)
            self._in_use = True

    def renew(self, task: str, token: int | None = None, ttl: float | None = None) -> dict[str, Any]:
        """Extend the lease on ``task``: the Lease after it."""
        return self._fenced(task, token, lambda t: self.service.renew(task, _needed(task, t), ttl=ttl))

    def checkpoint(self, task: str, notes: str = "", data: dict[str, Any] | None = None,
                   token: int | None = None) -> dict[str, Any]:
        """Save notes and data on ``task`` for whoever resumes it, then renew its lease (when it is
        leased): a Checkpointed."""
        def save(presented: int | None) -> dict[str, Any]:
            saved = self.service.checkpoint(task, notes=notes, data=data or {}, by=self.agent, token=presented)
            lease = self.service.renew(task, presented) if presented is not None else None
            return {"checkpoint": saved, "lease": lease}

        return self._fenced(task, token, save)

    def set_state(self, task: str, state: str, reason: str | None = None, token: int | None = None) -> dict[str, Any]:
        """``planner set TASK STATE``: the task after it. Completed, failed, cancelled and pending
        end the lease: its token is forgotten."""
        def move(presented: int | None) -> dict[str, Any]:
            shown = self.service.set_state(task, state, reason=reason, by=self.agent, token=presented)
            if state in ("completed", "failed", "cancelled", "pending"):
                self._forget(task, presented)
            return shown

        return self._fenced(task, token, move)

    def release(self, task: str, token: int | None = None, reason: str | None = None) -> dict[str, Any]:
        """Give ``task`` back (to pending, its checkpoint kept, no attempt used): the task after it."""
        def give_back(presented: int | None) -> dict[str, Any]:
            shown = self.service.release(task, _needed(task, presented), reason=reason)
            self._forget(task, presented)
            return shown

        return self._fenced(task, token, give_back)


def _needed(task: str, token: int | None) -> int:
    """A token for a command that cannot go without one (renew, release)."""
    if token is None:
        raise DomainError(f"no lease token for {task}: this session did not claim it; pass the token "
                          "claim_task returned (status lists your leases)")
    return token
