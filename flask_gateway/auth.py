"""API keys: ``Authorization: Bearer <key>`` or ``X-API-Key: <key>``.

Walking-skeleton scope: the accepted keys are configured as SHA-256 hex digests in
``CLIMATELAKE_API_KEY_SHA256`` (comma-separated; the key itself is never stored). Roles, salted hashes in
Table Storage and a key CLI are issue 5.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from functools import wraps

from flask import Flask, current_app, g, request

from flask_gateway.errors import Problem


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def init_app(app: Flask) -> None:
    configured = app.config.get("API_KEY_SHA256") or os.environ.get("CLIMATELAKE_API_KEY_SHA256", "")
    if isinstance(configured, str):
        configured = [h.strip() for h in configured.split(",") if h.strip()]
    app.extensions["api_key_hashes"] = list(configured)


def _presented_key() -> str:
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        return header[7:].strip()
    return request.headers.get("X-API-Key", "").strip()


def require_key(view):
    @wraps(view)
    def wrapper(*args, **kwargs):
        key = _presented_key()
        if not key:
            raise Problem(401, "Unauthorized", "An API key is required (Authorization: Bearer <key>).")
        digest = hash_key(key)
        if not any(hmac.compare_digest(digest, h) for h in current_app.extensions["api_key_hashes"]):
            raise Problem(401, "Unauthorized", "The API key is not valid.")
        g.caller = digest[:12]
        return view(*args, **kwargs)

    return wrapper
