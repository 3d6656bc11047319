"""Event Grid state: topics, subscriptions, the durable delivery queue. No HTTP here."""

from __future__ import annotations

import datetime as dt
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from emulators.common.records import RecordStore

#: Azure's retry schedule for webhook delivery, in seconds (then every hour).
RETRY_SCHEDULE = (10, 30, 60, 300, 600, 1800, 3600)
NO_RETRY_STATUSES = (400, 401, 403, 413)


def utc_now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class Subscription:
    name: str
    topic: str
    endpoint: str
    included_event_types: tuple[str, ...] = ()
    subject_begins_with: str = ""
    subject_ends_with: str = ""
    max_delivery_attempts: int = 30

    @classmethod
    def from_config(cls, raw: dict[str, Any]) -> Subscription:
        filt = raw.get("filter") or {}
        return cls(
            name=raw["name"],
            topic=raw["topic"],
            endpoint=raw["endpoint"],
            included_event_types=tuple(filt.get("includedEventTypes") or ()),
            subject_begins_with=filt.get("subjectBeginsWith", ""),
            subject_ends_with=filt.get("subjectEndsWith", ""),
            max_delivery_attempts=int((raw.get("retryPolicy") or {}).get("maxDeliveryAttempts", 30)),
        )

    def matches(self, event: dict[str, Any]) -> bool:
        if self.included_event_types and event.get("eventType") not in self.included_event_types:
            return False
        subject = event.get("subject", "")
        return subject.startswith(self.subject_begins_with) and subject.endswith(self.subject_ends_with)


@dataclass
class EventGrid:
    store: RecordStore
    subscriptions: list[Subscription]
    time_scale: float = 1.0
    wakeup: threading.Condition = field(default_factory=threading.Condition)

    def publish(self, topic: str, events: list[dict[str, Any]]) -> int:
        """Store one delivery per matching subscription and event; returns how many were queued."""
        queued = 0
        now = time.time()
        with self.store.lock:
            for event in events:
                for subscription in self.subscriptions:
                    if subscription.topic == topic and subscription.matches(event):
                        key = f"{subscription.name}/{uuid.uuid4()}"
                        self.store.put(
                            "delivery",
                            key,
                            {
                                "subscription": subscription.name,
                                "event": event,
                                "attempts": 0,
                                "due": now,
                                "first_published": now,
                            },
                        )
                        queued += 1
        with self.wakeup:
            self.wakeup.notify_all()
        return queued

    def due_deliveries(self) -> list[tuple[str, dict[str, Any]]]:
        now = time.time()
        return [(key, body) for key, body in self.store.scan("delivery") if body["due"] <= now]

    def next_due(self) -> float | None:
        dues = [body["due"] for _, body in self.store.scan("delivery")]
        return min(dues) if dues else None

    def delivered(self, key: str) -> None:
        self.store.delete("delivery", key)

    def failed(self, key: str, body: dict[str, Any], status: int | None, outcome: str) -> None:
        subscription = self.subscription(body["subscription"])
        body["attempts"] += 1
        body["last_outcome"] = outcome
        if (
            status in NO_RETRY_STATUSES
            or subscription is None
            or body["attempts"] >= subscription.max_delivery_attempts
        ):
            self.store.delete("delivery", key)
            self.store.put("deadletter", key, {**body, "deadLetterReason": outcome, "at": utc_now_iso()})
            return
        delay = RETRY_SCHEDULE[min(body["attempts"] - 1, len(RETRY_SCHEDULE) - 1)] * self.time_scale
        body["due"] = time.time() + delay
        self.store.put("delivery", key, body)

    def subscription(self, name: str) -> Subscription | None:
        return next((s for s in self.subscriptions if s.name == name), None)
