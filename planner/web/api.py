"""The JSON API under ``/api/``: the service's queries and a few of its commands, over HTTP.

One table, :data:`OPERATIONS`, lists every route with its parameters, body and result type;
the routes and the OpenAPI description (:mod:`planner.web.openapi`) are both made from it.
Read routes take ``at=SEQ|TIME`` to answer for the project as it was then
(:meth:`planner.service.service.Service.at`; the last few such views are kept, so the
queries of one page at one seq replay the log once). Results are the service's shapes
(:mod:`planner.service.schema`) plus the dashboard's few (:mod:`planner.web.shapes`).

Errors are one line of JSON, ``{"error": "..."}``: 404 for an unknown project or task, 409
for a stale lease token, 400 for any other refusal or bad input, 503 when the store fails.
Writes need the token (:mod:`planner.web.security` checks it before a route runs); the
dashboard acts as an operator: releasing, retrying or cancelling a leased task presents
the lease's current token unless the body gives one.

Service calls block (locks, disk), so each runs in Starlette's thread pool.
"""

from __future__ import annotations

import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from eventstore import EventStoreError, InvalidArgumentError
from planner.domain.errors import DomainError, ProjectNotFound, StaleLease, UnknownAgent, UnknownTask
from planner.service import schema
from planner.web import shapes
from planner.web.graph import subtree_graph

AT_VIEWS_KEPT = 3  # a past view holds a whole graph: keep few
STATES_MAX = 500  # ids per /states request (a page asks for the rows on screen)
EVENTS_MAX = 10_000  # records per /events request
COMPLETIONS_CHUNK = 20_000  # records read per step while the completions cache catches up


# -- the table ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Param:
    name: str
    kind: str = "string"  # string, integer, number, list (comma-separated in a query)
    where: str = "query"  # query or path
    description: str = ""
    required: bool = False
    minimum: int | None = None


@dataclass(frozen=True)
class Op:
    method: str
    path: str  # under /api
    name: str
    summary: str
    handler: Callable[[Context, dict[str, Any]], Any]
    params: tuple[Param, ...] = ()
    body: tuple[Param, ...] = ()  # fields of a JSON object body
    result: Any = None  # a schema type (for OpenAPI), None: an object
    stream: bool = False  # Server-Sent Events (planner.web.live)

    @property
    def writes(self) -> bool:
        return self.method != "GET"


PROJECT = Param("project", where="path", required=True, description="the project's name")
TASK = Param("task", where="path", required=True, description="a task's id")
AT = Param("at", description="the project as it was at this seq, or this ISO 8601 time (default: now)")
REASON = Param("reason", description="why (recorded in the event)")
COMMAND_ID = Param("command_id", description="an idempotency key: the same key is applied once")
TOKEN = Param("token", "integer", description="the lease's fencing token (default: the current lease's)")


# -- the context: the services, and what the routes keep ---------------------------------------
@dataclass
class Context:
    """What the routes share: the services, the kept past views, the completions caches."""

    services: Any  # planner.web.services.Services
    log: Callable[[str], None] = print
    _views: OrderedDict = field(default_factory=OrderedDict)
    _views_lock: threading.Lock = field(default_factory=threading.Lock)
    _completions: dict[str, dict[str, Any]] = field(default_factory=dict)
    _completions_lock: threading.Lock = field(default_factory=threading.Lock)

    def service(self, project: str) -> Any:
        return self.services.service(project)

    def view(self, p: dict[str, Any]) -> tuple[Any, float]:
        """The view the request asks for (``at``, or the live service) and the moment it shows."""
        service = self.service(p["project"])
        at = p.get("at")
        if at is None:
            return service, time.time()
        key = (p["project"], int(at) if at.isdigit() else at)
        with self._views_lock:  # (one replay for the burst of requests a page makes at one seq)
            found = self._views.get(key)
            if found is None:
                view = service.at(key[1])
                seq = view.status()["seq"]
                records = service.events(seq, seq) if seq else []
                found = self._views[key] = (view, shapes.epoch(records[0]["ts"]) if records else time.time())
                while len(self._views) > AT_VIEWS_KEPT:
                    self._views.popitem(last=False)
            else:
                self._views.move_to_end(key)
            return found

    def completions(self, project: str) -> dict[str, Any]:
        """Every completion's time, from the log; read once, then only what was appended since. O(new records)."""
        service = self.service(project)
        with self._completions_lock:
            cache = self._completions.setdefault(project, {"seq": 0, "times": [], "lock": threading.Lock()})
        with cache["lock"]:
            end = service.last_seq()
            while cache["seq"] < end:
                upto = min(end, cache["seq"] + COMPLETIONS_CHUNK)
                for e in service.events(cache["seq"] + 1, upto):
                    if e["type"] == "task.state_changed" and e["data"].get("to_state") == "completed":
                        cache["times"].append(round(shapes.epoch(e["ts"]), 3))
                cache["seq"] = upto
            return {"seq": cache["seq"], "times": list(cache["times"])}


