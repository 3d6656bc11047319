"""Authentication (API keys, optionally Entra ID-style JWTs) and authorisation (roles) for the gateway.

Keys arrive as ``Authorization: Bearer <key>`` or ``X-API-Key: <key>`` and are checked against the salted
hashes in Table Storage (:mod:`climatelake.keys`). A verified key is remembered in this process for
``KEY_CACHE_SECONDS`` so the hot read path does not pay a table read per call; a revoked key therefore stops
working within that time (an assumption, stated in the README).

When ``JWT_ISSUER``, ``JWT_AUDIENCE`` and ``JWT_JWKS_URL`` are configured (``CLIMATELAKE_GATEWAY_JWT_*``),
a bearer token that is not an API key is validated as a JWT the way Entra ID issues them: RS256 signature by
a key from the JWKS, ``iss``, ``aud``, ``exp``/``nbf``; its ``roles`` claim (app roles, e.g. ``submitter``
or ``climatelake.submitter``) gives the strongest matching role; the caller is ``jwt:<oid or sub>``.
"""

from __future__ import annotations

import threading
import time
from functools import wraps

import jwt
from flask import Flask, current_app, g, request

from climatelake.keys import ROLES, ApiKey, ApiKeyStore, role_allows
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
    jwt_config = [app.config.get(f"JWT_{name}") for name in ("ISSUER", "AUDIENCE", "JWKS_URL")]
    if all(jwt_config):
        app.extensions["jwt_verifier"] = JwtVerifier(*jwt_config)


def presented_key() -> str:
    header = request.headers.get("Authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip()
    return request.headers.get("X-API-Key", "").strip()


class JwtVerifier:
    def __init__(self, issuer: str, audience: str, jwks_url: str) -> None:
        self.issuer = issuer
        self.audience = audience
        self.jwks = jwt.PyJWKClient(jwks_url, cache_keys=True, lifespan=300)

    def verify(self, token: str) -> ApiKey | None:
        try:
            signing_key = self.jwks.get_signing_key_from_jwt(token)
            claims = jwt.decode(
                token,
                signing_key.key,
                algorithms=["RS256"],
                audience=self.audience,
                issuer=self.issuer,
                options={"require": ["exp", "iss", "aud"]},
            )
        except jwt.PyJWTError:
            return None
        granted = [r.removeprefix("climatelake.") for r in claims.get("roles") or [] if isinstance(r, str)]
        roles = [r for r in ROLES if r in granted]
        subject = str(claims.get("oid") or claims.get("sub") or "")
        if not subject:
            return None
        # No role claimed: authenticated but allowed nothing (every route needs at least reader) → 403.
        return ApiKey(
            key_id=f"jwt:{subject}",
            role=roles[-1] if roles else "",
            name=str(claims.get("name", "")),
            created_at="",
        )


def authenticate() -> ApiKey:
    """The caller's key, also kept in ``g.key``; 401 problem if missing or invalid."""
    if "key" in g:
        return g.key
    key = presented_key()
    if not key:
        raise Problem(
            401, "Unauthorized", "An API key is required (Authorization: Bearer <key> or X-API-Key)."
        )
    jwt_verifier = current_app.extensions.get("jwt_verifier")
    if jwt_verifier is not None and key.count(".") == 2 and not key.startswith("clk_"):
        found = jwt_verifier.verify(key)
    else:
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
            if key.role not in ROLES or not role_allows(key.role, role):
                raise Problem(
                    403, "Forbidden", f"This needs the {role} role; the caller has {key.role or 'none'}."
                )
            return view(*args, **kwargs)

        wrapper.required_role = role  # read by the OpenAPI generator
        return wrapper

    return decorate
