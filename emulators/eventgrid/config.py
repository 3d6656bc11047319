"""The stand-in's configuration file, in either of two shapes, read into one :class:`GridConfig`.

ARM shape (what the launcher writes), the resources as an ARM template lists them, plus three local
extensions Azure has no use for — a custom topic's ``keys``, and a system topic's ``containers`` and
``pollIntervalSeconds``::

    {"data_dir": "…", "time_scale": 0.05, "storage_connection_string": "…", "storage_location": "…",
     "resources": [
       {"type": "Microsoft.EventGrid/topics", "name": "climatelake",
        "properties": {"inputSchema": "EventGridSchema"}, "keys": ["<key1>", "<key2>"]},
       {"type": "Microsoft.EventGrid/topics/eventSubscriptions", "name": "climatelake/subscriber-0",
        "properties": {"destination": {"endpointType": "WebHook", "properties": {"endpointUrl": "…"}},
                       "filter": {…}, "eventDeliverySchema": "…", "retryPolicy": {…},
                       "deadLetterDestination": {"endpointType": "StorageBlob",
                                                 "properties": {"blobContainerName": "…"}}}},
       {"type": "Microsoft.EventGrid/systemTopics", "name": "storage",
        "properties": {"topicType": "Microsoft.Storage.StorageAccounts"}, "containers": ["manifests"]},
       {"type": "Microsoft.EventGrid/systemTopics/eventSubscriptions", "name": "storage/manifest-created",
        "properties": {…}}]}

Child resources may also be nested in their topic's ``resources`` with a short ``name``. The first version's
shape (``topics: {name: {key}}``, ``system_topic``, ``subscriptions: [{name, topic, endpoint, …}]``) is still
read, so older configuration files (docker-compose.yml's) keep working.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emulators.eventgrid.resources import CUSTOM, SYSTEM, Topic
from emulators.eventgrid.schemas import SCHEMAS

DEFAULT_SUBSCRIPTION_ID = "00000000-0000-0000-0000-000000000000"
DEFAULT_RESOURCE_GROUP = "local"
DEV_ACCOUNT = "devstoreaccount1"


@dataclass
class GridConfig:
    data_dir: Path
    time_scale: float = 1.0
    storage_connection_string: str | None = None
    #: Azurite's ``--location`` when it runs on this machine: system topics list at once on its writes
    #: (:mod:`emulators.eventgrid.write_hints`); None: polling only
    storage_location: Path | None = None
    subscription_id: str = DEFAULT_SUBSCRIPTION_ID
    resource_group: str = DEFAULT_RESOURCE_GROUP
    topics: dict[str, Topic] = field(default_factory=dict)  # by lower-case name
    #: (topic name, subscription name, ARM body) declared in the file
    subscriptions: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    delivery_timeout: float = 30.0
    delivery_workers: int = 16
    manual_validation_seconds: float = 300.0  # Azure: the validation URL is valid for 5 minutes
    dead_letter_delay_seconds: float = 300.0  # Azure: 5 minutes between last attempt and dead-lettering

    @property
    def storage_account(self) -> str:
        parts = dict(p.split("=", 1) for p in (self.storage_connection_string or "").split(";") if "=" in p)
        return parts.get("AccountName", DEV_ACCOUNT)

    @property
    def storage_account_id(self) -> str:
        return (
            f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}"
            f"/providers/Microsoft.Storage/storageAccounts/{self.storage_account}"
        )

    def resource_id(self, kind: str, name: str) -> str:
        return (
            f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}"
            f"/providers/Microsoft.EventGrid/{kind}/{name}"
        )

    def topic(self, name: str) -> Topic | None:
        return self.topics.get(name.lower())


def load(raw: dict[str, Any]) -> GridConfig:
    """Read either shape; a mistake raises ValueError naming it (the stand-in then refuses to start)."""
    config = GridConfig(
        data_dir=Path(raw["data_dir"]),
        time_scale=float(raw.get("time_scale", 1.0)),
        storage_connection_string=raw.get("storage_connection_string"),
        storage_location=Path(raw["storage_location"]) if raw.get("storage_location") else None,
        subscription_id=raw.get("subscription_id", DEFAULT_SUBSCRIPTION_ID),
        resource_group=raw.get("resource_group", DEFAULT_RESOURCE_GROUP),
        delivery_timeout=float(raw.get("delivery_timeout_seconds", 30.0)),
        delivery_workers=int(raw.get("delivery_workers", 16)),
        manual_validation_seconds=float(raw.get("manual_validation_seconds", 300.0)),
        dead_letter_delay_seconds=float(raw.get("dead_letter_delay_seconds", 300.0)),
    )
    if config.time_scale <= 0:
        raise ValueError("time_scale must be positive")
    if "resources" in raw:
        _load_arm(config, raw["resources"])
    else:
        _load_simple(config, raw)
    for topic_name, name, _ in config.subscriptions:
        if config.topic(topic_name) is None:
            raise ValueError(f"event subscription '{name}' names unknown topic '{topic_name}'")
    return config


def _add_topic(config: GridConfig, topic: Topic) -> None:
    if topic.name.lower() in config.topics:
        raise ValueError(f"topic '{topic.name}' is declared twice")
    if topic.input_schema not in SCHEMAS:
        raise ValueError(f"topic '{topic.name}': inputSchema must be one of {', '.join(SCHEMAS)}")
    if topic.kind == SYSTEM and not config.storage_connection_string:
        raise ValueError(f"system topic '{topic.name}' needs storage_connection_string")
    config.topics[topic.name.lower()] = topic


def _system_topic(config: GridConfig, name: str, containers: Any, poll: Any, source: str | None) -> Topic:
    if containers is not None and (
        not isinstance(containers, list) or not all(isinstance(c, str) for c in containers)
    ):
        raise ValueError(f"system topic '{name}': containers must be a list of container names")
    return Topic(
        name=name,
        kind=SYSTEM,
        resource_id=config.resource_id(SYSTEM, name),
        source=source or config.storage_account_id,
        containers=None if containers is None else tuple(containers),
        poll_interval=float(poll if poll is not None else 0.2),
    )


def _load_simple(config: GridConfig, raw: dict[str, Any]) -> None:
    for name, spec in (raw.get("topics") or {}).items():
        keys = tuple(spec.get("keys") or ([spec["key"]] if "key" in spec else []))
        topic = Topic(
            name=name,
            kind=CUSTOM,
            resource_id=config.resource_id(CUSTOM, name),
            input_schema=spec.get("inputSchema", "EventGridSchema"),
            keys=keys,
        )
        _add_topic(config, topic)
    system = raw.get("system_topic")
    if system:
        config.storage_connection_string = config.storage_connection_string or system["connection_string"]
        topic = _system_topic(
            config,
            system["name"],
            system.get("containers"),
            system.get("poll_interval"),
            system.get("source"),
        )
        _add_topic(config, topic)
    for sub in raw.get("subscriptions") or []:
        properties: dict[str, Any] = {
            "destination": {
                "endpointType": "WebHook",
                "properties": {
                    "endpointUrl": sub["endpoint"],
                    **({"maxEventsPerBatch": sub["maxEventsPerBatch"]} if "maxEventsPerBatch" in sub else {}),
                },
            },
        }
        for name in ("filter", "retryPolicy", "eventDeliverySchema", "deadLetterDestination"):
            if name in sub:
                properties[name] = sub[name]
        config.subscriptions.append((sub["topic"], sub["name"], {"properties": properties}))


def _load_arm(config: GridConfig, resources: list[dict[str, Any]]) -> None:
    flat: list[dict[str, Any]] = []
    for resource in resources:
        flat.append(resource)
        for child in resource.get("resources") or []:
            kind = child.get("type", "")
            if "/" not in kind.removeprefix("Microsoft.EventGrid/"):
                kind = f"{resource['type']}/{kind.rsplit('/', 1)[-1]}"
            name = child["name"] if "/" in child["name"] else f"{resource['name']}/{child['name']}"
            flat.append({**child, "type": kind, "name": name})
    for resource in flat:
        kind = resource.get("type", "").lower()
        props = resource.get("properties") or {}
        if kind == "microsoft.eventgrid/topics":
            topic = Topic(
                name=resource["name"],
                kind=CUSTOM,
                resource_id=config.resource_id(CUSTOM, resource["name"]),
                input_schema=props.get("inputSchema", "EventGridSchema"),
                keys=tuple(resource.get("keys") or []),
            )
            _add_topic(config, topic)
        elif kind == "microsoft.eventgrid/systemtopics":
            topic_type = props.get("topicType", "Microsoft.Storage.StorageAccounts")
            if topic_type.lower() != "microsoft.storage.storageaccounts":
                raise ValueError(f"system topic '{resource['name']}': only storage accounts are supported")
            _add_topic(
                config,
                _system_topic(
                    config,
                    resource["name"],
                    resource.get("containers"),
                    resource.get("pollIntervalSeconds"),
                    props.get("source"),
                ),
            )
        elif kind in (
            "microsoft.eventgrid/topics/eventsubscriptions",
            "microsoft.eventgrid/systemtopics/eventsubscriptions",
        ):
            topic_name, _, name = resource["name"].partition("/")
            config.subscriptions.append((topic_name, name, {"properties": props}))
        else:
            raise ValueError(f"resource type '{resource.get('type')}' is not supported by the stand-in")
