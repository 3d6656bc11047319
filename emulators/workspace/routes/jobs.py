"""Jobs 2.2 routes (the 2.1 paths answer the same) and the jobs' permissions
(``/api/2.0/permissions/jobs/{job_id}``); who may do what is ``job_acls.py``."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, g, jsonify, request

from emulators.workspace.errors import ApiError, invalid
from emulators.workspace.routes.common import body, flag, workspace
from emulators.workspace.routes.permissions import caller

jobs_api = Blueprint("jobs", __name__)

_INTERNAL_RUN_FIELDS = ("job_settings", "cancel_requested")


def _jobs():
    return workspace().jobs


def _job(job_id: Any, needed: str, action: str) -> dict[str, Any]:
    """The job, once the caller holds ``needed`` on it (403 otherwise)."""
    job = _jobs().get(job_id)
    workspace().job_acls.require(caller(), job, needed, action)
    return job


def _run(run_id: Any, needed: str, action: str) -> dict[str, Any]:
    """The run, once the caller holds ``needed`` on its job (a one-time run: its submitter)."""
    run = _jobs().get_run(run_id)
    _check_run(run, needed, action)
    return run


def _job_of(run: dict[str, Any]) -> dict[str, Any] | None:
    """The run's job; None for a one-time run or a deleted job (its runs stay the submitter's and admins')."""
    if run.get("job_id") is None:
        return None
    try:
        return _jobs().get(run["job_id"])
    except ApiError:
        return None


def _check_run(run: dict[str, Any], needed: str, action: str) -> None:
    workspace().job_acls.require_run(caller(), run, _job_of(run), needed, action)


def _public_run(run: dict[str, Any]) -> dict[str, Any]:
    view = {k: v for k, v in run.items() if k not in _INTERNAL_RUN_FIELDS and v is not None}
    view["tasks"] = [
        {k: v for k, v in t.items() if k not in ("error", "error_trace", "logs_path")} for t in run["tasks"]
    ]
    return view


def _job_view(job: dict[str, Any], with_tasks: bool = True) -> dict[str, Any]:
    view = dict(job)
    if not with_tasks:
        view["settings"] = {k: v for k, v in job["settings"].items() if k not in ("tasks", "job_clusters")}
    return view


def create_job():
    return jsonify({"job_id": _jobs().create(body(), g.principal)})


def get_job():
    return jsonify(_job_view(_job(request.args.get("job_id"), "CAN_VIEW", "getJob")))


def list_jobs():
    """Only the jobs the caller can view (job visibility control, on by default)."""
    acls, principal = workspace().job_acls, g.principal
    visible = [j for j in _jobs().list(request.args.get("name")) if acls.can_view(principal, j)]
    jobs = [_job_view(j, flag("expand_tasks")) for j in visible]
    return jsonify({"jobs": jobs, "has_more": False} if jobs else {"has_more": False})


def reset_job():
    data = body()
    _job(data.get("job_id"), "CAN_MANAGE", "resetJob")
    _jobs().reset(data.get("job_id"), data.get("new_settings") or {}, g.principal)
    return jsonify({})


def update_job():
    data = body()
    _job(data.get("job_id"), "CAN_MANAGE", "updateJob")
    _jobs().update(data.get("job_id"), data.get("new_settings"), data.get("fields_to_remove"), g.principal)
    return jsonify({})


def delete_job():
    job = _job(body().get("job_id"), "CAN_MANAGE", "deleteJob")
    _jobs().delete(job["job_id"])
    workspace().job_acls.on_delete(job["job_id"])
    return jsonify({})


def run_now():
    data = body()
    _job(data.get("job_id"), "CAN_MANAGE_RUN", "runNow")
    run_id, number, _ = _jobs().run_now(
        data.get("job_id"), data.get("job_parameters"), data.get("idempotency_token"), g.principal
    )
    return jsonify({"run_id": run_id, "number_in_job": number})


def submit_run():
    return jsonify({"run_id": _jobs().submit(body(), g.principal)})


def get_run():
    return jsonify(_public_run(_run(request.args.get("run_id"), "CAN_VIEW", "getRun")))


def list_runs():
    job_id = request.args.get("job_id")
    if job_id:
        _job(job_id, "CAN_VIEW", "listRuns")
    acls, principal = workspace().job_acls, g.principal
    runs = [
        _public_run(r)
        for r in _jobs().list_runs(job_id, flag("active_only"), flag("completed_only"))
        if job_id or acls.can_see_run(principal, r, _job_of(r))
    ]
    return jsonify({"runs": runs, "has_more": False} if runs else {"has_more": False})


