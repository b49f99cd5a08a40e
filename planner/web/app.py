"""The dashboard's ASGI app: pages, static files, the JSON API, the live streams, ``/mcp``.

::

    /                          the home's projects and their progress (static/index.html)
    /projects/NAME             one project's page (static/project.html)
    /static/...                the pages' scripts and styles (shipped in the package)
    /api/...                   the JSON API (planner.web.api), its OpenAPI at /api/openapi.json
    /api/.../stream            Server-Sent Events (planner.web.live)
    /mcp                       an ASGI app mounted there, when one is given (planner.mcp's)

Everything sits behind :class:`planner.web.security.Guard`. Built once per server; the
pages themselves hold no data: each asks the API for what it shows.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from planner.web import api
from planner.web.address import Bound
from planner.web.live import Live
from planner.web.security import Guard

STATIC = Path(__file__).with_name("static")


def build_app(services: Any, token: str, bound: Bound, log: Callable[[str], None] = print,
              mounts: dict[str, Any] | None = None) -> tuple[Any, Live]:
    """The guarded app for ``services`` (:class:`planner.web.services.Services`), and its
    :class:`~planner.web.live.Live` (close it to end every stream before stopping the server).
    ``mounts`` maps a path (``/mcp``) to an ASGI app served there, behind the same guard."""
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.responses import FileResponse, PlainTextResponse
    from starlette.routing import Mount, Route
    from starlette.staticfiles import StaticFiles

    from planner.web import live as live_module

    ctx = api.Context(services, log)
    live = Live(services, log)
    described: list[dict[str, Any]] = []

    async def home_page(request: Any) -> Any:
        return FileResponse(STATIC / "index.html", headers={"cache-control": "no-cache"})

    async def project_page(request: Any) -> Any:
        project = request.path_params["project"]
        if project not in await run_in_threadpool(services.projects):
            return PlainTextResponse(f"no project {project!r} in {services.home}", status_code=404)
        return FileResponse(STATIC / "project.html", headers={"cache-control": "no-cache"})

    async def index(request: Any) -> Any:
        return api.json_response({"projects": "/api/projects", "openapi": "/api/openapi.json",
                                  "mcp": "/mcp/{project}" if mounts and "/mcp" in mounts else None})

    async def openapi(request: Any) -> Any:
        if not described:  # (pydantic builds the schemas: once, on first use)
            from planner.web.openapi import document

            described.append(await run_in_threadpool(document))
        return api.json_response(described[0])

    async def not_found(request: Any, exc: Any) -> Any:
        status = getattr(exc, "status_code", 404)
        if request.url.path.startswith("/api"):
            what = "no such route" if status == 404 else f"{request.method} is not allowed here"
            return api.error_response(status, f"{what}: {request.method} {request.url.path} (see /api/openapi.json)")
        return PlainTextResponse("not found" if status == 404 else "method not allowed", status_code=status)

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            for mounted in (mounts or {}).values():  # (a mounted Starlette app's startup, e.g. an MCP session manager)
                router = getattr(mounted, "router", None)
                if router is not None and hasattr(router, "lifespan_context"):
                    await stack.enter_async_context(router.lifespan_context(mounted))
            yield
        live.close()

    routes = [
        Route("/", home_page),
        Route("/projects/{project}", project_page),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
        Route("/api", index),
        Route("/api/openapi.json", openapi),
        *api.routes(ctx),
        *live_module.routes(live),
        *(Mount(path, app=mounted) for path, mounted in (mounts or {}).items()),
    ]
    app = Starlette(routes=routes, exception_handlers={404: not_found, 405: not_found}, lifespan=lifespan)
    return Guard(app, token, bound), live
