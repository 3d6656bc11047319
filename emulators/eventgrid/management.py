"""A small ARM (management plane) surface for topics and event subscriptions, on Azure's paths:

- ``…/providers/Microsoft.EventGrid/topics/<topic>/providers/Microsoft.EventGrid/eventSubscriptions[/<name>]``
- ``…/providers/Microsoft.EventGrid/systemTopics/<topic>/eventSubscriptions[/<name>]``
  (``…`` is ``/subscriptions/<subscription id>/resourceGroups/<resource group>``): GET (one, or the list as
  ``{"value": [...]}``), PUT (201 created / 200 updated, after the validation handshake), PATCH, DELETE
  (200, or 204 when there was none), POST ``…/<name>/getFullUrl``;
- GET ``…/topics``, ``…/topics/<topic>``, POST ``…/topics/<topic>/listKeys`` (likewise ``systemTopics``).

Paths are matched case-insensitively, as ARM does; ``api-version`` is required. Subscriptions made here are
kept in SQLite, so a restart keeps them. No ARM authentication (a local tool): any caller may manage.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, jsonify, request

from emulators.eventgrid.errors import BadRequest, EventGridError, ResourceNotFound, UnsupportedApiVersion
from emulators.eventgrid.models import EventGrid
from emulators.eventgrid.resources import CUSTOM, SYSTEM, Subscription, Topic

API_VERSIONS = (
    "2020-06-01",
    "2021-12-01",
    "2022-06-15",
    "2023-12-15-preview",
    "2024-06-01-preview",
    "2025-02-15",
)


def _check_api_version() -> None:
    version = request.args.get("api-version")
    if version is None:
        raise EventGridError(
            "The api-version query parameter (?api-version=) is required for all requests.",
            code="MissingApiVersionParameter",
        )
    if version not in API_VERSIONS:
        raise UnsupportedApiVersion(
            f"No registered resource provider found for API version '{version}' and type "
            "'Microsoft.EventGrid'. "
            f"The supported api-versions are '{', '.join(API_VERSIONS)}'."
        )


class _Route:
    """A parsed management path: which topic kind and name, which subscription, which action."""

    def __init__(self, grid: EventGrid, path: str) -> None:
        parts = [p for p in path.split("/") if p]
        lower = [p.lower() for p in parts]
        if len(parts) < 6 or lower[0] != "subscriptions" or lower[2] != "resourcegroups":
            raise ResourceNotFound(f"No management route for '/{path}'.")
        if lower[4:6] != ["providers", "microsoft.eventgrid"] or len(parts) < 7:
            raise ResourceNotFound(f"No management route for '/{path}'.")
        if parts[1].lower() != grid.config.subscription_id.lower():
            raise ResourceNotFound(
                f"The subscription '{parts[1]}' could not be found.", code="SubscriptionNotFound"
            )
        if parts[3].lower() != grid.config.resource_group.lower():
            raise ResourceNotFound(
                f"Resource group '{parts[3]}' could not be found.", code="ResourceGroupNotFound"
            )
        kinds = {"topics": CUSTOM, "systemtopics": SYSTEM}
        if lower[6] not in kinds:
            raise ResourceNotFound(f"No management route for '/{path}'.")
        self.kind = kinds[lower[6]]
        rest = parts[7:]
        self.topic_name = rest[0] if rest else None
        rest = rest[1:]
        if self.kind == CUSTOM and [r.lower() for r in rest[:2]] == ["providers", "microsoft.eventgrid"]:
            rest = rest[2:]
        self.collection = bool(rest) and rest[0].lower() == "eventsubscriptions"
        self.action = None
        self.name = None
        if self.collection:
            self.name = rest[1] if len(rest) > 1 else None
            self.action = rest[2].lower() if len(rest) > 2 else None
            extra = rest[3:]
        else:
            self.action = rest[0].lower() if rest else None
            extra = rest[1:]
        if extra:
            raise ResourceNotFound(f"No management route for '/{path}'.")
        self.grid = grid

    def topic(self) -> Topic:
        topic = self.grid.config.topic(self.topic_name or "")
        if topic is None or topic.kind != self.kind:
            raise ResourceNotFound(
                f"The Resource 'Microsoft.EventGrid/{self.kind}/{self.topic_name}' under resource group "
                f"'{self.grid.config.resource_group}' was not found."
            )
        return topic


def register_management(app: Flask, grid: EventGrid) -> None:
    account_id = grid.config.storage_account_id

    def show(sub: Subscription, topic: Topic) -> dict[str, Any]:
        return sub.to_arm(topic, account_id)

    def topic_endpoint(topic: Topic) -> str:
        return f"{request.host_url.rstrip('/')}/topics/{topic.name}/api/events"

    @app.route("/subscriptions/<path:path>", methods=["GET", "PUT", "PATCH", "DELETE", "POST"])
    def management(path: str):
        route = _Route(grid, f"subscriptions/{path}")
        _check_api_version()
        if route.topic_name is None:
            if request.method != "GET":
                raise BadRequest(f"{request.method} is not supported on a topic collection.")
            topics = [t for t in grid.config.topics.values() if t.kind == route.kind]
            return jsonify({"value": [t.to_arm(topic_endpoint(t)) for t in topics]})
        topic = route.topic()
        if not route.collection:
            return _topic_call(route, topic)
        if route.name is None:
            if request.method != "GET":
                raise BadRequest(f"{request.method} is not supported on the event subscription collection.")
            subs = grid.subscriptions(topic.name)
            return jsonify({"value": [show(s, topic) for s in sorted(subs, key=lambda s: s.name.lower())]})
        if route.action == "getfullurl" and request.method == "POST":
            return jsonify({"endpointUrl": grid.get_subscription(topic.name, route.name).endpoint_url})
        if route.action is not None:
            raise ResourceNotFound(f"No action '{route.action}' on event subscriptions.")
        if request.method == "GET":
            return jsonify(show(grid.get_subscription(topic.name, route.name), topic))
        if request.method in ("PUT", "PATCH"):
            body = request.get_json(silent=True)
            if body is None:
                raise BadRequest("The request body must be JSON.", code="InvalidRequestContent")
            if request.method == "PATCH":
                body = _merged(grid.get_subscription(topic.name, route.name), body)
            sub, created = grid.put_subscription(topic.name, route.name, body, request.host_url)
            return jsonify(show(sub, topic)), 201 if created else 200
        if request.method == "DELETE":
            return Response(status=200 if grid.delete_subscription(topic.name, route.name) else 204)
        raise BadRequest(f"{request.method} is not supported on an event subscription.")

    def _topic_call(route: _Route, topic: Topic):
        if route.action is None and request.method == "GET":
            return jsonify(topic.to_arm(topic_endpoint(topic)))
        if route.action == "listkeys" and request.method == "POST" and topic.kind == CUSTOM:
            keys = list(topic.keys) + [""] * (2 - len(topic.keys))
            return jsonify({"key1": keys[0], "key2": keys[1]})
        raise BadRequest(
            f"{request.method} {route.action or ''} is not supported on {topic.kind} by the stand-in."
        )


def _merged(current: Subscription, body: Any) -> dict[str, Any]:
    """PATCH: the given properties over the current ones (ARM's update semantics, one level deep)."""
    if not isinstance(body, dict):
        raise BadRequest("The request body must be an object.")
    properties = dict(current.to_record()["properties"])
    patch = body.get("properties", body)
    if isinstance(patch, dict):
        properties.update({k: v for k, v in patch.items() if v is not None})
    return {"properties": properties}
