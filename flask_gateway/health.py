"""``/healthz`` (the process is up; no dependency checks, so nobody restarts it for the faults of others) and
``/readyz`` (storage, workspace and catalog reachable, so a load balancer sends traffic only when it can be
served)."""

from __future__ import annotations

from flask import Blueprint, jsonify

from flask_gateway import clients

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    return jsonify({"status": "ok"})


@bp.get("/readyz")
def readyz():
    checks: dict[str, str] = {}

    def check(name: str, probe) -> None:
        try:
            probe()
            checks[name] = "ok"
        except Exception as exc:  # report, never raise: this endpoint is about reachability
            checks[name] = f"unreachable: {exc.__class__.__name__}"

    settings = clients.settings()
    manifests = clients.blobs().get_container_client(settings.manifests_container)
    check("storage", manifests.get_container_properties)
    check(
        "workspace", lambda: next(iter(clients.workspace().jobs.list(name=settings.weather_job_name)), None)
    )
    check("catalog", lambda: clients.workspace().catalogs.get(settings.catalog))
    ready = all(v == "ok" for v in checks.values())
    answer = jsonify({"status": "ready" if ready else "not ready", "checks": checks})
    answer.status_code = 200 if ready else 503
    return answer
