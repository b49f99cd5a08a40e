"""Live pages: Server-Sent Events of what is appended to a project's log, by anyone.

One :class:`Hub` per project with an open page, shared by all of them: a *follower* thread
reads the log as it grows (the store's ``follow``, which :meth:`planner.service.service.Service.follow`
wraps: inotify through watchfiles, no polling), so appends by the server, by a ``--no-server`` process or by
anything writing the files all show; a *publisher* thread turns what arrived into one
message (the events, then the project's status, ready queue and agents, computed once for
every page) and hands the same bytes to every stream. The first append after a quiet spell
goes out at once; then messages go out at most every :data:`MIN_GAP_S` while the log trickles,
every :data:`BUSY_GAP_S` while it floods (a message of :data:`BUSY_BATCH` records or more), each
carrying everything since the last one; meanwhile the follower reads the log as often as
messages go out (what was appended in between in one read). Progress by effort is a
tally kept from the events (:class:`planner.web.shapes.EffortTally`).

The protocol (``GET /api/projects/P/stream``)::

    retry: 1000                        reconnect after a second
    id: SEQ                            every message: the last seq it covers
    event: hello | update | reset      data: {"seq", "events"?, "summary"}

``hello`` opens a stream for a page that is up to date; ``update`` carries a batch of events
as :func:`planner.web.shapes.digest` sums it up (the last 25 in full for the feed, every task's
new state, the completions, what changed shape), what they changed besides (``derived``: the
tasks whose done or ready flags may have flipped, :func:`planner.web.shapes.derived`) and the
``summary`` after them; ``reset`` says that too much happened while a page was away (more than
:data:`CATCHUP_LIMIT` events): it reloads its views. A busy log never causes a reset: a message
is as big as the tasks it changed, not as the events that changed them.
A page that reconnects sends ``Last-Event-ID`` (the browser does) or ``?after=SEQ`` and gets
what it missed from the log first, then the live messages: none lost, none twice. A page that
falls behind (:data:`QUEUE_LIMIT` messages queued) is disconnected, reconnects and catches up.
``: ping`` comments every :data:`HEARTBEAT_S` find dead connections. ``GET /api/stream`` (the
home page) sends ``event: status`` with ``{"project", "status"}`` for every project.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from planner.web import shapes

HEARTBEAT_S = 15.0
COALESCE_S = 0.005  # the follower yields one read's records back to back: gather them into one message
MIN_GAP_S = 0.1  # between two messages of one project while its log trickles
BUSY_GAP_S = 0.5  # ... and while it floods: after a message of BUSY_BATCH records or more
BUSY_BATCH = 50
EFFORT_EVERY_S = 5.0
CATCHUP_LIMIT = 2000  # events replayed to a page that reconnects (beyond: a reset)
QUEUE_LIMIT = 200  # messages queued for one stream before it is dropped
READY_SHOWN = 25
RETRY_MS = 1000
_STOP = object()  # ends a thread's queue or a stream


@dataclass(frozen=True)
class Message:
    """What a hub publishes: the seqs it covers, the stream frame, the home page's frame."""

    first: int
    last: int
    frame: bytes
    status: bytes


def frame(kind: str, data: Any, ident: int | None = None) -> bytes:
    head = f"id: {ident}\n" if ident is not None else ""
    return f"{head}event: {kind}\n".encode() + b"data: " + orjson.dumps(data, default=str) + b"\n\n"


class Subscriber:
    """One open stream: a queue on its event loop, fed from the hubs' threads."""

    def __init__(self, loop: asyncio.AbstractEventLoop, home: bool = False):
        self.loop = loop
        self.home = home  # wants the status frames (the home page), not the project's
        self.queue: asyncio.Queue = asyncio.Queue()
        self.dropped = False

    def deliver(self, item: Any) -> None:
        """From any thread."""
        with contextlib.suppress(RuntimeError):  # the loop is closed: the server is stopping
            self.loop.call_soon_threadsafe(self._put, item)

    def _put(self, item: Any) -> None:
        if self.dropped:
            return
        if item is not _STOP and self.queue.qsize() >= QUEUE_LIMIT:
            self.dropped = True  # too slow: it reconnects and catches up from the log
            item = _STOP
        self.queue.put_nowait(item)


