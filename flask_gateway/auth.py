"""Authentication (API keys) and authorisation (roles) for the gateway.

Keys arrive as ``Authorization: Bearer <key>`` or ``X-API-Key: <key>`` and are checked against the salted
hashes in Table Storage (:mod:`climatelake.keys`). A verified key is remembered in this process for
``KEY_CACHE_SECONDS`` so the hot read path does not pay a table read per call; a revoked key therefore stops
working within that time (an assumption, stated in the README).
"""

from __future__ import annotations

import threading
import time
from functools import wraps

from flask import Flask, current_app, g, request

from climatelake.keys import ApiKey, ApiKeyStore, role_allows
from flask_gateway.errors import Problem
from flask_gateway.security import check_rate_limit

KEY_CACHE_SECONDS = 30.0


class KeyVerifier:
    def __init__(self, store: ApiKeyStore) -> None:
        self.store = store
        self._cache: dict[str, tuple[ApiKey | None, float]] = {}
        self._lock = threading.Lock()

    def verify(self, key: str) -> ApiKey | None:
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(key)
        if hit and hit[1] > now:
            return hit[0]
        found = self.store.verify(key)
        with self._lock:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[key] = (found, now + (KEY_CACHE_SECONDS if found else 2.0))
        return found


def init_app(app: Flask) -> None:
    settings = app.extensions["settings"]
    store = ApiKeyStore(settings.storage_connection_string, settings.keys_table)
    store.ensure_table()
    app.extensions["key_verifier"] = KeyVerifier(store)


def presented_key() -> str:
    header = request.headers.get("Authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip()
    return request.headers.get("X-API-Key", "").strip()


def authenticate() -> ApiKey:
    """The caller's key, also kept in ``g.key``; 401 problem if missing or invalid."""
    if "key" in g:
        return g.key
    key = presented_key()
    if not key:
        raise Problem(
            401, "Unauthorized", "An API key is required (Authorization: Bearer <key> or X-API-Key)."
        )
    found = current_app.extensions["key_verifier"].verify(key)
    if found is None:
        raise Problem(401, "Unauthorized", "The API key is not valid.")
    g.key = found
    return found


def require(role: str):
    """Decorator: the caller must hold ``role`` or a stronger one (403 otherwise)."""

    def decorate(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            key = authenticate()
            check_rate_limit(key.key_id)
            if not role_allows(key.role, role):
                raise Problem(403, "Forbidden", f"This needs the {role} role; the key has {key.role}.")
            return view(*args, **kwargs)

        wrapper.required_role = role  # read by the OpenAPI generator
        return wrapper

    return decorate