# -- the handlers -------------------------------------------------------------------------
def _projects(ctx: Context, p: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for name in ctx.services.projects():
        try:
            rows.append({"name": name, "status": ctx.service(name).status()})
        except (DomainError, EventStoreError) as exc:  # one broken project does not hide the others
            rows.append({"name": name, "error": str(exc).splitlines()[0]})
    return rows


def _status(ctx: Context, p: dict[str, Any]) -> Any:
    return ctx.view(p)[0].status()


def _ready(ctx: Context, p: dict[str, Any]) -> Any:
    return ctx.view(p)[0].ready(p.get("limit"), p.get("capabilities"))


def _tree(ctx: Context, p: dict[str, Any]) -> Any:
    return ctx.view(p)[0].tree(p.get("root"), p.get("depth"))


def _states(ctx: Context, p: dict[str, Any]) -> Any:
    ids = p["ids"]
    if len(ids) > STATES_MAX:
        raise DomainError(f"ids: at most {STATES_MAX} tasks per request, not {len(ids)}")
    return shapes.states(ctx.view(p)[0], ids)


def _show(ctx: Context, p: dict[str, Any]) -> Any:
    return ctx.view(p)[0].show(p["task"])


def _history(ctx: Context, p: dict[str, Any]) -> Any:
    view, _ = ctx.view(p)
    view.show(p["task"])  # (unknown then: 404)
    seq = view.status()["seq"]
    return [e for e in ctx.service(p["project"]).history(p["task"]) if e["seq"] <= seq]


def _agents(ctx: Context, p: dict[str, Any]) -> Any:
    view, now = ctx.view(p)
    return shapes.agents(view, now)


def _analyze(ctx: Context, p: dict[str, Any]) -> Any:
    return ctx.view(p)[0].analyze(p.get("top", 10))


def _graph(ctx: Context, p: dict[str, Any]) -> Any:
    return subtree_graph(ctx.view(p)[0], p.get("root"))


def _events(ctx: Context, p: dict[str, Any]) -> Any:
    service = ctx.service(p["project"])
    first, last, to = p.get("from", 1), p.get("last"), p.get("to")
    if last is not None:
        if last > EVENTS_MAX:
            raise DomainError(f"last: at most {EVENTS_MAX} records per request, not {last}")
        if to is not None:  # the last n up to a seq: what a page shows for a past seq
            return service.events(max(1, to - last + 1), to)
        return service.events(last=last)
    if to is None or to - first >= EVENTS_MAX:
        to = first + EVENTS_MAX - 1
    return service.events(first, to)


def _completions(ctx: Context, p: dict[str, Any]) -> Any:
    return ctx.completions(p["project"])


def _mode(ctx: Context, p: dict[str, Any]) -> Any:
    return ctx.service(p["project"]).set_mode(p["mode"], reason=p.get("reason"), command_id=p.get("command_id"))


def _add(ctx: Context, p: dict[str, Any]) -> Any:
    fields = {k: p[k] for k in ("id", "parent", "depends_on", "priority", "effort", "capabilities", "description",
                                "command_id") if p.get(k) is not None}
    return ctx.service(p["project"]).add_task(p["title"], **fields)


def _lease_token(service: Any, p: dict[str, Any]) -> int | None:
    if p.get("token") is not None:
        return p["token"]
    lease = service.show(p["task"])["lease"]
    return None if lease is None else lease["token"]


def _release(ctx: Context, p: dict[str, Any]) -> Any:
    service = ctx.service(p["project"])
    token = _lease_token(service, p)
    if token is None:
        raise DomainError(f"{p['task']} is not leased: there is nothing to release")
    return service.release(p["task"], token, reason=p.get("reason") or "released from the dashboard",
                           command_id=p.get("command_id"))


def _to_state(state: str, why: str) -> Callable[[Context, dict[str, Any]], Any]:
    def move(ctx: Context, p: dict[str, Any]) -> Any:
        service = ctx.service(p["project"])
        return service.set_state(p["task"], state, reason=p.get("reason") or why, by="dashboard",
                                 token=_lease_token(service, p), command_id=p.get("command_id"))

    return move


def _auth(ctx: Context, p: dict[str, Any]) -> Any:
    return {"ok": True}  # (the guard let the request through: the token is right)


OPERATIONS: tuple[Op, ...] = (
    Op("GET", "/projects", "projects", "The home's projects, each with its status", _projects, result=list[dict]),
    Op("GET", "/projects/{project}/status", "status", "Counts per state, progress, mode, seq", _status,
       (PROJECT, AT), result=schema.Status),
    Op("GET", "/projects/{project}/ready", "ready", "The ready tasks, best first", _ready,
       (PROJECT, Param("limit", "integer", minimum=0, description="at most this many"),
        Param("capabilities", "list", description="only the tasks these capabilities cover (comma-separated)"), AT),
       result=list[schema.ReadyTask]),
    Op("GET", "/projects/{project}/tree", "tree", "The task tree, from the top or from root, depth levels deep",
       _tree, (PROJECT, Param("root", description="a task (default: the top)"),
               Param("depth", "integer", minimum=1, description="levels (default: all)"), AT),
       result=list[schema.TreeNode]),
    Op("GET", "/projects/{project}/states", "states", "State, done and ready of some tasks (unknown ids left out)",
       _states, (PROJECT, Param("ids", "list", required=True, description="task ids, comma-separated"), AT),
       result=dict[str, shapes.TaskState]),
    Op("GET", "/projects/{project}/tasks/{task}", "show", "One task in full", _show, (PROJECT, TASK, AT),
       result=schema.TaskView),
    Op("GET", "/projects/{project}/tasks/{task}/history", "history", "Every event about one task, oldest first",
       _history, (PROJECT, TASK, AT), result=list[schema.EventView]),
    Op("GET", "/projects/{project}/agents", "agents",
       "Agents: capabilities, health, heartbeat age, leases with time left, their tasks' last checkpoint notes",
       _agents, (PROJECT, AT), result=list[shapes.AgentRow]),
    Op("GET", "/projects/{project}/analyze", "analyze", "Levels, critical path, bottlenecks, progress by effort",
       _analyze, (PROJECT, Param("top", "integer", minimum=0, description="bottlenecks listed (default 10)"), AT),
       result=schema.Analysis),
    Op("GET", "/projects/{project}/graph", "graph",
       "The dependency graph of a subtree, by levels, with its critical path (at most 400 tasks)", _graph,
       (PROJECT, Param("root", description="the subtree's top task (default: the whole project)"), AT)),
    Op("GET", "/projects/{project}/events", "events", "Records of the log: from..to, or the last n (up to to)",
       _events, (PROJECT, Param("from", "integer", minimum=1, description="first seq (default 1)"),
                 Param("to", "integer", minimum=0, description="last seq"),
                 Param("last", "integer", minimum=0, description="the last n records")),
       result=list[schema.EventView]),
    Op("GET", "/projects/{project}/completions", "completions", "When each task was completed, from the log",
       _completions, (PROJECT,), result=shapes.Completions),
    Op("GET", "/projects/{project}/stream", "stream",
       "Server-Sent Events: what is appended, as it is appended (see docs/dashboard.md)", None,
       (PROJECT, Param("after", "integer", minimum=0, description="the last seq the page has (or Last-Event-ID)")),
       stream=True),
    Op("GET", "/stream", "home_stream", "Server-Sent Events: each project's status as it changes", None,
       stream=True),
    Op("POST", "/auth", "auth", "Check the token (200 when it is right)", _auth),
    Op("POST", "/projects/{project}/mode", "set_mode", "Switch between planning and working", _mode,
       (PROJECT,), (Param("mode", required=True, description="planning or working"), REASON, COMMAND_ID),
       result=schema.Status),
    Op("POST", "/projects/{project}/tasks", "add_task", "Add a task", _add, (PROJECT,),
       (Param("title", required=True), Param("id"), Param("parent"), Param("depends_on", "list"),
        Param("priority", description="low, medium, high or critical"), Param("effort", "number"),
        Param("capabilities", "list"), Param("description"), COMMAND_ID), result=schema.Added),
    Op("POST", "/projects/{project}/tasks/{task}/release", "release", "Give a leased task back (to pending)",
       _release, (PROJECT, TASK), (TOKEN, REASON, COMMAND_ID), result=schema.TaskView),
    Op("POST", "/projects/{project}/tasks/{task}/retry", "retry", "Send a task back to pending (a failed one: a retry)",
       _to_state("pending", "retried from the dashboard"), (PROJECT, TASK), (TOKEN, REASON, COMMAND_ID),
       result=schema.TaskView),
    Op("POST", "/projects/{project}/tasks/{task}/cancel", "cancel", "Cancel a task",
       _to_state("cancelled", "cancelled from the dashboard"), (PROJECT, TASK), (TOKEN, REASON, COMMAND_ID),
       result=schema.TaskView),
)


# -- parsing, errors, responses ---------------------------------------------------------------
def _parse(param: Param, value: Any, where: str) -> Any:
    label = f"{param.name} ({where})"
    if param.kind == "list":
        if isinstance(value, str):
            return [v.strip() for v in value.split(",") if v.strip()]
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return value
        raise DomainError(f"{label} must be a list of strings")
    if param.kind in ("integer", "number"):
        if isinstance(value, bool):
            raise DomainError(f"{label} must be a number, not {value!r}")
        try:
            number = int(value) if param.kind == "integer" and not isinstance(value, float) else float(value)
        except (TypeError, ValueError):
            raise DomainError(f"{label} must be {'a whole' if param.kind == 'integer' else 'a'} number, "
                              f"not {str(value)[:40]!r}") from None
        if param.kind == "integer" and isinstance(value, float):
            raise DomainError(f"{label} must be a whole number, not {value!r}")
        if param.minimum is not None and number < param.minimum:
            raise DomainError(f"{label} must be at least {param.minimum}, not {number}")
        return number
    if not isinstance(value, str):
        raise DomainError(f"{label} must be a string, not {type(value).__name__}")
    return value


def arguments(op: Op, path: dict[str, Any], query: Any, body: Any) -> dict[str, Any]:
    """The handler's arguments from a request's path, query and JSON body. Raises DomainError."""
    out: dict[str, Any] = {}
    for param in op.params:
        if param.where == "path":
            out[param.name] = path[param.name]
        elif param.name in query:
            out[param.name] = _parse(param, query[param.name], "query")
        elif param.required:
            raise DomainError(f"the query parameter {param.name} is missing")
    if op.body or body is not None:
        if body is None:
            body = {}
        if not isinstance(body, dict):
            raise DomainError("the body must be a JSON object")
        known = {p.name: p for p in op.body}
        unknown = sorted(set(body) - set(known))
        if unknown:
            raise DomainError(f"unknown field{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}: "
                              f"{op.name} takes {', '.join(known) or 'no body'}")
        for param in op.body:
            if body.get(param.name) is not None:
                out[param.name] = _parse(param, body[param.name], "body")
            elif param.required:
                raise DomainError(f"the field {param.name} is missing")
    return out


def status_of(exc: BaseException) -> int | None:
    """The HTTP status of an error a route may raise, or None for a bug (500, logged)."""
    if isinstance(exc, UnknownTask | ProjectNotFound | UnknownAgent):
        return 404
    if isinstance(exc, StaleLease):
        return 409
    if isinstance(exc, DomainError | InvalidArgumentError):
        return 400
    if isinstance(exc, EventStoreError):
        return 503
    pydantic = sys.modules.get("pydantic")  # a command's validation error (not imported just to check)
    if pydantic is not None and isinstance(exc, pydantic.ValidationError):
        return 400
    return None


def message_of(exc: BaseException) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors) and type(exc).__name__ == "ValidationError":
        first = errors()[0]
        return f"invalid {'.'.join(str(p) for p in first['loc'])}: {first['msg']}"
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def json_response(content: Any, status: int = 200) -> Any:
    import orjson
    from starlette.responses import Response

    return Response(orjson.dumps(content, default=str, option=orjson.OPT_NON_STR_KEYS), status_code=status,
                    media_type="application/json", headers={"cache-control": "no-store"})


