"""The OpenAPI 3.1 description of the API, made from the same table as its routes.

Served at ``/api/openapi.json``. Result schemas come from the TypedDicts of
:mod:`planner.service.schema` and :mod:`planner.web.shapes` (pydantic's JSON Schema, with
the shared definitions moved to ``components/schemas``). Built once per process, on the
first request (pydantic is not imported before).
"""

from __future__ import annotations

from typing import Any

from planner.web.api import OPERATIONS, Op, Param

_KINDS = {"string": {"type": "string"}, "integer": {"type": "integer"}, "number": {"type": "number"},
          "list": {"type": "array", "items": {"type": "string"}}}
ERROR = {"type": "object", "properties": {"error": {"type": "string"}}, "required": ["error"]}


def _schema(param: Param) -> dict[str, Any]:
    out = dict(_KINDS[param.kind])
    if param.minimum is not None:
        out["minimum"] = param.minimum
    return out


def _result(kind: Any, components: dict[str, Any]) -> dict[str, Any]:
    if kind is None:
        return {"type": "object"}
    from pydantic import TypeAdapter

    found = TypeAdapter(kind).json_schema(ref_template="#/components/schemas/{model}")
    components.update(found.pop("$defs", {}))
    if found.get("type") == "object" and "title" in found:  # a named shape: shared, as the nested ones are
        components[found["title"]] = found
        return {"$ref": f"#/components/schemas/{found['title']}"}
    return found


def _operation(op: Op, components: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"operationId": op.name, "summary": op.summary}
    params = [{"name": p.name, "in": p.where, "required": p.required or p.where == "path", "schema": _schema(p),
               **({"description": p.description} if p.description else {})} for p in op.params]
    if params:
        out["parameters"] = params
    if op.body:
        body = {"type": "object", "additionalProperties": False,
                "properties": {p.name: {**_schema(p), **({"description": p.description} if p.description else {})}
                               for p in op.body},
                "required": [p.name for p in op.body if p.required]}
        out["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    if op.stream:
        ok = {"description": "an event stream", "content": {"text/event-stream": {"schema": {"type": "string"}}}}
    else:
        ok = {"description": "OK", "content": {"application/json": {"schema": _result(op.result, components)}}}
    error = {"description": "refused: the one-line reason",
             "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    out["responses"] = {"200": ok, "4XX": error}
    if op.writes:
        out["security"] = [{"bearer": []}, {"header": []}]
    return out


def document(operations: tuple[Op, ...] = OPERATIONS) -> dict[str, Any]:
    """The whole description: every operation, under ``/api``."""
    components: dict[str, Any] = {"Error": ERROR}
    paths: dict[str, Any] = {}
    for op in operations:
        paths.setdefault("/api" + op.path, {})[op.method.lower()] = _operation(op, components)
    return {
        "openapi": "3.1.0",
        "info": {"title": "superplanner dashboard API", "version": "1",
                 "description": "The planner's service over HTTP: reads are open, writes need the home's "
                                "http.token in a header. See docs/dashboard.md."},
        "paths": paths,
        "components": {"schemas": components, "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer"},
            "header": {"type": "apiKey", "in": "header", "name": "X-Planner-Token"}}},
    }
