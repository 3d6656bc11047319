"""The stand-in's own control plane (``/api/2.0/local``), for tests and the launcher; the product never
calls it: ``ping`` (a no-op, the benchmark's baseline), ``faults`` (inject 429/503 answers) and ``sql``
(hold statements RUNNING for a while, so cancellation can be tested deterministically)."""

from __future__ import annotations

from flask import Blueprint, jsonify

from emulators.workspace.errors import invalid
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