def error_response(status: int, message: str) -> Any:
    return json_response({"error": message}, status)


def endpoint(ctx: Context, op: Op) -> Callable[[Any], Any]:
    """The Starlette endpoint of ``op``: parse, run the handler in the thread pool, answer JSON."""
    from starlette.concurrency import run_in_threadpool

    async def run(request: Any) -> Any:
        body = None
        if op.writes:
            raw = await request.body()
            if raw.strip():
                import orjson

                try:
                    body = orjson.loads(raw)
                except orjson.JSONDecodeError as exc:
                    return error_response(400, f"the body is not JSON: {exc}")
        try:
            args = arguments(op, request.path_params, request.query_params, body)
            result = await run_in_threadpool(op.handler, ctx, args)
        except Exception as exc:  # noqa: BLE001 - a refusal is an answer; anything else is logged as a bug
            status = status_of(exc)
            if status is None:
                ctx.log(f"dashboard: {op.method} {request.url.path} failed: {exc!r}")
                return error_response(500, f"internal error: {message_of(exc)}")
            return error_response(status, message_of(exc))
        return json_response(result)

    run.__name__ = op.name
    return run


def routes(ctx: Context) -> list[Any]:
    """Starlette routes for every operation of the table but the streams (:mod:`planner.web.live`)."""
    from starlette.routing import Route

    return [Route("/api" + op.path, endpoint(ctx, op), methods=[op.method]) for op in OPERATIONS if not op.stream]