class Hub:
    """The follower and the publisher of one project; see the module docstring."""

    def __init__(self, project: str, service: Any, log: Callable[[str], None]):
        self.project = project
        self.service = service
        self._log = log
        self._lock = threading.Lock()  # guards published and subscribers: see add()
        self.subscribers: set[Subscriber] = set()
        self.published = service.last_seq()
        # the follower appends to _arrived and rings _bell only when it was empty: the publisher wakes
        # once per message, not once per record (a wake-up per record cost more than the record)
        self._arrived: list[Any] = []  # records of the log
        self._arrived_lock = threading.Lock()
        self._bell = threading.Event()
        self._followed = False  # the follower has ended
        self._next_read = 0.0  # (monotonic) the follower reads on from here: see _follow
        self._stop = threading.Event()
        self._tally = shapes.EffortTally()
        self._tally_lock = threading.Lock()  # (the publisher and opening streams both ask)
        self._tally_at = 0.0  # (monotonic) when the efforts were last read
        self._threads = [threading.Thread(target=self._follow, name=f"live-{project}", daemon=True),
                         threading.Thread(target=self._publish, name=f"live-{project}-publish", daemon=True)]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._bell.set()

    def add(self, subscriber: Subscriber) -> int:
        """Register a stream; the seq it must catch up to from the log: every message published
        after this call covers only later seqs, and reaches it."""
        with self._lock:
            self.subscribers.add(subscriber)
            return self.published

    def remove(self, subscriber: Subscriber) -> bool:
        """Unregister a stream; True when none is left."""
        with self._lock:
            self.subscribers.discard(subscriber)
            return not self.subscribers

    # -- what a stream sends first ------------------------------------------------------
    def summary(self, view: Any) -> dict[str, Any]:
        """The project now: status, the head of the ready queue, agents, and progress by effort (the
        efforts are read again after the tree changed shape, at most every :data:`EFFORT_EVERY_S`)."""
        with self._tally_lock:
            due = time.monotonic() >= self._tally_at + EFFORT_EVERY_S
            if due and self._tally.efforts is None:
                self._tally_at = time.monotonic()
            effort = self._tally.figures(view, fresh=due)
        return {"status": view.status(), "ready": view.ready(READY_SHOWN), "agents": shapes.agents(view, time.time()),
                "effort": effort}

    def _update(self, events: list[Any], seq: int) -> tuple[bytes, dict[str, Any]]:
        """An update frame for ``events``, and the status it carries."""
        with self._tally_lock:
            self._tally.fold(events)
        with shapes.live_view(self.service) as view:
            derived, summary = shapes.derived(view, events), self.summary(view)
        return frame("update", {"seq": seq, **shapes.digest(events), "derived": derived, "summary": summary},
                     seq), summary["status"]

    def opening(self, after: int | None, published: int) -> bytes:
        """The first message of a stream registered at ``published`` whose page has ``after``."""
        if after is not None and after < published <= after + CATCHUP_LIMIT:
            return self._update(list(self.service.planner.log.read(after + 1, published)), published)[0]
        with shapes.live_view(self.service) as view:
            summary = self.summary(view)
        return frame("hello" if after in (None, published) else "reset", {"seq": published, "summary": summary},
                     published)

    # -- the threads ----------------------------------------------------------------------
    def _follow(self) -> None:
        try:
            # the records themselves (Service.follow makes an EventView of each: pages see the last few)
            for event in self.service.planner.log.follow(self.published + 1, stop_event=self._stop):
                with self._arrived_lock:
                    self._arrived.append(event)
                    first = len(self._arrived) == 1
                if first:
                    self._bell.set()
                # while the log is busy the pages get a message every gap: read it as often, so that
                # what is appended meanwhile is read in one go (following every group commit cost the
                # server more than the rest of the dashboard together)
                pause = self._next_read - time.monotonic()
                if pause > 0:
                    self._stop.wait(pause)
        except Exception as exc:  # noqa: BLE001 - the pages reconnect; the server goes on
            if not self._stop.is_set():
                self._log(f"dashboard: following {self.project} failed: {exc!r}")
        finally:
            self._followed = True
            self._bell.set()

    def _take(self) -> list[Any]:
        with self._arrived_lock:
            self._bell.clear()
            batch, self._arrived = self._arrived, []
        return batch

    def _publish(self) -> None:
        last_sent, gap = 0.0, MIN_GAP_S
        try:
            while not self._stop.is_set():
                wait = None
                if self._tally.efforts is None:  # (the tree changed shape: the efforts are read when due)
                    wait = max(0.0, self._tally_at + EFFORT_EVERY_S - time.monotonic())
                if not self._bell.wait(wait):  # quiet since then: send the figures that could not be read
                    self._send([])
                    continue
                # gather what arrives meanwhile: a few ms after a quiet spell, a gap after the last message
                if self._stop.wait(max(COALESCE_S, last_sent + gap - time.monotonic())):
                    return  # (the projects close next: nothing more is read from them)
                batch = self._take()
                if not batch and not self._followed:
                    continue  # (the bell rang for records an earlier message took)
                self._send(batch)
                last_sent = time.monotonic()
                gap = BUSY_GAP_S if len(batch) >= BUSY_BATCH else MIN_GAP_S
                self._next_read = last_sent + gap
                if self._followed:
                    return
        except Exception as exc:  # noqa: BLE001
            if not self._stop.is_set():
                self._log(f"dashboard: publishing {self.project} failed: {exc!r}")
        finally:
            with self._lock:
                subscribers = list(self.subscribers)
            for subscriber in subscribers:
                subscriber.deliver(_STOP)  # its page reconnects, to a new hub

    def _send(self, batch: list[Any]) -> None:
        last = batch[-1].seq if batch else self.published
        body, status = self._update(batch, last)
        home = frame("status", {"project": self.project, "status": status})
        message = Message(batch[0].seq if batch else last + 1, last, body, home)
        with self._lock:
            self.published = last
            subscribers = list(self.subscribers)
        for subscriber in subscribers:
            subscriber.deliver(message)


