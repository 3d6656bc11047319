"""Finishing a request: record the final status, then tell subscribers — exactly once in effect.

The final status is written first (ETag-conditional, so only one caller wins); the event is built from the
stored record and marked published afterwards. If publishing fails, the caller raises and is retried (Event
Grid, or the job webhook), and the retry publishes the event the first attempt did not. Two racing retries
can publish twice, and so can a retry after a publish whose mark was lost: always with the same event id
(stored before publishing), so subscribers get at-least-once delivery, as from Event Grid itself, and
dedupe on the event's ``id``.

A request made with a ``callback_url`` also gets the event POSTed there (Event Grid schema, one event in an
array, ``aeg-event-type: Notification`` like an Event Grid webhook): one attempt with a 10 s timeout, best
effort — subscribe to the topic for guaranteed delivery.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from typing import Any

import requests
from azure.eventgrid import EventGridEvent

from climatelake import events
from functions import clients

log = logging.getLogger("functions.completion")
INTERNAL = ("event_published", "callback_url", "completion_event")


def finish(request_id: str, status: str, **details: Any) -> None:
    store = clients.statuses()
    # The completion event's id is stored with the final status (one conditional write: the winner's id
    # stays), so a retry after a publish whose "published" mark was lost (storage down between the two,
    # tests/reliability/test_r7_*) sends the same event again: one event id per request, which subscribers
    # dedupe on (Event Grid's own delivery is at-least-once).
    event_type = events.SUCCEEDED if status == "succeeded" else events.FAILED
    completion = {"id": str(uuid.uuid4()), "type": event_type}
    store.advance(request_id, status, completion_event=completion, **details)
    record = store.get(request_id)
    if record is None or not record.finished or record.details.get("event_published"):
        return
    data = {k: v for k, v in record.details.items() if k not in INTERNAL}
    stored = record.details.get("completion_event") or {}
    if stored.get("id"):
        completion = stored
    else:  # finished before its event id was stored with the status
        kind = events.SUCCEEDED if record.status == "succeeded" else events.FAILED
        completion = {"id": str(uuid.uuid4()), "type": kind}
        store.add_details(request_id, completion_event=completion)
    event = events.request_event(completion["type"], request_id, data, event_id=completion["id"])
    clients.publisher().publish(event)
    store.add_details(request_id, event_published=True)
    callback = record.details.get("callback_url")
    if callback:
        _post_callback(callback, event)


def _post_callback(url: str, event: EventGridEvent) -> None:
    try:
        answer = requests.post(
            url, json=[_as_dict(event)], headers={"aeg-event-type": "Notification"}, timeout=10
        )
        log.info("callback %s answered %s", url, answer.status_code)
    except Exception as exc:  # best effort: a bad callback must never fail the completion
        log.warning("callback %s failed: %s", url, exc.__class__.__name__)


def _as_dict(event: EventGridEvent) -> dict[str, Any]:
    """The event as Event Grid serialises it (the SDK keeps ``event_time`` as given: text or datetime)."""
    time = event.event_time
    return {
        "id": str(event.id),
        "subject": event.subject,
        "eventType": event.event_type,
        "data": event.data,
        "dataVersion": event.data_version,
        "eventTime": time.isoformat() if isinstance(time, dt.datetime) else str(time),
        "metadataVersion": "1",
    }
