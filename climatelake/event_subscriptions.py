"""Subscribe downstream consumers to climatelake's events: Event Grid subscriptions through ARM.

The same ARM request creates a webhook subscription on Azure (``https://management.azure.com`` with a bearer
token, e.g. from ``az account get-access-token``) and on the local Event Grid stand-in (its base URL; no
token). Azure validates the endpoint with its handshake before the subscription exists, so the endpoint must
answer it (azure-functions and most webhook frameworks do).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import requests

API_VERSION = "2022-06-15"


class SubscriptionError(RuntimeError):
    """ARM refused: the message carries its error code and message."""


@dataclass(frozen=True)
class TopicRef:
    management_url: str
    subscription_id: str
    resource_group: str
    topic: str
    token: str = ""

    def url(self, name: str = "") -> str:
        base = (
            f"{self.management_url.rstrip('/')}/subscriptions/{self.subscription_id}/resourceGroups/"
            f"{self.resource_group}/providers/Microsoft.EventGrid/topics/{self.topic}"
            "/providers/Microsoft.EventGrid/eventSubscriptions"
        )
        return f"{base}/{name}" if name else base

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}


def _check(answer: requests.Response) -> dict[str, Any]:
    if answer.status_code >= 400:
        try:
            error = answer.json().get("error", {})
            detail = f"{error.get('code', answer.status_code)}: {error.get('message', answer.text)}"
        except ValueError:
            detail = f"{answer.status_code}: {answer.text[:300]}"
        raise SubscriptionError(detail)
    return answer.json() if answer.content else {}


def subscribe(
    topic: TopicRef,
    name: str,
    endpoint: str,
    event_types: list[str] | None = None,
    subject_begins_with: str = "",
) -> dict[str, Any]:
    body = {
        "properties": {
            "destination": {"endpointType": "WebHook", "properties": {"endpointUrl": endpoint}},
            "filter": {"includedEventTypes": event_types or None, "subjectBeginsWith": subject_begins_with},
            "eventDeliverySchema": "EventGridSchema",
        }
    }
    return _check(
        requests.put(
            topic.url(name),
            params={"api-version": API_VERSION},
            json=body,
            headers=topic.headers(),
            timeout=120,
        )
    )


def unsubscribe(topic: TopicRef, name: str) -> None:
    _check(
        requests.delete(
            topic.url(name), params={"api-version": API_VERSION}, headers=topic.headers(), timeout=60
        )
    )


def list_subscriptions(topic: TopicRef) -> list[dict[str, Any]]:
    return _check(
        requests.get(topic.url(), params={"api-version": API_VERSION}, headers=topic.headers(), timeout=60)
    ).get("value", [])
