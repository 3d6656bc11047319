"""Topics and event subscriptions as ARM resources: parsed and checked from ARM bodies, shown as ARM does.

Why ARM's shape everywhere (config file, management API, SQLite): one parser for the three, and a body that
works here works in a Bicep/ARM deployment or ``az rest`` against Azure.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from emulators.eventgrid.errors import InvalidSubscription
from emulators.eventgrid.filters import EventFilter
from emulators.eventgrid.schemas import CLOUDEVENTS_SCHEMA, EVENTGRID_SCHEMA, SCHEMAS, can_deliver

CUSTOM, SYSTEM = "topics", "systemTopics"
_NAME = re.compile(r"^[A-Za-z0-9-]{3,64}$")
SUCCEEDED, AWAITING_MANUAL_ACTION, FAILED = "Succeeded", "AwaitingManualAction", "Failed"


@dataclass(frozen=True)
class Topic:
    """A custom topic (publishers post to it) or the storage account's system topic (the watcher does)."""

    name: str
    kind: str
    resource_id: str
    input_schema: str = EVENTGRID_SCHEMA
    keys: tuple[str, ...] = ()
    source: str = ""  # the ``topic``/``source`` stamped on events: the topic itself, or the storage account
    containers: tuple[str, ...] | None = None  # system topic: containers watched (None: all)
    poll_interval: float = 0.2

    @property
    def event_source(self) -> str:
        return self.source or self.resource_id

    def to_arm(self, endpoint: str = "") -> dict[str, Any]:
        properties: dict[str, Any] = {"provisioningState": SUCCEEDED, "inputSchema": self.input_schema}
        if self.kind == CUSTOM:
            properties["endpoint"] = endpoint
        else:
            properties.update(source=self.source, topicType="Microsoft.Storage.StorageAccounts")
        return {
            "id": self.resource_id,
            "name": self.name,
            "type": f"Microsoft.EventGrid/{self.kind}",
            "properties": properties,
        }


@dataclass(frozen=True)
class Subscription:
    name: str
    topic: str
    endpoint_url: str
    delivery_schema: str = EVENTGRID_SCHEMA
    filter: EventFilter = field(default_factory=EventFilter)
    max_delivery_attempts: int = 30
    ttl_minutes: int = 1440
    dead_letter_container: str | None = None
    max_events_per_batch: int = 1
    preferred_batch_kb: int = 64
    labels: tuple[str, ...] = ()
    provisioning_state: str = SUCCEEDED
    managed_by: str = "api"  # "config": declared in the config file, re-applied at each start
    validation: dict[str, Any] | None = None  # pending manual validation: code, token, deadline

    @property
    def key(self) -> str:
        return subscription_key(self.topic, self.name)

    @property
    def active(self) -> bool:
        return self.provisioning_state == SUCCEEDED

    @property
    def endpoint_base_url(self) -> str:
        parts = urlsplit(self.endpoint_url)
        return f"{parts.scheme}://{parts.netloc}{parts.path}"

    def replace(self, **changes: Any) -> Subscription:
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_arm(
        cls, topic: Topic, name: str, body: Any, previous: Subscription | None = None, managed_by: str = "api"
    ) -> Subscription:
        """From an ARM body ``{"properties": {...}}``; what Azure would refuse raises InvalidSubscription."""
        if not _NAME.match(name or ""):
            raise InvalidSubscription(
                f"Event subscription name '{name}' must be 3-64 characters: letters, digits and hyphens."
            )
        if not isinstance(body, dict) or not isinstance(body.get("properties", {}), dict):
            raise InvalidSubscription("The request body must be an object with 'properties'.")
        props = body.get("properties") or {}
        endpoint_url, batch, batch_kb = _destination(props.get("destination"), previous)
        schema = props.get("eventDeliverySchema") or (
            previous.delivery_schema if previous else topic.input_schema
        )
        if schema not in SCHEMAS:
            raise InvalidSubscription(f"eventDeliverySchema '{schema}' is not one of {', '.join(SCHEMAS)}.")
        if not can_deliver(topic.input_schema, schema):
            raise InvalidSubscription(
                f"Topic '{topic.name}' takes {topic.input_schema} input, which Event Grid cannot deliver as "
                f"{schema}: use {CLOUDEVENTS_SCHEMA}."
            )
        attempts, ttl = _retry_policy(props.get("retryPolicy"))
        labels = props.get("labels") or []
        if not isinstance(labels, list) or not all(isinstance(label, str) for label in labels):
            raise InvalidSubscription("labels must be a list of strings.")
        return cls(
            name=name,
            topic=topic.name,
            endpoint_url=endpoint_url,
            delivery_schema=schema,
            filter=EventFilter.parse(props.get("filter")),
            max_delivery_attempts=attempts,
            ttl_minutes=ttl,
            dead_letter_container=_dead_letter_container(props.get("deadLetterDestination")),
            max_events_per_batch=batch,
            preferred_batch_kb=batch_kb,
            labels=tuple(labels),
            managed_by=managed_by,
        )

    def to_arm(self, topic: Topic, storage_account_id: str = "") -> dict[str, Any]:
        """As ARM shows it: the endpoint's base URL only (the full URL is a secret: ``getFullUrl``)."""
        properties: dict[str, Any] = {
            "topic": topic.resource_id,
            "provisioningState": self.provisioning_state,
            "destination": {
                "endpointType": "WebHook",
                "properties": {
                    "endpointBaseUrl": self.endpoint_base_url,
                    "maxEventsPerBatch": self.max_events_per_batch,
                    "preferredBatchSizeInKilobytes": self.preferred_batch_kb,
                },
            },
            "filter": self.filter.to_arm(),
            "labels": list(self.labels),
            "eventDeliverySchema": self.delivery_schema,
            "retryPolicy": {
                "maxDeliveryAttempts": self.max_delivery_attempts,
                "eventTimeToLiveInMinutes": self.ttl_minutes,
            },
        }
        if self.dead_letter_container:
            properties["deadLetterDestination"] = {
                "endpointType": "StorageBlob",
                "properties": {
                    "resourceId": storage_account_id,
                    "blobContainerName": self.dead_letter_container,
                },
            }
        scope = topic.resource_id + ("/providers/Microsoft.EventGrid" if topic.kind == CUSTOM else "")
        kind = "eventSubscriptions" if topic.kind == CUSTOM else "systemTopics/eventSubscriptions"
        return {
            "id": f"{scope}/eventSubscriptions/{self.name}",
            "name": self.name,
            "type": f"Microsoft.EventGrid/{kind}",
            "properties": properties,
        }

    def to_record(self) -> dict[str, Any]:
        """Plain JSON for SQLite (every field, so nothing derived is lost on reload)."""
        return {
            "topic": self.topic,
            "name": self.name,
            "managed_by": self.managed_by,
            "provisioning_state": self.provisioning_state,
            "validation": self.validation,
            "properties": {
                "destination": {
                    "endpointType": "WebHook",
                    "properties": {
                        "endpointUrl": self.endpoint_url,
                        "maxEventsPerBatch": self.max_events_per_batch,
                        "preferredBatchSizeInKilobytes": self.preferred_batch_kb,
                    },
                },
                "filter": self.filter.to_arm(),
                "labels": list(self.labels),
                "eventDeliverySchema": self.delivery_schema,
                "retryPolicy": {
                    "maxDeliveryAttempts": self.max_delivery_attempts,
                    "eventTimeToLiveInMinutes": self.ttl_minutes,
                },
                "deadLetterDestination": (
                    {"container": self.dead_letter_container} if self.dead_letter_container else None
                ),
            },
        }

    @classmethod
    def from_record(cls, topic: Topic, record: dict[str, Any]) -> Subscription:
        parsed = cls.from_arm(
            topic, record["name"], {"properties": record["properties"]}, None, record["managed_by"]
        )
        return parsed.replace(
            provisioning_state=record["provisioning_state"], validation=record.get("validation")
        )


