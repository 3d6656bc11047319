"""The two event schemas: validating what publishers send, and Azure's one conversion between them.

Azure converts Event Grid schema input to CloudEvents 1.0 delivery (and delivers either schema as is), but
not CloudEvents input to Event Grid schema delivery: such a subscription is refused when it is created.
The conversion maps ``id``→``id``, ``topic``→``source``, ``subject``→``subject``, ``eventType``→``type``,
``eventTime``→``time``, ``data``→``data`` and a non-empty ``dataVersion`` to the ``dataversion`` attribute
(the attribute Azure's CloudEvents examples carry).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from emulators.eventgrid.errors import BadRequest

EVENTGRID_SCHEMA = "EventGridSchema"
CLOUDEVENTS_SCHEMA = "CloudEventSchemaV1_0"
SCHEMAS = (EVENTGRID_SCHEMA, CLOUDEVENTS_SCHEMA)
EVENTGRID_REQUIRED = ("id", "subject", "eventType", "eventTime")
CLOUDEVENTS_REQUIRED = ("id", "source", "type", "specversion")
_ATTRIBUTE_NAME = re.compile(r"^[a-z0-9]+$")
_CLOUDEVENTS_MEMBERS = {"data", "data_base64"}


def utc_now_iso() -> str:
    return iso(dt.datetime.now(dt.UTC))


def iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def iso_from_epoch(seconds: float) -> str:
    return iso(dt.datetime.fromtimestamp(seconds, dt.UTC))


def parse_time(value: Any) -> dt.datetime | None:
    """An ISO 8601 instant (any fraction length, ``Z`` or offset), or None if it is not one."""
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _invalid(message: str) -> BadRequest:
    return BadRequest(message, detail_code="InputJsonInvalid")


def validate_eventgrid(event: Any, index: int, topic_id: str) -> dict[str, Any]:
    """Check one Event Grid schema event and stamp what Event Grid provides (``topic``, versions)."""
    if not isinstance(event, dict):
        raise _invalid(f"Event at index {index} is not a JSON object.")
    for name in EVENTGRID_REQUIRED:
        if name not in event or event[name] is None:
            raise _invalid(f"Required property '{name}' was not set (event index {index}).")
        if not isinstance(event[name], str):
            raise _invalid(f"Property '{name}' must be a string (event index {index}).")
    if not event["id"] or not event["eventType"]:
        raise _invalid(f"Properties 'id' and 'eventType' must not be empty (event index {index}).")
    if parse_time(event["eventTime"]) is None:
        raise _invalid(f"Property 'eventTime' is not a valid ISO 8601 time (event index {index}).")
    if not isinstance(event.get("dataVersion", ""), str | None):
        raise _invalid(f"Property 'dataVersion' must be a string (event index {index}).")
    event["topic"] = topic_id  # not writeable by publishers: Event Grid provides it
    if event.get("dataVersion") is None:
        event["dataVersion"] = ""
    event["metadataVersion"] = "1"
    return event


def validate_cloudevent(event: Any, index: int) -> dict[str, Any]:
    """Check one CloudEvents 1.0 event (JSON format)."""
    if not isinstance(event, dict):
        raise _invalid(f"Event at index {index} is not a JSON object.")
    for name in CLOUDEVENTS_REQUIRED:
        if not isinstance(event.get(name), str) or not event[name]:
            raise _invalid(f"Required attribute '{name}' was not set (event index {index}).")
    if event["specversion"] != "1.0":
        raise _invalid(f"Attribute 'specversion' must be '1.0', not '{event['specversion']}'.")
    if "data" in event and "data_base64" in event:
        raise _invalid(f"An event cannot carry both 'data' and 'data_base64' (event index {index}).")
    if "time" in event and parse_time(event["time"]) is None:
        raise _invalid(f"Attribute 'time' is not a valid RFC 3339 time (event index {index}).")
    for name in event:
        if name not in _CLOUDEVENTS_MEMBERS and not _ATTRIBUTE_NAME.match(name):
            raise _invalid(
                f"Attribute name '{name}' must be lower-case letters and digits (event index {index})."
            )
    return event


def to_cloudevent(event: dict[str, Any]) -> dict[str, Any]:
    """Azure's Event Grid schema → CloudEvents 1.0 conversion for delivery."""
    converted: dict[str, Any] = {
        "id": event["id"],
        "source": event.get("topic", ""),
        "specversion": "1.0",
        "type": event["eventType"],
        "subject": event.get("subject", ""),
        "time": event["eventTime"],
    }
    if event.get("dataVersion"):
        converted["dataversion"] = event["dataVersion"]
    if "data" in event:
        converted["data"] = event["data"]
    return converted


def can_deliver(input_schema: str, delivery_schema: str) -> bool:
    return not (input_schema == CLOUDEVENTS_SCHEMA and delivery_schema == EVENTGRID_SCHEMA)


def convert(event: dict[str, Any], input_schema: str, delivery_schema: str) -> dict[str, Any]:
    if input_schema == delivery_schema:
        return event
    if input_schema == EVENTGRID_SCHEMA and delivery_schema == CLOUDEVENTS_SCHEMA:
        return to_cloudevent(event)
    raise ValueError(f"Azure does not convert {input_schema} to {delivery_schema}")