def cancel_run():
    _run(body().get("run_id"), "CAN_MANAGE_RUN", "cancelRun")
    _jobs().request_cancel(body().get("run_id"))
    return jsonify({})


def delete_run():
    _run(body().get("run_id"), "CAN_MANAGE", "deleteRun")
    _jobs().delete_run(body().get("run_id"))
    return jsonify({})


def get_run_output():
    """A task run's output (``RunOutput``: metadata, logs, error, error_trace). A run of one task answers
    for its task; a run of several answers 400, as Databricks: "Retrieving the output of runs with multiple
    tasks is not supported. Please retrieve the output of each individual task run instead." """
    run_id = request.args.get("run_id")
    try:
        run = _jobs().get_run(run_id)
    except ApiError:
        run = None
    if run is None:
        run, task = _jobs().get_task_run(run_id)
        _check_run(run, "CAN_VIEW", "getRunOutput")
    elif len(run["tasks"]) == 1:
        _check_run(run, "CAN_VIEW", "getRunOutput")
        task = run["tasks"][0]
    else:
        raise invalid(
            "Retrieving the output of runs with multiple tasks is not supported. Please retrieve the output "
            "of each individual task run instead."
        )
    # the task run as a Run: the parent's fields, the task's own id, state and times, and the task itself
    view = {k: v for k, v in task.items() if k not in ("error", "error_trace", "logs_path")}
    metadata = {**_public_run(run), **{k: v for k, v in view.items() if k != "task_key"}, "tasks": [view]}
    output: dict[str, Any] = {"metadata": metadata}
    logs, truncated = _task_logs(task)
    if logs is not None:
        output["logs"], output["logs_truncated"] = logs, truncated
    if task.get("error"):
        output["error"] = task["error"]
        output["error_trace"] = task.get("error_trace", "")
    return jsonify(output)


#: Databricks returns the last 5 MB of a task's stdout in ``logs`` (Jobs API, runs/get-output)
_LOG_LIMIT = 5 * 1024 * 1024


def _task_logs(task: dict[str, Any]) -> tuple[str | None, bool]:
    path = task.get("logs_path")
    if not path:
        return None, False
    try:
        with open(path, "rb") as file:
            file.seek(0, 2)
            size = file.tell()
            file.seek(max(0, size - _LOG_LIMIT))
            return file.read().decode("utf-8", errors="replace"), size > _LOG_LIMIT
    except OSError:
        return None, False


_JOB_ROUTES = [
    ("POST", "create", create_job),
    ("GET", "get", get_job),
    ("GET", "list", list_jobs),
    ("POST", "reset", reset_job),
    ("POST", "update", update_job),
    ("POST", "delete", delete_job),
    ("POST", "run-now", run_now),
    ("POST", "runs/submit", submit_run),
    ("GET", "runs/get", get_run),
    ("GET", "runs/list", list_runs),
    ("POST", "runs/cancel", cancel_run),
    ("GET", "runs/get-output", get_run_output),
    ("POST", "runs/delete", delete_run),
]


def get_job_permissions(job_id: str):
    job = _job(job_id, "CAN_VIEW", "getJobPermissions")
    return jsonify(workspace().job_acls.view(job))


def change_job_permissions(job_id: str):
    job = _jobs().get(job_id)
    entries = body().get("access_control_list")
    return jsonify(workspace().job_acls.change(caller(), job, entries, replace=request.method == "PUT"))


def get_job_permission_levels(job_id: str):
    _job(job_id, "CAN_VIEW", "getJobPermissionLevels")
    return jsonify(workspace().job_acls.levels())


for _prefix in ("/api/2.0/permissions/jobs", "/api/2.0/preview/permissions/jobs"):
    _name = "preview" if "/preview/" in _prefix else "v2"
    jobs_api.add_url_rule(f"{_prefix}/<job_id>", f"get_job_permissions_{_name}", get_job_permissions)
    jobs_api.add_url_rule(
        f"{_prefix}/<job_id>",
        f"change_job_permissions_{_name}",
        change_job_permissions,
        methods=["PATCH", "PUT"],
    )
    jobs_api.add_url_rule(
        f"{_prefix}/<job_id>/permissionLevels",
        f"get_job_permission_levels_{_name}",
        get_job_permission_levels,
    )

for _version in ("2_1", "2_2"):
    for _method, _path, _view in _JOB_ROUTES:
        jobs_api.add_url_rule(
            f"/api/{_version.replace('_', '.')}/jobs/{_path}",
            endpoint=f"{_view.__name__}_{_version}",
            view_func=_view,
            methods=[_method],
        )
