"""A downstream webhook subscriber: records the Event Grid events it receives (and answers validation).

Used by the tests (to wait for an event with a timeout, never a fixed sleep) and by ``make run`` (to print
what a subscriber would see).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

from flask import Flask, jsonify, request

from emulators.common.serving import serve_in_thread


class EventSink:
    def __init__(self, on_event: Callable[[dict[str, Any]], None] | None = None) -> None:
        self.events: list[dict[str, Any]] = []
        self._changed = threading.Condition()
        self._on_event = on_event
        app = Flask("event_sink")

        @app.post("/events")
        def receive():
            body = json.loads(request.get_data() or b"[]")
            events = body if isinstance(body, list) else [body]
            if request.headers.get("aeg-event-type") == "SubscriptionValidation":
                return jsonify({"validationResponse": events[0]["data"]["validationCode"]})
            with self._changed:
                self.events.extend(events)
                self._changed.notify_all()
            for event in events:
                if self._on_event:
                    self._on_event(event)
            return "", 200

        self._server, self._thread = serve_in_thread(app)
        self.url = f"http://127.0.0.1:{self._server.server_port}/events"

    def wait_for(self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 120.0) -> dict[str, Any]:
        """The first received event matching ``predicate``; TimeoutError if none arrives in time."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for event in self.events:
                    if predicate(event):
                        return event
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"no matching event within {timeout} s; got {len(self.events)} others")
                self._changed.wait(remaining)

    def matching(self, predicate: Callable[[dict[str, Any]], bool]) -> list[dict[str, Any]]:
        with self._changed:
            return [e for e in self.events if predicate(e)]

    def close(self) -> None:
        self._server.shutdown()
        self._thread.join(timeout=5)