def subscription_key(topic: str, name: str) -> str:
    """Azure resource names are case-insensitive."""
    return f"{topic.lower()}/{name.lower()}"


def _int_in(value: Any, low: int, high: int, what: str, default: int) -> int:
    if value is None:
        return default
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise InvalidSubscription(f"{what} must be an integer between {low} and {high}, not {value!r}.")
    return value


def _destination(raw: Any, previous: Subscription | None) -> tuple[str, int, int]:
    if raw is None and previous is not None:
        return previous.endpoint_url, previous.max_events_per_batch, previous.preferred_batch_kb
    if not isinstance(raw, dict):
        raise InvalidSubscription(
            "destination is required: {endpointType: 'WebHook', properties: {endpointUrl}}."
        )
    endpoint_type = raw.get("endpointType", "WebHook")
    if endpoint_type != "WebHook":
        raise InvalidSubscription(
            f"Destination endpointType '{endpoint_type}' is not supported by the stand-in (WebHook only)."
        )
    props = raw.get("properties") or {}
    url = props.get("endpointUrl") or (previous.endpoint_url if previous else None)
    parts = urlsplit(url) if isinstance(url, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
        raise InvalidSubscription(f"endpointUrl must be an http(s) URL, not {url!r}.")
    batch = _int_in(props.get("maxEventsPerBatch"), 1, 5000, "maxEventsPerBatch", 1)
    batch_kb = _int_in(
        props.get("preferredBatchSizeInKilobytes"), 1, 1024, "preferredBatchSizeInKilobytes", 64
    )
    return url, batch, batch_kb


def _retry_policy(raw: Any) -> tuple[int, int]:
    raw = raw or {}
    if not isinstance(raw, dict):
        raise InvalidSubscription("retryPolicy must be an object.")
    attempts = _int_in(raw.get("maxDeliveryAttempts"), 1, 30, "maxDeliveryAttempts", 30)
    ttl = _int_in(raw.get("eventTimeToLiveInMinutes"), 1, 1440, "eventTimeToLiveInMinutes", 1440)
    return attempts, ttl


def _dead_letter_container(raw: Any) -> str | None:
    """ARM's ``{endpointType: StorageBlob, properties: {blobContainerName}}`` or the short ``{container}``."""
    if not raw:
        return None
    if not isinstance(raw, dict):
        raise InvalidSubscription("deadLetterDestination must be an object.")
    if raw.get("endpointType", "StorageBlob") != "StorageBlob":
        raise InvalidSubscription("deadLetterDestination endpointType must be 'StorageBlob'.")
    name = raw.get("container") or (raw.get("properties") or {}).get("blobContainerName")
    if not isinstance(name, str) or not re.match(r"^[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){2,62}$", name):
        raise InvalidSubscription(f"deadLetterDestination needs a valid blob container name, not {name!r}.")
    return name
