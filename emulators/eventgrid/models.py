"""Event Grid state and behaviour: topics, subscriptions, publishing, the delivery state machine; no HTTP.

A delivery (one event for one subscription) is PENDING until due, IN_FLIGHT while a worker posts it, then
deleted on success; a failure makes it PENDING again at the next step of Azure's retry schedule, or —
no retry for 400/401/403/413, attempts used up, or its time to live passed (checked, as Azure does, only
when an attempt is due) — DEAD_PENDING for five minutes and then written to the dead-letter container
(or dropped when the subscription has none). All waits are multiplied by ``time_scale``.
"""

from __future__ import annotations

import json
import logging
import random
import secrets
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from emulators.eventgrid.config import GridConfig
from emulators.eventgrid.errors import HandshakeFailed, InvalidSubscription, ResourceNotFound
from emulators.eventgrid.resources import (
    AWAITING_MANUAL_ACTION,
    CUSTOM,
    FAILED,
    SUCCEEDED,
    Subscription,
    Topic,
    subscription_key,
)
from emulators.eventgrid.schemas import CLOUDEVENTS_SCHEMA, convert, iso_from_epoch, utc_now_iso
from emulators.eventgrid.store import DEAD_PENDING, PENDING, Delivery, GridStore

log = logging.getLogger("eventgrid")

#: Azure's retry schedule in seconds: 10 s, 30 s, 1 min, 5 min, 10 min, 30 min, 1 h, 3 h, 6 h, then 12 h.
RETRY_SCHEDULE = (10, 30, 60, 300, 600, 1800, 3600, 10800, 21600, 43200)
#: Answers a webhook never gets again (Azure: "no retry" for webhooks).
NO_RETRY_STATUSES = frozenset({400, 401, 403, 413})
#: Azure waits at least this long after these answers.
MIN_DELAY_BY_STATUS = {408: 120, 503: 30}
JITTER = 0.2  # "a small randomization": each wait is stretched by up to 20 %
DEAD_LETTER_GIVE_UP_SECONDS = 4 * 3600  # Azure drops a dead letter its container refused for 4 hours
OUTCOMES = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    408: "TimedOut",
    413: "PayloadTooLarge",
    429: "Busy",
    503: "Busy",
}


def outcome_of(status: int) -> str:
    """Azure's ``lastDeliveryOutcome`` for an HTTP answer."""
    return OUTCOMES.get(status, "GenericError")


def dead_letter_reason(status: int | None) -> str:
    """Why a no-retry answer dead-letters (400 as observed on Azure; the others are this stand-in's name)."""
    return "UndeliverableDueToHttpBadRequest" if status == 400 else "UndeliverableDueToClientError"


class Handshaker(Protocol):
    def run(self, subscription: Subscription, topic: Topic, validation_url: str, code: str) -> bool:
        """True when the endpoint asked for manual validation; raises HandshakeFailed when it failed."""


@dataclass
class Attempt:
    """What one HTTP delivery attempt came to."""

    status: int | None
    outcome: str
    at: float

    @property
    def succeeded(self) -> bool:
        return self.status is not None and 200 <= self.status <= 204


