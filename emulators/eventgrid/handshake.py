"""The webhook validation handshake a new (or re-pointed) subscription must pass before it is created.

- Event Grid schema delivery: POST a ``Microsoft.EventGrid.SubscriptionValidationEvent`` (header
  ``aeg-event-type: SubscriptionValidation``, data ``validationCode`` and ``validationUrl``). A 200 answer
  ``{"validationResponse": <code>}`` validates it; a 200 without one puts the subscription in
  ``AwaitingManualAction`` until someone GETs the validation URL (within 5 minutes × time scale); anything
  else — another status (202 included, as on Azure), a wrong code, no answer in 30 s — fails.
- CloudEvents delivery: the CloudEvents webhook abuse-protection exchange, an OPTIONS request with
  ``WebHook-Request-Origin: eventgrid.azure.net`` answered 200 with ``WebHook-Allowed-Origin`` naming that
  origin or ``*``.
"""

from __future__ import annotations

import json
import uuid

import requests

from emulators.eventgrid.errors import HandshakeFailed
from emulators.eventgrid.resources import Subscription, Topic
from emulators.eventgrid.schemas import CLOUDEVENTS_SCHEMA, utc_now_iso

ORIGIN = "eventgrid.azure.net"


class Handshake:
    def __init__(self, timeout: float = 30.0) -> None:
        self.timeout = timeout

    def run(self, subscription: Subscription, topic: Topic, validation_url: str, code: str) -> bool:
        """True when the endpoint chose manual validation; raises HandshakeFailed when it failed."""
        if subscription.delivery_schema == CLOUDEVENTS_SCHEMA:
            self._options(subscription)
            return False
        return self._validation_event(subscription, topic, validation_url, code)

    def _failed(self, subscription: Subscription, method: str, why: str) -> HandshakeFailed:
        return HandshakeFailed(
            f"Webhook validation handshake failed for {subscription.endpoint_base_url}. "
            f"Http {method} request failed with {why}. For troubleshooting, visit https://aka.ms/esvalidation."
        )

    def _validation_event(
        self, subscription: Subscription, topic: Topic, validation_url: str, code: str
    ) -> bool:
        event = {
            "id": str(uuid.uuid4()),
            "topic": topic.event_source,
            "subject": "",
            "data": {"validationCode": code, "validationUrl": validation_url},
            "eventType": "Microsoft.EventGrid.SubscriptionValidationEvent",
            "eventTime": utc_now_iso(),
            "metadataVersion": "1",
            "dataVersion": "1",
        }
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "aeg-event-type": "SubscriptionValidation",
            "aeg-subscription-name": subscription.name.upper(),
            "aeg-delivery-count": "0",
            "aeg-data-version": "1",
            "aeg-metadata-version": "1",
        }
        try:
            answer = requests.post(
                subscription.endpoint_url, data=json.dumps([event]), headers=headers, timeout=self.timeout
            )
        except requests.RequestException as exc:
            raise self._failed(
                subscription, "POST", f"response code Unknown ({exc.__class__.__name__})"
            ) from exc
        if answer.status_code != 200:
            raise self._failed(subscription, "POST", f"response code {answer.status_code}")
        try:
            body = answer.json()
        except ValueError:
            body = None
        echoed = None
        if isinstance(body, dict):
            echoed = next((v for k, v in body.items() if k.lower() == "validationresponse"), None)
        if echoed is None:
            return True  # 200 without a code: the endpoint will GET the validation URL
        if echoed != code:
            raise self._failed(subscription, "POST", "a validationResponse that is not the validation code")
        return False

    def _options(self, subscription: Subscription) -> None:
        try:
            answer = requests.options(
                subscription.endpoint_url,
                headers={"WebHook-Request-Origin": ORIGIN, "WebHook-Request-Rate": "120"},
                timeout=self.timeout,
            )
        except requests.RequestException as exc:
            raise self._failed(
                subscription, "OPTIONS", f"response code Unknown ({exc.__class__.__name__})"
            ) from exc
        allowed = [o.strip() for o in answer.headers.get("WebHook-Allowed-Origin", "").split(",")]
        if answer.status_code != 200:
            raise self._failed(subscription, "OPTIONS", f"response code {answer.status_code}")
        if ORIGIN not in allowed and "*" not in allowed:
            raise self._failed(subscription, "OPTIONS", f"no WebHook-Allowed-Origin for {ORIGIN}")
