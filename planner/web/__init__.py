"""The web dashboard and its JSON API, served by ``planner serve --http [HOST:]PORT``.

A translation of the service (:class:`planner.service.service.Service`) to HTTP, like the
CLI is to the command line: every route reads or calls the service of one project, which
:mod:`planner.web.services` hands out (the server's hot services when run inside
``planner serve``). One module per job:

``address``   ``[HOST:]PORT``, and which ``Host`` headers name this server
``security``  the token file, and the guard in front of everything (Host, token, Origin)
``services``  where the app gets a project's service from
``api``       the JSON routes under ``/api/`` (``openapi`` describes them)
``graph``     a subtree's dependency graph, by levels, with its critical path
``live``      Server-Sent Events: one follower per project, shared by every open page
``app``       the Starlette app: pages, static files, API, stream, the ``/mcp`` mount
``serving``   uvicorn in a thread of ``planner serve``; started and stopped with it

Starlette and uvicorn are imported only by ``app``, ``api``, ``live`` and ``serving``, and only
when the dashboard is started: other commands never pay for them. The pages are plain
JavaScript modules and SVG in ``static/``: no library, no network. See ``docs/dashboard.md``.
"""