class EventGrid:
    def __init__(
        self,
        config: GridConfig,
        store: GridStore,
        handshaker: Handshaker | None = None,
        can_dead_letter: bool = False,
    ) -> None:
        self.config = config
        self.store = store
        self.handshaker = handshaker
        self.can_dead_letter = can_dead_letter
        self.time_scale = config.time_scale
        self.wakeup = threading.Condition()
        self._subs: dict[str, Subscription] = {}
        self._lock = threading.RLock()
        self._put_locks: dict[str, threading.Lock] = {}
        self.store.release_in_flight()
        self._load_subscriptions()

    # topics and subscriptions ----------------------------------------------------------------------
    def topic(self, name: str) -> Topic:
        topic = self.config.topic(name)
        if topic is None:
            raise ResourceNotFound(f"The topic '{name}' was not found.")
        return topic

    def custom_topics(self) -> list[Topic]:
        return [t for t in self.config.topics.values() if t.kind == CUSTOM]

    def _load_subscriptions(self) -> None:
        """Run-time subscriptions from SQLite, then the config file's, which win and are re-applied; a
        config-declared subscription no longer in the file is removed (like a complete-mode deployment)."""
        declared = set()
        for record in self.store.subscriptions():
            topic = self.config.topic(record["topic"])
            if topic is None:
                continue
            try:
                sub = Subscription.from_record(topic, record)
            except InvalidSubscription as error:  # the topic changed under it (e.g. its input schema)
                log.warning("ignoring stored event subscription %s: %s", record["name"], error.message)
                continue
            self._subs[sub.key] = sub
        for topic_name, name, body in self.config.subscriptions:
            topic = self.topic(topic_name)
            try:
                sub = Subscription.from_arm(topic, name, body, managed_by="config")
            except InvalidSubscription as error:
                raise ValueError(f"event subscription '{name}': {error.message}") from None
            if sub.dead_letter_container and not self.can_dead_letter:
                raise ValueError(
                    f"event subscription {name!r}: dead-lettering needs a storage connection string"
                )
            declared.add(sub.key)
            self._save(sub)
        for key, sub in list(self._subs.items()):
            if sub.managed_by == "config" and key not in declared:
                self._forget(key)

    def _save(self, sub: Subscription) -> None:
        self.store.put_subscription(sub.key, sub.to_record())
        with self._lock:
            self._subs[sub.key] = sub

    def _forget(self, key: str) -> None:
        self.store.delete_subscription(key)
        self.store.drop_subscription(key)
        with self._lock:
            self._subs.pop(key, None)

    def subscriptions(self, topic: str | None = None) -> list[Subscription]:
        with self._lock:
            subs = list(self._subs.values())
        return [s for s in subs if topic is None or s.topic.lower() == topic.lower()]

    def subscription(self, key: str) -> Subscription | None:
        with self._lock:
            return self._subs.get(key)

    def get_subscription(self, topic_name: str, name: str) -> Subscription:
        topic = self.topic(topic_name)
        sub = self.subscription(subscription_key(topic.name, name))
        if sub is None:
            raise ResourceNotFound(f"The event subscription '{name}' of topic '{topic.name}' was not found.")
        return sub

    def put_subscription(
        self, topic_name: str, name: str, body: Any, validation_base_url: str
    ) -> tuple[Subscription, bool]:
        """Create or update; a new or re-pointed webhook must pass the validation handshake first.
        Returns the subscription and whether it was created."""
        topic = self.topic(topic_name)
        key = subscription_key(topic.name, name)
        with self._lock:
            put_lock = self._put_locks.setdefault(key, threading.Lock())
        with put_lock:
            previous = self.subscription(key)
            sub = Subscription.from_arm(topic, name, body, previous)
            if sub.dead_letter_container and not self.can_dead_letter:
                raise InvalidSubscription(
                    "deadLetterDestination needs a storage account, and the stand-in has no "
                    "storage_connection_string."
                )
            unchanged = (
                previous is not None
                and previous.active
                and previous.endpoint_url == sub.endpoint_url
                and previous.delivery_schema == sub.delivery_schema
            )
            if not unchanged and self.handshaker is not None:
                code = str(uuid.uuid4())
                token = secrets.token_urlsafe(16)
                validation_url = (
                    f"{validation_base_url.rstrip('/')}/eventsubscriptions/{name}/validate?id={code}"
                    f"&t={utc_now_iso()}&apiVersion=2022-06-15&token={token}"
                )
                if self.handshaker.run(sub, topic, validation_url, code):
                    deadline = time.time() + self.config.manual_validation_seconds * self.time_scale
                    sub = sub.replace(
                        provisioning_state=AWAITING_MANUAL_ACTION,
                        validation={"code": code, "token": token, "deadline": deadline},
                    )
            self._save(sub)
        return sub, previous is None

    def delete_subscription(self, topic_name: str, name: str) -> bool:
        """Pending deliveries of a deleted subscription are dropped, as on Azure."""
        topic = self.topic(topic_name)
        key = subscription_key(topic.name, name)
        existed = self.subscription(key) is not None
        if existed:
            self._forget(key)
        return existed

    def complete_manual_validation(self, code: str, token: str) -> Subscription:
        for sub in self.subscriptions():
            pending = sub.validation or {}
            if (
                sub.provisioning_state == AWAITING_MANUAL_ACTION
                and secrets.compare_digest(pending.get("code", ""), code)
                and secrets.compare_digest(pending.get("token", ""), token)
            ):
                done = sub.replace(provisioning_state=SUCCEEDED, validation=None)
                self._save(done)
                return done
        raise HandshakeFailed("This validation URL is unknown or has expired.", code="ValidationFailed")

    def expire_manual_validations(self, now: float) -> None:
        """Azure: not validated within 5 minutes → provisioning state Failed (it never delivers)."""
        for sub in self.subscriptions():
            if (
                sub.provisioning_state == AWAITING_MANUAL_ACTION
                and (sub.validation or {}).get("deadline", 0) <= now
            ):
                self._save(sub.replace(provisioning_state=FAILED, validation=None))

    # publishing -----------------------------------------------------------------------------------
    def publish(
        self,
        topic_name: str,
        events: list[dict[str, Any]],
        published: float | None = None,
        *,
        notify: bool = True,
    ) -> int:
        """Queue one delivery per event and matching active subscription, committed before returning (the
        caller answers 200 only after this). Events no subscription wants are dropped, as on Azure.

        ``notify=False``: a caller publishing inside its own store transaction wakes the scheduler itself
        once it has committed. Waking it here would take ``wakeup`` while holding the store's lock, and the
        scheduler takes them the other way round (``wakeup``, then the store for ``next_due``): a deadlock."""
        topic = self.topic(topic_name)
        subs = [s for s in self.subscriptions(topic.name) if s.active]
        now = published if published is not None else time.time()
        rows = []
        for event in events:
            bodies: dict[str, str] = {}
            for sub in subs:
                if not sub.filter.matches(event):
                    continue
                body = bodies.get(sub.delivery_schema)
                if body is None:
                    body = json.dumps(convert(event, topic.input_schema, sub.delivery_schema))
                    bodies[sub.delivery_schema] = body
                expires = now + sub.ttl_minutes * 60 * self.time_scale
                rows.append((sub.key, str(event.get("id", "")), body, now, expires))
        if rows:
            self.store.add_deliveries(rows)
            if notify:
                self.notify()
        return len(rows)

    def notify(self) -> None:
        with self.wakeup:
            self.wakeup.notify_all()

    # the delivery state machine --------------------------------------------------------------------
    def claim_due(self, now: float, limit: int) -> list[tuple[Subscription, list[Delivery]]]:
        """Due deliveries grouped into requests (by subscription, up to its batch size and preferred KB).
        Deliveries of a deleted subscription are dropped; expired ones are dead-lettered unattempted."""
        claimed = self.store.claim(PENDING, now, limit)
        by_sub: dict[str, list[Delivery]] = {}
        dropped, expired = [], []
        for delivery in claimed:
            if self.subscription(delivery.subscription) is None:
                dropped.append(delivery.id)
            elif delivery.expires <= now:
                expired.append(delivery)
            else:
                by_sub.setdefault(delivery.subscription, []).append(delivery)
        if dropped:
            self.store.delete(dropped)
        if expired:
            self._dead_letter(expired, "TimeToLiveExceeded", now)
        requests: list[tuple[Subscription, list[Delivery]]] = []
        for key, deliveries in by_sub.items():
            sub = self.subscription(key)
            if sub is None:
                continue
            budget = sub.preferred_batch_kb * 1024
            batch: list[Delivery] = []
            size = 0
            for delivery in deliveries:
                if batch and (len(batch) >= sub.max_events_per_batch or size + delivery.size > budget):
                    requests.append((sub, batch))
                    batch, size = [], 0
                batch.append(delivery)
                size += delivery.size
            requests.append((sub, batch))
        return requests

    def settle(self, results: Iterable[tuple[list[Delivery], Attempt]]) -> None:
        """Apply attempt outcomes in one transaction: delete what was delivered, reschedule or dead-letter
        the rest."""
        with self.store.transaction():
            for deliveries, attempt in results:
                if attempt.succeeded:
                    self.store.delete(d.id for d in deliveries)
                else:
                    self._failed(deliveries, attempt)

    def _failed(self, deliveries: list[Delivery], attempt: Attempt) -> None:
        retry, dead = [], []
        for delivery in deliveries:
            delivery.attempts += 1
            delivery.last_status = attempt.status
            delivery.last_outcome = attempt.outcome
            delivery.last_attempt = attempt.at
            sub = self.subscription(delivery.subscription)
            if sub is None:
                continue
            if attempt.status in NO_RETRY_STATUSES:
                dead.append((delivery, dead_letter_reason(attempt.status)))
            elif delivery.attempts >= sub.max_delivery_attempts:
                dead.append((delivery, "MaxDeliveryAttemptsExceeded"))
            else:
                delivery.due = attempt.at + self.retry_delay(delivery.attempts, attempt.status)
                delivery.state = PENDING
                retry.append(delivery)
        self.store.update(retry)
        for delivery, reason in dead:
            self._dead_letter([delivery], reason, attempt.at)

    def retry_delay(self, attempts: int, status: int | None) -> float:
        """Seconds before attempt ``attempts + 1``: the schedule's step, at least the status's minimum,
        stretched by jitter, times ``time_scale``."""
        step = RETRY_SCHEDULE[min(attempts, len(RETRY_SCHEDULE)) - 1]
        step = max(step, MIN_DELAY_BY_STATUS.get(status or 0, 0))
        return step * (1 + random.uniform(0, JITTER)) * self.time_scale

    def _dead_letter(self, deliveries: list[Delivery], reason: str, now: float) -> None:
        keep, drop = [], []
        for delivery in deliveries:
            sub = self.subscription(delivery.subscription)
            if sub is None or not sub.dead_letter_container or not self.can_dead_letter:
                log.warning(
                    "dropping event %s for %s: %s (no dead-letter destination)",
                    delivery.event_id,
                    delivery.subscription,
                    reason,
                )
                drop.append(delivery.id)
                continue
            delivery.state = DEAD_PENDING
            delivery.dead_reason = reason
            delivery.due = now + self.config.dead_letter_delay_seconds * self.time_scale
            delivery.expires = now + DEAD_LETTER_GIVE_UP_SECONDS * self.time_scale
            keep.append(delivery)
        with self.store.transaction():
            self.store.delete(drop)
            self.store.update(keep)

    def claim_dead_letters(self, now: float, limit: int) -> list[tuple[Subscription, list[Delivery]]]:
        """Due dead letters grouped by subscription: each group becomes one blob (a JSON array)."""
        groups: dict[str, list[Delivery]] = {}
        for delivery in self.store.claim(DEAD_PENDING, now, limit):
            groups.setdefault(delivery.subscription, []).append(delivery)
        found = []
        for key, deliveries in groups.items():
            sub = self.subscription(key)
            if sub is None or not sub.dead_letter_container:
                self.store.delete(d.id for d in deliveries)
            else:
                found.append((sub, deliveries))
        return found

    def dead_letter_documents(self, sub: Subscription, deliveries: list[Delivery]) -> list[dict[str, Any]]:
        """The events as Azure writes them to the dead-letter blob (CloudEvents: lower-case names)."""
        documents = []
        for delivery in deliveries:
            event = json.loads(delivery.body)
            extra: dict[str, Any] = {
                "deadLetterReason": delivery.dead_reason,
                "deliveryAttempts": delivery.attempts,
                "lastDeliveryOutcome": delivery.last_outcome or "Aborted",
                "lastHttpStatusCode": delivery.last_status,
                "publishTime": iso_from_epoch(delivery.published),
                "lastDeliveryAttemptTime": iso_from_epoch(delivery.last_attempt or delivery.published),
            }
            if extra["lastHttpStatusCode"] is None:
                del extra["lastHttpStatusCode"]
            if sub.delivery_schema == CLOUDEVENTS_SCHEMA:
                extra = {name.lower(): value for name, value in extra.items()}
            documents.append({**event, **extra})
        return documents

    def dead_lettered(self, deliveries: list[Delivery]) -> None:
        self.store.delete(d.id for d in deliveries)

    def dead_letter_failed(self, deliveries: list[Delivery], now: float) -> None:
        """The container refused the blob: try again in a minute, for up to four hours, then drop."""
        retry, drop = [], []
        for delivery in deliveries:
            if delivery.expires <= now:
                drop.append(delivery.id)
            else:
                delivery.state = DEAD_PENDING
                delivery.due = now + 60 * self.time_scale
                retry.append(delivery)
        with self.store.transaction():
            self.store.delete(drop)
            self.store.update(retry)

    def next_due(self) -> float | None:
        """When the next delivery, dead letter or manual-validation deadline falls due."""
        due = self.store.next_due()
        deadlines = [
            (s.validation or {}).get("deadline", 0)
            for s in self.subscriptions()
            if s.provisioning_state == AWAITING_MANUAL_ACTION
        ]
        return min([d for d in [due, *deadlines] if d is not None], default=None)

    def counts(self) -> dict[str, int]:
        return self.store.counts()
