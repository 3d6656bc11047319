"""Injected faults (test control plane): the next ``count`` requests matching a path prefix and method
answer ``status`` (429 or 503) with an integer ``Retry-After``, so clients' retry logic can be exercised."""

from __future__ import annotations

import threading
from typing import Any

from emulators.workspace.errors import invalid, too_many_requests, unavailable


class Faults:
    def __init__(self) -> None:
        self._rules: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def add(self, body: dict[str, Any]) -> dict[str, Any]:
        status = body.get("status")
        if status not in (429, 503):
            raise invalid("status must be 429 or 503.")
        path = body.get("path")
        if not isinstance(path, str) or not path.startswith("/api/"):
            raise invalid("path must be a path prefix under /api/.")
        rule = {
            "path": path,
            "method": str(body.get("method") or "").upper() or None,
            "status": status,
            "retry_after": int(body.get("retry_after", 1)),
            "count": int(body.get("count", 1)),
        }
        with self._lock:
            self._rules.append(rule)
        return rule

    def list(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(r) for r in self._rules]

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def check(self, method: str, path: str) -> None:
        """Raise the injected error if a rule matches this request (and use one of its count)."""
        if not self._rules:  # the common case, without taking the lock
            return
        with self._lock:
            for rule in self._rules:
                if path.startswith(rule["path"]) and rule["method"] in (None, method):
                    rule["count"] -= 1
                    if rule["count"] <= 0:
                        self._rules.remove(rule)
                    break
            else:
                return
        message = f"Injected fault for {method} {path}."
        if rule["status"] == 429:
            raise too_many_requests(message, rule["retry_after"])
        raise unavailable(message, rule["retry_after"])