class Live:
    """Every hub of the app: started by the first stream of a project, stopped with its last."""

    def __init__(self, services: Any, log: Callable[[str], None]):
        self.services = services
        self.log = log
        self._hubs: dict[str, Hub] = {}
        self._lock = threading.Lock()
        self.closed = False

    def subscribe(self, project: str, subscriber: Subscriber) -> tuple[Hub, int]:
        """(the project's hub, the seq the stream catches up to). Blocking (opens the project)."""
        service = self.services.service(project)
        with self._lock:
            if self.closed:
                raise RuntimeError("the dashboard is stopping")
            hub = self._hubs.get(project)
            if hub is None:
                hub = self._hubs[project] = Hub(project, service, self.log)
                hub.start()
            return hub, hub.add(subscriber)

    def unsubscribe(self, hub: Hub, subscriber: Subscriber) -> None:
        with self._lock:
            if hub.remove(subscriber) and self._hubs.get(hub.project) is hub:
                del self._hubs[hub.project]
                hub.stop()

    def close(self) -> None:
        """Stop every hub; their streams end (and their pages reconnect to the next server)."""
        with self._lock:
            self.closed = True
            hubs, self._hubs = list(self._hubs.values()), {}
        for hub in hubs:
            hub.stop()


# -- the streams -----------------------------------------------------------------------------
class Stream:
    """The ASGI response of one stream: opening bytes, then the hubs' messages, until the page
    goes away or the dashboard stops."""

    def __init__(self, live: Live, projects: list[str], after: int | None, home: bool):
        self.live, self.projects, self.after, self.home = live, projects, after, home

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        from starlette.concurrency import run_in_threadpool

        subscriber = Subscriber(asyncio.get_running_loop(), home=self.home)
        joined: list[Hub] = []
        try:
            try:
                opening, sent = await run_in_threadpool(self._open, subscriber, joined)
            except Exception as exc:  # noqa: BLE001 - the project went away, or the dashboard is stopping
                from planner.web.api import error_response, message_of, status_of

                await error_response(status_of(exc) or 503, message_of(exc))(scope, receive, send)
                return
            await send({"type": "http.response.start", "status": 200, "headers": [
                (b"content-type", b"text/event-stream; charset=utf-8"), (b"cache-control", b"no-store"),
                (b"x-accel-buffering", b"no")]})
            await send({"type": "http.response.body", "body": opening, "more_body": True})
            await self._relay(subscriber, receive, send, sent)
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except OSError:
            pass  # the page went away mid-write
        finally:
            for hub in joined:
                self.live.unsubscribe(hub, subscriber)

    def _open(self, subscriber: Subscriber, joined: list[Hub]) -> tuple[bytes, int]:
        """Join the hubs; the opening bytes, and the seq they bring the page to. Blocking."""
        parts, sent = [f"retry: {RETRY_MS}\n\n".encode()], 0
        for project in self.projects:
            hub, published = self.live.subscribe(project, subscriber)
            joined.append(hub)
            if self.home:
                parts.append(frame("status", {"project": project, "status": hub.service.status()}))
            else:
                parts.append(hub.opening(self.after, published))
                sent = published
        return b"".join(parts), sent

    async def _relay(self, subscriber: Subscriber, receive: Any, send: Any, sent: int) -> None:
        """The hubs' messages, until the page goes away or a hub stops."""

        async def watch_disconnect() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            subscriber.queue.put_nowait(_STOP)

        watcher = asyncio.ensure_future(watch_disconnect())
        try:
            while True:
                try:
                    item = await asyncio.wait_for(subscriber.queue.get(), HEARTBEAT_S)
                except TimeoutError:
                    await send({"type": "http.response.body", "body": b": ping\n\n", "more_body": True})
                    continue
                if item is _STOP:
                    return
                if self.home:
                    await send({"type": "http.response.body", "body": item.status, "more_body": True})
                elif item.first > sent:  # (a message whose events the opening brought is skipped)
                    await send({"type": "http.response.body", "body": item.frame, "more_body": True})
                    sent = item.last
        finally:
            watcher.cancel()


