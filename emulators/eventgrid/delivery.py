"""Webhook delivery: a scheduler thread that claims due deliveries and a pool of workers that POST them.

The scheduler is the only thread that moves deliveries between states: workers hand their outcomes back
through a list, and the scheduler settles them in one transaction per round. That keeps SQLite writes few
(one commit for many outcomes) and the state machine in :mod:`models` free of races.

Request shape (Azure's): Event Grid schema → a JSON array (one event unless the subscription batches),
``Content-Type: application/json; charset=utf-8``; CloudEvents → one event as ``application/cloudevents+json``
or a batch as ``application/cloudevents-batch+json``; headers ``aeg-event-type: Notification``,
``aeg-subscription-name`` (upper case), ``aeg-delivery-count`` (earlier attempts), ``aeg-data-version`` and
``aeg-metadata-version``. Success is 200–204 only; no answer within 30 s is a failure.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from emulators.eventgrid.deadletter import DeadLetterWriter
from emulators.eventgrid.models import Attempt, EventGrid, outcome_of
from emulators.eventgrid.resources import Subscription
from emulators.eventgrid.schemas import CLOUDEVENTS_SCHEMA
from emulators.eventgrid.store import Delivery
from emulators.eventgrid.webhook_client import WebhookClient

log = logging.getLogger("eventgrid.delivery")
CLAIM_LIMIT = 1000


def request_for(sub: Subscription, deliveries: list[Delivery]) -> tuple[bytes, dict[str, str]]:
    """The body and headers of one delivery request."""
    if sub.delivery_schema == CLOUDEVENTS_SCHEMA and len(deliveries) == 1 and sub.max_events_per_batch == 1:
        body, content_type = deliveries[0].body, "application/cloudevents+json; charset=utf-8"
    elif sub.delivery_schema == CLOUDEVENTS_SCHEMA:
        body = "[" + ",".join(d.body for d in deliveries) + "]"
        content_type = "application/cloudevents-batch+json; charset=utf-8"
    else:
        body, content_type = (
            "[" + ",".join(d.body for d in deliveries) + "]",
            "application/json; charset=utf-8",
        )
    headers = {
        "Content-Type": content_type,
        "aeg-event-type": "Notification",
        "aeg-subscription-name": sub.name.upper(),
        "aeg-delivery-count": str(min(d.attempts for d in deliveries)),
        "aeg-metadata-version": "1",
    }
    if sub.delivery_schema != CLOUDEVENTS_SCHEMA and len(deliveries) == 1:
        headers["aeg-data-version"] = str(json.loads(deliveries[0].body).get("dataVersion", ""))
    return body.encode(), headers


class Deliverer:
    def __init__(
        self,
        grid: EventGrid,
        dead_letters: DeadLetterWriter | None = None,
        workers: int = 16,
        timeout: float = 30.0,
    ) -> None:
        self.grid = grid
        self.dead_letters = dead_letters
        self.client = WebhookClient(timeout)
        self.max_in_flight = workers * 2
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="eventgrid-deliver")
        self._results: list[tuple[list[Delivery], Attempt]] = []
        self._dead_results: list[tuple[list[Delivery], bool, float]] = []
        self._in_flight = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="eventgrid-scheduler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Let in-flight requests finish and record their outcomes (fewer repeats after a restart)."""
        self._stop.set()
        self.grid.notify()
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        self._pool.shutdown(wait=True, cancel_futures=True)
        self.client.close()
        with self._lock:
            results, self._results = self._results, []
        if results:
            self.grid.settle(results)

    # the scheduler -------------------------------------------------------------------------------
    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self._round()
            except Exception:  # a bug must not stop delivery for good: log it and go on
                log.exception("delivery round failed")
                self._stop.wait(0.5)
            with self.grid.wakeup:
                if self._stop.is_set() or self._results or self._dead_results:
                    continue
                next_due = self.grid.next_due()
                if next_due is not None and self._in_flight < self.max_in_flight:
                    wait = max(0.0, min(1.0, next_due - time.time()))
                else:
                    wait = 1.0
                if wait > 0:
                    self.grid.wakeup.wait(wait)

    def _round(self) -> None:
        with self._lock:
            results, self._results = self._results, []
            dead_results, self._dead_results = self._dead_results, []
        if results:
            self.grid.settle(results)
        for deliveries, written, at in dead_results:
            if written:
                self.grid.dead_lettered(deliveries)
            else:
                self.grid.dead_letter_failed(deliveries, at)
        now = time.time()
        self.grid.expire_manual_validations(now)
        capacity = self.max_in_flight - self._in_flight
        if capacity > 0:
            for sub, deliveries in self.grid.claim_due(now, CLAIM_LIMIT):
                self._submit(self._deliver, sub, deliveries)
        if self.dead_letters is not None:
            for sub, deliveries in self.grid.claim_dead_letters(now, CLAIM_LIMIT):
                self._submit(self._write_dead_letter, sub, deliveries)

    def _submit(self, job, sub: Subscription, deliveries: list[Delivery]) -> None:
        with self._lock:
            self._in_flight += 1
        self._pool.submit(job, sub, deliveries)

    def _finish(self) -> None:
        with self._lock:
            self._in_flight -= 1
        self.grid.notify()

    # the workers ---------------------------------------------------------------------------------
    def _deliver(self, sub: Subscription, deliveries: list[Delivery]) -> None:
        try:
            body, headers = request_for(sub, deliveries)
            status, reason = self.client.post(sub.endpoint_url, body, headers)
            attempt = Attempt(status, outcome_of(status) if status is not None else reason, time.time())
            if not attempt.succeeded:
                log.info("delivery to %s: %s %s", sub.name, status, reason)
            with self._lock:
                self._results.append((deliveries, attempt))
        except Exception:
            log.exception("delivery to %s failed unexpectedly", sub.name)
            with self._lock:
                self._results.append((deliveries, Attempt(None, "GenericError", time.time())))
        finally:
            self._finish()

    def _write_dead_letter(self, sub: Subscription, deliveries: list[Delivery]) -> None:
        written = False
        try:
            documents = self.grid.dead_letter_documents(sub, deliveries)
            assert self.dead_letters is not None and sub.dead_letter_container
            name = self.dead_letters.write(sub.dead_letter_container, sub.name, documents)
            log.info(
                "dead-lettered %d event(s) of %s to %s/%s",
                len(deliveries),
                sub.name,
                sub.dead_letter_container,
                name,
            )
            written = True
        except Exception as exc:
            log.warning("dead-letter write for %s failed: %s", sub.name, exc)
        finally:
            with self._lock:
                self._dead_results.append((deliveries, written, time.time()))
            self._finish()
