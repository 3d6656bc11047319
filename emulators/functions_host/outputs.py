"""Output bindings: the function gets an ``Out`` per binding; what it ``set()``s (or returns, for
``$return``) is written only after it returned successfully, as the host does. Values are checked with
azure.functions' own output converters, so a value the real worker would refuse is refused here too."""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
import uuid
from collections.abc import Mapping
from typing import Any

import azure.functions as func
from azure.core.credentials import AzureKeyCredential
from azure.core.messaging import CloudEvent
from azure.eventgrid import EventGridEvent, EventGridPublisherClient
from azure.functions.blob import BlobConverter
from azure.functions.eventgrid import EventGridEventOutConverter
from azure.functions.queue import QueueMessageOutConverter
from azure.storage.blob import BlobServiceClient
from azure.storage.queue import QueueClient

from emulators.functions_host.expressions import BindingError, connection_string, resolve

log = logging.getLogger("functions_host.outputs")

_UNSET = object()


class Out(func.Out):
    """The worker's ``Out[T]``: holds one value until the host writes it."""

    def __init__(self) -> None:
        self._value: Any = None

    def set(self, val: Any) -> None:
        self._value = val

    def get(self) -> Any:
        return self._value


def write_outputs(
    outputs: tuple[dict[str, Any], ...],
    values: Mapping[str, Any],
    data: Mapping[str, Any],
    settings: Mapping[str, str],
    message_encoding: str = "base64",
) -> None:
    """Write each output binding that has a value (``None`` writes nothing)."""
    for binding in outputs:
        value = values.get(binding["name"])
        if value is None or binding["type"] == "http":
            continue
        kind = binding["type"]
        if kind == "blob":
            _write_blob(binding, value, data, settings)
        elif kind == "queue":
            _write_queue(binding, value, data, settings, message_encoding)
        elif kind == "eventGrid":
            _publish_events(binding, value, settings)
        else:  # pragma: no cover - app_index refuses other types
            raise BindingError(f"output binding type '{kind}' is not supported")


def _write_blob(binding: dict, value: Any, data: Mapping[str, Any], settings: Mapping[str, str]) -> None:
    datum = BlobConverter.encode(value, expected_type=None)
    body = datum.value.encode("utf-8") if datum.type == "string" else datum.value
    container, _, name = resolve(binding["path"], data, settings).partition("/")
    service = BlobServiceClient.from_connection_string(connection_string(binding.get("connection"), settings))
    container_client = service.get_container_client(container)
    if not container_client.exists():
        try:
            container_client.create_container()
        except Exception:  # created concurrently
            pass
    container_client.upload_blob(name, body, overwrite=True)
    log.info("output binding '%s': wrote blob %s/%s (%d bytes)", binding["name"], container, name, len(body))


def _write_queue(
    binding: dict, value: Any, data: Mapping[str, Any], settings: Mapping[str, str], encoding: str
) -> None:
    datum = QueueMessageOutConverter.encode(value, expected_type=None)
    if datum.type == "json":
        parsed = json.loads(datum.value)
        items = parsed if isinstance(parsed, list) else [parsed]
        messages = [m["body"] if isinstance(m, dict) else m for m in items]
    else:
        messages = [datum.value]
    queue_name = resolve(binding["queueName"], data, settings).lower()
    client = QueueClient.from_connection_string(
        connection_string(binding.get("connection"), settings), queue_name
    )
    try:
        client.create_queue()
    except Exception:  # exists already
        pass
    for message in messages:
        raw = message.encode("utf-8") if isinstance(message, str) else bytes(message)
        client.send_message(base64.b64encode(raw).decode() if encoding == "base64" else raw.decode("utf-8"))
    log.info("output binding '%s': sent %d message(s) to %s", binding["name"], len(messages), queue_name)


def _publish_events(binding: dict, value: Any, settings: Mapping[str, str]) -> None:
    endpoint_setting = binding.get("topicEndpointUri")
    key_setting = binding.get("topicKeySetting")
    if not endpoint_setting or not key_setting:
        raise BindingError(
            f"eventGrid output '{binding['name']}': only topicEndpointUri + topicKeySetting are supported"
        )
    for setting in (endpoint_setting, key_setting):
        if not settings.get(setting):
            raise BindingError(f"eventGrid output '{binding['name']}': app setting '{setting}' is not set")
    datum = EventGridEventOutConverter.encode(value, expected_type=None)
    text = datum.value.decode("utf-8") if isinstance(datum.value, bytes) else datum.value
    parsed = json.loads(text)
    items = parsed if isinstance(parsed, list) else [parsed]
    events = [json.loads(i) if isinstance(i, str) else i for i in items]
    cloud = [e for e in events if "specversion" in e]
    if cloud and len(cloud) != len(events):
        raise BindingError("an eventGrid output cannot mix CloudEvents and Event Grid events")
    client = EventGridPublisherClient(settings[endpoint_setting], AzureKeyCredential(settings[key_setting]))
    with client:
        if cloud:
            client.send([CloudEvent.from_dict(e) for e in events])
        else:
            client.send([_event_grid_event(e) for e in events])
    log.info("output binding '%s': published %d event(s)", binding["name"], len(events))


def _event_grid_event(item: dict[str, Any]) -> EventGridEvent:
    missing = [k for k in ("subject", "eventType", "dataVersion") if not item.get(k)]
    if missing:
        raise BindingError(f"eventGrid output: event lacks {missing}")
    when = item.get("eventTime")
    return EventGridEvent(
        subject=item["subject"],
        event_type=item["eventType"],
        data=item.get("data"),
        data_version=item["dataVersion"],
        id=item.get("id") or str(uuid.uuid4()),
        event_time=dt.datetime.fromisoformat(when) if when else dt.datetime.now(dt.UTC),
    )
