"""Cross-cutting protections: per-key rate limits, security headers, and an audit record for every call.

Rate limits are token buckets kept per process (each gunicorn worker holds its own), so the effective limit
is the configured one times the worker count: simple and dependency-free, stated in the README.
"""

from __future__ import annotations

import math
import threading
import time

from flask import Flask, Response, current_app, g, request

from climatelake.audit import AuditLog
from flask_gateway.errors import Problem

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    "Strict-Transport-Security": "max-age=31536000; includeSubDomains",
}
#: The interactive docs page loads its script from the same origin only.
DOCS_CSP = "default-src 'self'; style-src 'self' 'unsafe-inline'; script-src 'self' 'unsafe-inline'"


class RateLimiter:
    def __init__(self, per_minute: int, burst: int) -> None:
        self.rate = per_minute / 60.0
        self.burst = burst
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, who: str) -> float:
        """0 if allowed; else the seconds until a token is available."""
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(who, (float(self.burst), now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            if tokens >= 1:
                self._buckets[who] = (tokens - 1, now)
                return 0.0
            self._buckets[who] = (tokens, now)
            return (1 - tokens) / self.rate


def check_rate_limit(key_id: str) -> None:
    limiter: RateLimiter = current_app.extensions["rate_limiter"]
    wait = limiter.take(key_id)
    if wait:
        raise Problem(
            429,
            "Too Many Requests",
            "Rate limit exceeded for this API key.",
            headers={"Retry-After": str(math.ceil(wait))},
        )


def init_app(app: Flask) -> None:
    app.extensions["rate_limiter"] = RateLimiter(
        int(app.config.get("RATE_LIMIT_PER_MINUTE", 1200)), int(app.config.get("RATE_LIMIT_BURST", 200))
    )
    settings = app.extensions["settings"]
    app.extensions["audit"] = AuditLog(settings.storage_connection_string, settings.audit_container)

    @app.before_request
    def start_clock():
        g.started = time.perf_counter()

    @app.after_request
    def protect_and_audit(response: Response) -> Response:
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        if request.path not in ("/healthz", "/readyz"):
            key = g.get("key")
            app.extensions["audit"].record(
                key_id=key.key_id if key else "",
                role=key.role if key else "",
                method=request.method,
                route=request.url_rule.rule if request.url_rule else "",
                path=request.path,
                status=response.status_code,
                duration_ms=round((time.perf_counter() - g.get("started", time.perf_counter())) * 1000, 2),
                **g.get("audit_extra", {}),
            )
        return response
