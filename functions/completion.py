"""Finishing a request: record the final status, then tell subscribers — exactly once in effect.

The final status is written first (ETag-conditional, so only one caller wins); the event is built from the
stored record and marked published afterwards. If publishing fails, the caller raises and is retried (Event
Grid, or the job webhook), and the retry publishes the event the first attempt did not. Two racing retries
can publish twice: subscribers get at-least-once delivery, as from Event Grid itself, and should dedupe on
``request_id``.
"""

from __future__ import annotations

from typing import Any

from climatelake import events
from functions import clients


def finish(request_id: str, status: str, **details: Any) -> None:
    store = clients.statuses()
    store.advance(request_id, status, **details)
    record = store.get(request_id)
    if record is None or not record.finished or record.details.get("event_published"):
        return
    data = {k: v for k, v in record.details.items() if k != "event_published"}
    event_type = events.SUCCEEDED if record.status == "succeeded" else events.FAILED
    clients.publisher().publish(events.request_event(event_type, request_id, data))
    store.add_details(request_id, event_published=True)
