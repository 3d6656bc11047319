"""Liveness: the process is up. No dependency checks, so nobody restarts it for the faults of others."""

from flask import Blueprint, jsonify

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    return jsonify({"status": "ok"})
