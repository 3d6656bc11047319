"""HTTP routes of the workspace stand-in: parse the request, call the models, shape the answer."""

from __future__ import annotations

import base64
from typing import Any

from flask import Blueprint, current_app, g, jsonify, request

from emulators.workspace.errors import ApiError, invalid

uc = Blueprint("unity_catalog", __name__, url_prefix="/api/2.1/unity-catalog")
jobs_api = Blueprint("jobs", __name__)

_INTERNAL_RUN_FIELDS = ("job_settings", "cancel_requested")


def _catalog():
    return current_app.extensions["workspace"].catalog


def _jobs():
    return current_app.extensions["workspace"].jobs


def _body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if body is None and request.method in ("POST", "PUT", "PATCH") and request.data:
        raise invalid("The request body is not valid JSON.")
    return body or {}


def _page(items: list[dict[str, Any]], key: str) -> dict[str, Any]:
    """Apply ``max_results``/``page_token`` paging; tokens are opaque and bound to the listing kind."""
    try:
        max_results = int(request.args.get("max_results") or 0)
    except ValueError:
        raise invalid("max_results must be an integer.") from None
    if max_results < 0:
        raise invalid("max_results must not be negative.")
    offset = 0
    token = request.args.get("page_token")
    if token:
        try:
            scope, _, number = base64.urlsafe_b64decode(token.encode()).decode().partition(":")
            offset = int(number)
            if scope != key:
                raise ValueError
        except ValueError:
            raise invalid("Invalid page_token.") from None
    size = max_results or 1000
    page = items[offset : offset + size]
    answer: dict[str, Any] = {key: page}
    if offset + size < len(items):
        answer["next_page_token"] = base64.urlsafe_b64encode(f"{key}:{offset + size}".encode()).decode()
    return answer


def _flag(name: str) -> bool:
    return request.args.get(name, "false").lower() == "true"


# Unity Catalog ----------------------------------------------------------------------------------
@uc.post("/catalogs")
def create_catalog():
    return jsonify(_catalog().create_catalog(_body(), g.principal))


@uc.get("/catalogs")
def list_catalogs():
    return jsonify(_page(_catalog().list_catalogs(), "catalogs"))


@uc.get("/catalogs/<name>")
def get_catalog(name: str):
    return jsonify(_catalog().get_catalog(name))


@uc.delete("/catalogs/<name>")
def delete_catalog(name: str):
    _catalog().delete_catalog(name, _flag("force"))
    return jsonify({})


@uc.post("/schemas")
def create_schema():
    return jsonify(_catalog().create_schema(_body(), g.principal))


@uc.get("/schemas")
def list_schemas():
    catalog_name = request.args.get("catalog_name") or ""
    if not catalog_name:
        raise invalid("catalog_name is required.")
    return jsonify(_page(_catalog().list_schemas(catalog_name), "schemas"))


@uc.get("/schemas/<full_name>")
def get_schema(full_name: str):
    return jsonify(_catalog().get_schema(full_name))


@uc.delete("/schemas/<full_name>")
def delete_schema(full_name: str):
    _catalog().delete_schema(full_name, _flag("force"))
    return jsonify({})


@uc.post("/tables")
def create_table():
    return jsonify(_catalog().create_table(_body(), g.principal))


@uc.get("/tables")
def list_tables():
    catalog_name = request.args.get("catalog_name") or ""
    schema_name = request.args.get("schema_name") or ""
    if not catalog_name or not schema_name:
        raise invalid("catalog_name and schema_name are required.")
    return jsonify(_page(_catalog().list_tables(catalog_name, schema_name), "tables"))


@uc.get("/tables/<full_name>")
def get_table(full_name: str):
    return jsonify(_catalog().get_table(full_name))


@uc.delete("/tables/<full_name>")
def delete_table(full_name: str):
    _catalog().delete_table(full_name)
    return jsonify({})


@uc.post("/staging-tables")
def create_staging_table():
    return jsonify(_catalog().create_staging_table(_body()))


# Jobs 2.2 (2.1 paths answer the same) -----------------------------------------------------------
def _public_run(run: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in run.items() if k not in _INTERNAL_RUN_FIELDS}


def _job_view(job: dict[str, Any], with_tasks: bool = True) -> dict[str, Any]:
    view = dict(job)
    if not with_tasks:
        view["settings"] = {k: v for k, v in job["settings"].items() if k not in ("tasks", "job_clusters")}
    return view


def create_job():
    return jsonify({"job_id": _jobs().create(_body(), g.principal)})


def get_job():
    return jsonify(_job_view(_jobs().get(request.args.get("job_id"))))


def list_jobs():
    jobs = [_job_view(j, _flag("expand_tasks")) for j in _jobs().list(request.args.get("name"))]
    return jsonify({"jobs": jobs, "has_more": False} if jobs else {"has_more": False})


def reset_job():
    body = _body()
    _jobs().reset(body.get("job_id"), body.get("new_settings") or {})
    return jsonify({})


def delete_job():
    _jobs().delete(_body().get("job_id"))
    return jsonify({})


def run_now():
    body = _body()
    run_id, number, _ = _jobs().run_now(
        body.get("job_id"), body.get("job_parameters"), body.get("idempotency_token"), g.principal
    )
    return jsonify({"run_id": run_id, "number_in_job": number})


def get_run():
    return jsonify(_public_run(_jobs().get_run(request.args.get("run_id"))))


def list_runs():
    runs = [
        _public_run(r)
        for r in _jobs().list_runs(request.args.get("job_id"), _flag("active_only"), _flag("completed_only"))
    ]
    return jsonify({"runs": runs, "has_more": False} if runs else {"has_more": False})


def cancel_run():
    _jobs().request_cancel(_body().get("run_id"))
    return jsonify({})


def get_run_output():
    run = _public_run(_jobs().get_run(request.args.get("run_id")))
    task = run["tasks"][-1] if run["tasks"] else {}
    output = {"metadata": run}
    if task.get("error"):
        output["error"] = task["error"]
        output["error_trace"] = task.get("error_trace", "")
    return jsonify(output)


_JOB_ROUTES = [
    ("POST", "create", create_job),
    ("GET", "get", get_job),
    ("GET", "list", list_jobs),
    ("POST", "reset", reset_job),
    ("POST", "delete", delete_job),
    ("POST", "run-now", run_now),
    ("GET", "runs/get", get_run),
    ("GET", "runs/list", list_runs),
    ("POST", "runs/cancel", cancel_run),
    ("GET", "runs/get-output", get_run_output),
]
for _version in ("2_1", "2_2"):
    for _method, _path, _view in _JOB_ROUTES:
        jobs_api.add_url_rule(
            f"/api/{_version.replace('_', '.')}/jobs/{_path}",
            endpoint=f"{_view.__name__}_{_version}",
            view_func=_view,
            methods=[_method],
        )


def not_implemented(path: str) -> ApiError:
    return ApiError(
        501, "NOT_IMPLEMENTED", f"The local workspace does not implement {request.method} /{path}."
    )
