"""Webhook delivery: POST each due event to its subscription's endpoint, retrying on Azure's schedule."""

from __future__ import annotations

import json
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import requests

from emulators.eventgrid.models import EventGrid

log = logging.getLogger("eventgrid.delivery")
TIMEOUT_SECONDS = 30


class Deliverer:
    def __init__(self, grid: EventGrid, workers: int = 8) -> None:
        self.grid = grid
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="deliver")
        self._in_flight: set[str] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._session = requests.Session()
        self._thread = threading.Thread(target=self._loop, name="delivery", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        with self.grid.wakeup:
            self.grid.wakeup.notify_all()
        self._thread.join(timeout=5)
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            for key, body in self.grid.due_deliveries():
                with self._lock:
                    if key in self._in_flight:
                        continue
                    self._in_flight.add(key)
                self._pool.submit(self._deliver, key, body)
            next_due = self.grid.next_due()
            wait = 1.0 if next_due is None else min(1.0, max(0.01, next_due - time.time()))
            with self.grid.wakeup:
                self.grid.wakeup.wait(wait)

    def _deliver(self, key: str, body: dict) -> None:
        try:
            subscription = self.grid.subscription(body["subscription"])
            if subscription is None:
                self.grid.failed(key, body, None, "subscription was deleted")
                return
            headers = {
                "Content-Type": "application/json",
                "aeg-event-type": "Notification",
                "aeg-subscription-name": subscription.name.upper(),
                "aeg-delivery-count": str(body["attempts"]),
                "aeg-data-version": str(body["event"].get("dataVersion", "")),
                "aeg-metadata-version": "1",
            }
            try:
                answer = self._session.post(
                    subscription.endpoint,
                    data=json.dumps([body["event"]]),
                    headers=headers,
                    timeout=TIMEOUT_SECONDS,
                )
                status, outcome = answer.status_code, f"{answer.status_code} {answer.reason}"
            except requests.RequestException as exc:
                status, outcome = None, f"delivery failed: {exc.__class__.__name__}"
            if status is not None and 200 <= status <= 204:
                self.grid.delivered(key)
            else:
                log.warning("delivery of %s to %s: %s", body["event"].get("id"), subscription.name, outcome)
                self.grid.failed(key, body, status, outcome)
        finally:
            with self._lock:
                self._in_flight.discard(key)
            with self.grid.wakeup:
                self.grid.wakeup.notify_all()