def last_event_id(headers: Any, query: Any) -> int | None:
    """The last seq the page has: ``Last-Event-ID`` (a browser's reconnection) or ``?after=``."""
    from planner.domain.errors import DomainError

    for value, name in ((headers.get("last-event-id"), "Last-Event-ID"), (query.get("after"), "after")):
        if value:
            if not value.isdigit():
                raise DomainError(f"{name} must be a seq (a whole number), not {value[:40]!r}")
            return int(value)
    return None


def routes(live: Live) -> list[Any]:
    from starlette.concurrency import run_in_threadpool
    from starlette.routing import Route

    from planner.web.api import error_response, message_of, status_of

    async def project_stream(request: Any) -> Any:
        project = request.path_params["project"]
        try:
            after = last_event_id(request.headers, request.query_params)
            await run_in_threadpool(live.services.service, project)  # (unknown: 404 before any stream)
        except Exception as exc:  # noqa: BLE001
            status = status_of(exc)
            if status is None:
                raise
            return error_response(status, message_of(exc))
        return Stream(live, [project], after, home=False)

    async def home_stream(request: Any) -> Any:
        projects = await run_in_threadpool(live.services.projects)
        return Stream(live, projects, None, home=True)

    return [Route("/api/projects/{project}/stream", project_stream), Route("/api/stream", home_stream)]
