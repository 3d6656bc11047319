"""Notification destinations (``/api/2.0/notification-destinations``): state and behaviour, no HTTP here.

Shapes are databricks-sdk's (``service/settings.py``: ``NotificationDestination``, ``Config``,
``GenericWebhookConfig``, ``ListNotificationDestinationsResult``), as ``w.notification_destinations``
sends and reads them. A destination wraps exactly one config; its type (``destination_type``) is fixed at
creation. The webhook's ``url``, ``username`` and ``password`` are input-only: answers carry
``url_set``/``username_set``/``password_set`` instead, as the SDK's field docs say ("[Input-Only]",
"[Output-Only] Whether URL is set"). A job's ``webhook_notifications`` name a destination by its ``id``
(a UUID); the job runner posts to the destination's URL (``server.Workspace.notify``).

LIMITATIONS: only ``generic_webhook`` and ``email`` configs (others 400); e-mail destinations are kept but
never sent to; no paging (one page, whatever ``page_size``); the webhook URL is stored as given in the
workspace's SQLite file (its folder is the stand-in's own); no admin check.
"""

from __future__ import annotations

import uuid
from typing import Any

from emulators.common.records import RecordStore
from emulators.workspace.errors import invalid, resource_does_not_exist

#: config key → destination_type
_TYPES = {"generic_webhook": "WEBHOOK", "email": "EMAIL"}
_KNOWN = (
    "generic_webhook",
    "email",
    "slack",
    "microsoft_teams",
    "pagerduty",
    "databricks_app_slack",
    "databricks_app_teams",
)
_WEBHOOK_FIELDS = ("url", "username", "password")


class NotificationDestinations:
    """Destinations as ``notification-destination`` records (by id) in the workspace's store."""

    def __init__(self, store: RecordStore) -> None:
        self.store = store

    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        kind, config = _one_config(body.get("config"))
        if kind == "generic_webhook" and not config.get("url"):
            raise invalid("config.generic_webhook.url is required.")
        record = {
            "id": str(uuid.uuid4()),
            "display_name": str(body.get("display_name") or ""),
            "destination_type": _TYPES[kind],
            "kind": kind,
            "config": _kept(kind, {}, config),
        }
        self.store.put("notification-destination", record["id"], record)
        return _view(record)

    def get(self, destination_id: str) -> dict[str, Any]:
        return _view(self._record(destination_id))

    def list(self) -> list[dict[str, Any]]:
        return [
            {k: v for k, v in _view(r).items() if k != "config"}
            for _, r in self.store.scan("notification-destination")
        ]

    def update(self, destination_id: str, body: dict[str, Any]) -> dict[str, Any]:
        if body.get("config") is None and body.get("display_name") is None:
            raise invalid("At least one of config and display_name is required.")
        with self.store.lock:
            record = self._record(destination_id)
            if body.get("config") is not None:
                kind, config = _one_config(body["config"])
                if kind != record["kind"]:
                    raise invalid(
                        f"The type of a notification destination cannot be changed "
                        f"({record['destination_type']} → {_TYPES[kind]})."
                    )
                record["config"] = _kept(kind, record["config"], config)
            if body.get("display_name") is not None:
                record["display_name"] = str(body["display_name"])
            self.store.put("notification-destination", record["id"], record)
            return _view(record)

    def delete(self, destination_id: str) -> None:
        if not self.store.delete("notification-destination", destination_id):
            raise _missing(destination_id)

    def webhook(self, destination_id: str) -> dict[str, str] | None:
        """The webhook (url, username, password) a job notification posts to, or None."""
        record = self.store.get("notification-destination", destination_id)
        if record is None or record["kind"] != "generic_webhook":
            return None
        return dict(record["config"])

    def _record(self, destination_id: str) -> dict[str, Any]:
        record = self.store.get("notification-destination", destination_id)
        if record is None:
            raise _missing(destination_id)
        return record


def _missing(destination_id: str):
    return resource_does_not_exist(f"Notification destination {destination_id} does not exist.")


def _one_config(config: Any) -> tuple[str, dict[str, Any]]:
    if not isinstance(config, dict):
        raise invalid("config is required: it must wrap exactly one of the nested configs.")
    given = [k for k in _KNOWN if config.get(k) is not None]
    unknown = sorted(set(config) - set(_KNOWN))
    if unknown or len(given) != 1:
        raise invalid("config must wrap exactly one of " + ", ".join(_KNOWN) + ".")
    if given[0] not in _TYPES:
        raise invalid(f"The local workspace keeps generic_webhook and email destinations, not {given[0]}.")
    nested = config[given[0]]
    if not isinstance(nested, dict):
        raise invalid(f"config.{given[0]} must be an object.")
    return given[0], nested


def _kept(kind: str, old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """The stored config: a webhook's input-only fields replaced where given, kept where not."""
    if kind == "email":
        addresses = new.get("addresses", old.get("addresses", []))
        if not isinstance(addresses, list) or not all(isinstance(a, str) for a in addresses):
            raise invalid("config.email.addresses must be a list of e-mail addresses.")
        return {"addresses": addresses}
    kept = dict(old)
    for field in _WEBHOOK_FIELDS:
        if new.get(field) is not None:
            kept[field] = str(new[field])
    return kept


def _view(record: dict[str, Any]) -> dict[str, Any]:
    config = record["config"]
    if record["kind"] == "generic_webhook":
        shown = {f"{field}_set": bool(config.get(field)) for field in _WEBHOOK_FIELDS}
    else:
        shown = dict(config)
    answer = {
        "id": record["id"],
        "destination_type": record["destination_type"],
        "config": {record["kind"]: shown},
    }
    if record["display_name"]:
        answer["display_name"] = record["display_name"]
    return answer
