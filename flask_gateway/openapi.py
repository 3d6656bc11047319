"""``/openapi.json`` and ``/docs``, generated from the routes and the schemas the views validate with."""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, Flask, Response, current_app, jsonify

from flask_gateway import schemas
from flask_gateway.security import DOCS_CSP

bp = Blueprint("openapi", __name__)

#: endpoint → (summary, request body schema, query schema, {status: response schema})
OPERATIONS: dict[str, tuple[str, dict | None, dict | None, dict[int, dict]]] = {
    "requests.create_request": (
        "Ask for weather data; answers 202 with the request's status URL",
        schemas.REQUEST_BODY,
        None,
        {202: schemas.ACCEPTED},
    ),
    "requests.list_requests": (
        "The caller's requests, newest first",
        None,
        schemas.LIST_QUERY,
        {200: schemas.REQUEST_LIST},
    ),
    "requests.get_request": (
        "A request's status, timeline and result summary; If-None-Match with its ETag answers 304",
        None,
        None,
        {200: schemas.REQUEST_STATUS, 304: None},
    ),
    "requests.get_results": (
        "A finished request's rows (json pages, csv or parquet); 409 until finished",
        None,
        schemas.RESULTS_QUERY,
        {200: schemas.ROWS_PAGE},
    ),
    "requests.get_lineage": (
        "Request lineage: manifest blob, job run, result table and Delta version, event",
        None,
        None,
        {200: {"type": "object"}},
    ),
    "lineage.table_lineage": (
        "A table's upstream and downstream tables and its columns' lineage (Unity Catalog lineage)",
        None,
        None,
        {200: schemas.TABLE_LINEAGE},
    ),
    "manifests.put_manifest": (
        "Upload a manifest file as is (like a direct storage upload)",
        {"type": "object", "description": "a manifest, schema v1"},
        None,
        {201: {"type": "object"}},
    ),
    "weather.hourly": (
        "Hourly weather of one city (rows or Open-Meteo-style columns)",
        None,
        schemas.WEATHER_QUERY,
        {200: schemas.WEATHER, 304: None},
    ),
    "weather.daily": (
        "Daily aggregates of one city",
        None,
        schemas.WEATHER_QUERY,
        {200: schemas.WEATHER, 304: None},
    ),
    "weather.cities": ("Cities that have data, with their coverage", None, None, {200: schemas.CITIES}),
    "employees.list_employees": (
        "Employees; email/phone/salary masked unless the caller is a pii_reader",
        None,
        schemas.LIST_QUERY,
        {200: schemas.EMPLOYEES_PAGE},
    ),
    "employees.get_employee": (
        "One employee, masked or decrypted by role",
        None,
        None,
        {200: {"type": "object"}},
    ),
    "health.healthz": ("Liveness", None, None, {200: {"type": "object"}}),
    "health.readyz": (
        "Readiness: storage, workspace and catalog reachable",
        None,
        None,
        {200: {"type": "object"}, 503: {"type": "object"}},
    ),
}
#: endpoints that check a path parameter's form and answer 400 problem+json naming it in invalid_fields
PATH_CHECKED = {"lineage.table_lineage"}
ERRORS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    409: "Conflict",
    413: "Content Too Large",
    415: "Unsupported Media Type",
    429: "Too Many Requests",
}


def openapi_path(rule: str) -> str:
    """``/v1/employees/<int:employee_id>`` → ``/v1/employees/{employee_id}``."""
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule)


def _parameters(rule, query: dict | None) -> list[dict[str, Any]]:
    integers = {name for name, conv in rule._converters.items() if type(conv).__name__ == "IntegerConverter"}
    params = [
        {
            "name": a,
            "in": "path",
            "required": True,
            "schema": {"type": "integer" if a in integers else "string"},
        }
        for a in sorted(rule.arguments)
    ]
    for name, schema in (query or {}).get("properties", {}).items():
        params.append(
            {"name": name, "in": "query", "required": name in query.get("required", []), "schema": schema}
        )
    return params


def _response(code: int, schema: dict | None) -> dict[str, Any]:
    if code == 304:  # weather answers and request statuses carry an ETag; If-None-Match → 304, no body
        return {"description": "Not Modified: the If-None-Match ETag still matches"}
    return {
        "description": "OK" if code < 300 else "see body",
        "content": {"application/json": {"schema": schema}},
    }


def build_spec(app: Flask) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for rule in app.url_map.iter_rules():
        if rule.endpoint not in OPERATIONS:
            continue
        summary, body, query, responses = OPERATIONS[rule.endpoint]
        view = app.view_functions[rule.endpoint]
        role = getattr(view, "required_role", None)
        path = openapi_path(str(rule.rule))
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            operation: dict[str, Any] = {
                "operationId": rule.endpoint.replace(".", "_"),
                "summary": summary + (f" (role: {role})" if role else ""),
                "parameters": _parameters(rule, query),
                "responses": {str(code): _response(code, schema) for code, schema in responses.items()},
            }
            if body:
                operation["requestBody"] = {
                    "required": True,
                    "content": {"application/json": {"schema": body}},
                }
            if role:
                operation["security"] = [{"bearer": []}, {"apiKey": []}]
                if body or query:
                    codes: tuple[int, ...] = (400, 401, 403, 404, 409, 413, 415, 429)
                elif rule.endpoint in PATH_CHECKED:
                    codes = (400, 401, 403, 404, 429)
                else:
                    codes = (401, 403, 404, 429)
                for code in codes:
                    operation["responses"].setdefault(
                        str(code),
                        {
                            "description": ERRORS[code],
                            "content": {"application/problem+json": {"schema": schemas.PROBLEM}},
                        },
                    )
            paths.setdefault(path, {})[method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "climatelake gateway",
            "version": "1.0.0",
            "description": "Hourly weather data on request, through an event-driven Azure + Databricks "
            "pipeline. Errors are application/problem+json.",
        },
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
            }
        },
    }


@bp.get("/openapi.json")
def openapi_json():
    if "openapi_spec" not in current_app.extensions:
        current_app.extensions["openapi_spec"] = build_spec(current_app)
    return jsonify(current_app.extensions["openapi_spec"])


@bp.get("/docs")
def docs():
    """A plain, dependency-free reference page rendered from the spec (no external scripts)."""
    spec = current_app.extensions.get("openapi_spec") or build_spec(current_app)
    items = []
    for path, methods in spec["paths"].items():
        for method, operation in methods.items():
            params = ", ".join(p["name"] for p in operation["parameters"]) or "—"
            items.append(
                f"<tr><td><code>{method.upper()}</code></td><td><code>{path}</code></td>"
                f"<td>{operation['summary']}</td><td>{params}</td></tr>"
            )
    html = (
        "<!doctype html><html><head><meta charset='utf-8'><title>climatelake API</title><style>"
        "body{font-family:sans-serif;margin:2em}td,th{border-bottom:1px solid #ddd;padding:.4em;"
        "text-align:left}</style></head><body><h1>climatelake gateway API</h1>"
        "<p>Machine-readable: <a href='/openapi.json'>/openapi.json</a>. Authenticate with "
        "<code>Authorization: Bearer &lt;key&gt;</code> or <code>X-API-Key</code>.</p>"
        "<table><tr><th>method</th><th>path</th><th>what</th><th>parameters</th></tr>"
        + "".join(items)
        + "</table></body></html>"
    )
    return Response(html, mimetype="text/html", headers={"Content-Security-Policy": DOCS_CSP})
