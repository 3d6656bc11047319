"""Test helpers (the product never imports them): an in-process stand-in on a free port, and a webhook
subscriber whose answers — delivery statuses, handshake behaviour — a test chooses.

Why here and not in ``tests/``: the benchmark uses them too, and they know the stand-in's wiring.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, Response, jsonify, request
from werkzeug.serving import BaseWSGIServer, make_server

from emulators.common.serving import quiet_werkzeug
from emulators.eventgrid.server import create_app


def serve_in_thread(app: Flask) -> tuple[BaseWSGIServer, threading.Thread]:
    """Like the shared helper, but polling for shutdown every 50 ms so that tests stop quickly."""
    quiet_werkzeug()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(
        target=server.serve_forever,
        kwargs={"poll_interval": 0.05},
        name=f"wsgi-{server.server_port}",
        daemon=True,
    )
    thread.start()
    return server, thread


class RunningGrid:
    """A stand-in served in this process; ``restart()`` keeps its data folder, as a process restart would."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.start()

    def start(self) -> None:
        self.app = create_app(self.config)
        self.server, self.thread = serve_in_thread(self.app)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.endpoint = f"{self.url}/api/events"

    @property
    def grid(self):
        return self.app.extensions["eventgrid"]

    @property
    def standin(self):
        return self.app.extensions["eventgrid_standin"]

    def stop(self) -> None:
        self.server.shutdown()
        self.thread.join(timeout=10)
        self.server.server_close()
        self.standin.stop()

    def restart(self) -> None:
        self.stop()
        self.start()

    def subscriptions_url(self, topic: str, system: bool = False) -> str:
        scope = (
            f"{self.url}/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/local"
            "/providers/Microsoft.EventGrid"
        )
        if system:
            return f"{scope}/systemTopics/{topic}/eventSubscriptions"
        return f"{scope}/topics/{topic}/providers/Microsoft.EventGrid/eventSubscriptions"

    def wait_idle(self, timeout: float = 10.0) -> None:
        """Until no delivery is pending or in flight (dead letters included)."""
        deadline = time.monotonic() + timeout
        while any(self.grid.counts().values()):
            if time.monotonic() > deadline:
                raise TimeoutError(f"deliveries still queued: {self.grid.counts()}")
            time.sleep(0.01)


@dataclass
class Received:
    """One request a :class:`Webhook` got (header names in lower case)."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    at: float
    status: int | None = None  # what the webhook answered

    @property
    def events(self) -> list[dict[str, Any]]:
        if self.body is None:
            return []
        return self.body if isinstance(self.body, list) else [self.body]


@dataclass
class Webhook:
    """A subscriber. ``status(received)`` picks each delivery's answer (default 200); ``validation`` is
    ``"echo"`` (answer the code), ``"manual"`` (200 without it), ``"wrong"`` or an HTTP status;
    ``allowed_origin`` is what OPTIONS answers in ``WebHook-Allowed-Origin`` (None: no header, 405)."""

    status: Callable[[Received], int] = lambda received: 200
    validation: str | int = "echo"
    allowed_origin: str | None = "eventgrid.azure.net"
    received: list[Received] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._changed = threading.Condition()
        app = Flask("webhook")

        @app.route("/", defaults={"path": ""}, methods=["POST", "OPTIONS"])
        @app.route("/<path:path>", methods=["POST", "OPTIONS"])
        def hook(path: str):
            raw = request.get_data()
            got = Received(
                request.method,
                "/" + path,
                dict(request.args),
                {name.lower(): value for name, value in request.headers.items()},
                json.loads(raw) if raw else None,
                time.time(),
            )
            with self._changed:
                self.received.append(got)
                self._changed.notify_all()
            if request.method == "OPTIONS":
                if self.allowed_origin is None:
                    return Response(status=405)
                return Response(status=200, headers={"WebHook-Allowed-Origin": self.allowed_origin})
            if request.headers.get("aeg-event-type") == "SubscriptionValidation":
                return self._validate(got)
            got.status = self.status(got)
            return Response(status=got.status)

        self._server, self._thread = serve_in_thread(app)
        self.url = f"http://127.0.0.1:{self._server.server_port}"

    def _validate(self, got: Received):
        code = got.events[0]["data"]["validationCode"]
        if self.validation == "echo":
            return jsonify({"validationResponse": code})
        if self.validation == "manual":
            return Response(status=200)
        if self.validation == "wrong":
            return jsonify({"validationResponse": "not-the-code"})
        return Response(status=int(self.validation))

    def notifications(self, path: str | None = None) -> list[Received]:
        with self._changed:
            return [
                r
                for r in self.received
                if r.method == "POST"
                and r.headers.get("aeg-event-type") == "Notification"
                and (path is None or r.path == path)
            ]

    def events(self, path: str | None = None, accepted_only: bool = False) -> list[dict[str, Any]]:
        """Events received (``accepted_only``: only those the webhook answered with 200–204)."""
        return [
            event
            for r in self.notifications(path)
            if not accepted_only or (r.status is not None and 200 <= r.status <= 204)
            for event in r.events
        ]

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 10.0, what: str = "") -> None:
        deadline = time.monotonic() + timeout
        with self._changed:
            while not predicate():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"{what or 'condition'} not met within {timeout} s")
                self._changed.wait(min(remaining, 0.05))

    def close(self) -> None:
        self._server.shutdown()
        self._thread.join(timeout=10)
        self._server.server_close()
