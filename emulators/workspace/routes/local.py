"""The stand-in's own control plane (``/api/2.0/local``), for tests and the launcher; the product never
calls it: ``ping`` (a no-op, the benchmark's baseline), ``faults`` (inject 429/503 answers), ``sql``
(hold statements RUNNING for a while, so cancellation can be tested deterministically), ``tokens`` (a token
for any principal) and ``audit`` (the audit log's rows)."""

from __future__ import annotations

from flask import Blueprint, g, jsonify, request

from emulators.workspace.errors import invalid, permission_denied
from emulators.workspace.routes.common import body, workspace

local_api = Blueprint("local", __name__, url_prefix="/api/2.0/local")


@local_api.get("/ping")
def ping():
    return jsonify({"ok": True})


@local_api.post("/faults")
def add_fault():
    """``{"path": prefix, "method": "GET", "status": 429|503, "retry_after": s, "count": n}``."""
    return jsonify(workspace().faults.add(body()))


@local_api.get("/faults")
def list_faults():
    return jsonify({"faults": workspace().faults.list()})


@local_api.delete("/faults")
def clear_faults():
    workspace().faults.clear()
    return jsonify({})


@local_api.post("/sql")
def configure_sql():
    """``{"start_delay_seconds": s}``: statements stay RUNNING that long before they reach the engine."""
    delay = body().get("start_delay_seconds", 0)
    if not isinstance(delay, int | float) or delay < 0:
        raise invalid("start_delay_seconds must be a non-negative number.")
    workspace().statements.start_delay = float(delay)
    return jsonify({"start_delay_seconds": float(delay)})


@local_api.post("/tokens")
def mint_token():
    """``{"principal": userName|applicationId, "lifetime_seconds"?, "comment"?}`` → ``{"token_value",
    "token_info"}``: a token for any user or service principal (the local stand-in of signing in, which
    Databricks does outside its REST API). Workspace admins only."""
    if not workspace().access.is_workspace_admin(g.principal):
        raise permission_denied("Only workspace admins can mint tokens for other principals.")
    data = body()
    principal = str(data.get("principal") or "")
    if not principal:
        raise invalid("principal is required.")
    return jsonify(
        workspace().principals.create_token(
            principal, data.get("comment"), data.get("lifetime_seconds"), created_by=g.principal
        )
    )


@local_api.get("/audit")
def audit_rows():
    """The audit log's rows (``system.access.audit`` columns), oldest first; query arguments
    ``action_name``, ``service_name``, ``email``, ``status_code`` filter them."""
    wanted = ("action_name", "service_name", "email", "status_code")
    match = {k: v for k, v in request.args.items() if k in wanted}
    return jsonify({"rows": workspace().audit.rows(**match)})
