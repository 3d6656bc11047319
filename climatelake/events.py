"""climatelake's own events, published to an Event Grid custom topic for downstream subscribers.

Event types (Event Grid schema; the data of each is documented in docs/events.md):
``Climatelake.Request.Succeeded`` and ``Climatelake.Request.Failed``. The subject is
``/requests/<request_id>`` so subscribers can filter with ``subjectBeginsWith``.
"""

from __future__ import annotations

from typing import Any

from azure.core.credentials import AzureKeyCredential
from azure.eventgrid import EventGridEvent, EventGridPublisherClient

from climatelake.settings import Settings

SUCCEEDED = "Climatelake.Request.Succeeded"
FAILED = "Climatelake.Request.Failed"
DATA_VERSION = "1.0"


def request_event(
    event_type: str, request_id: str, data: dict[str, Any], event_id: str | None = None
) -> EventGridEvent:
    """A request's event; ``event_id`` keeps a re-published event's id (subscribers dedupe on it)."""
    extra = {"id": event_id} if event_id else {}
    return EventGridEvent(
        subject=f"/requests/{request_id}",
        event_type=event_type,
        data={"request_id": request_id, **data},
        data_version=DATA_VERSION,
        **extra,
    )


class EventPublisher:
    """Publishes to the custom topic with the azure-eventgrid SDK (key auth, ``aeg-sas-key``)."""

    def __init__(self, settings: Settings) -> None:
        if not settings.eventgrid_topic_endpoint:
            raise RuntimeError("CLIMATELAKE_EVENTGRID_TOPIC_ENDPOINT is not set")
        self._client = EventGridPublisherClient(
            settings.eventgrid_topic_endpoint, AzureKeyCredential(settings.eventgrid_topic_key)
        )

    def publish(self, *events: EventGridEvent) -> None:
        self._client.send(list(events))
