"""Delivery as Azure does it: the retry schedule, no retry for 400/401/403/413, attempts and time-to-live
limits, dead letters in Azurite (read back with azure-storage-blob), batching, timeouts. A time scale of
0.01 turns Azure's 10 s / 30 s / 1 min steps into 0.1 s / 0.3 s / 0.6 s."""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from azure.core.credentials import AzureKeyCredential
from azure.eventgrid import EventGridEvent, EventGridPublisherClient
from azure.storage.blob import BlobServiceClient

from emulators.eventgrid.models import RETRY_SCHEDULE
from emulators.eventgrid.testing import RunningGrid, Webhook
from emulators.stack import Stack, wait_until

KEY = base64.b64encode(b"delivery-tests-key-0123456789abcd").decode()
SCALE = 0.01


def sub(name: str, url: str, **properties) -> dict:
    return {
        "type": "Microsoft.EventGrid/topics/eventSubscriptions",
        "name": f"t/{name}",
        "properties": {
            "destination": {"endpointType": "WebHook", "properties": {"endpointUrl": url}},
            **properties,
        },
    }


def make_grid(tmp_path: Path, subs: list[dict], storage: str | None = None, **settings) -> RunningGrid:
    config = {
        "data_dir": str(tmp_path),
        "time_scale": SCALE,
        "resources": [{"type": "Microsoft.EventGrid/topics", "name": "t", "keys": [KEY]}, *subs],
        **settings,
    }
    if storage:
        config["storage_connection_string"] = storage
    return RunningGrid(config)


def publish(grid: RunningGrid, subject: str = "/s", **data) -> EventGridEvent:
    event = EventGridEvent(subject=subject, event_type="T", data=data, data_version="1")
    EventGridPublisherClient(grid.endpoint, AzureKeyCredential(KEY)).send(event)
    return event


@pytest.fixture()
def dead_letters(azurite: Stack) -> Iterator[tuple[BlobServiceClient, str]]:
    service = BlobServiceClient.from_connection_string(azurite.connection_string)
    container = f"deadletters-{uuid.uuid4().hex[:10]}"
    service.create_container(container)
    yield service, container
    service.delete_container(container)


def read_dead_letters(
    service: BlobServiceClient, container: str, timeout: float = 15
) -> list[tuple[str, list]]:
    """Wait for at least one dead-letter blob; return [(blob name, events)]."""
    client = service.get_container_client(container)
    found: list = []

    def ready() -> bool:
        found[:] = list(client.list_blobs())
        return bool(found)

    wait_until(ready, timeout, "a dead-letter blob")
    return [(b.name, json.loads(client.download_blob(b.name).readall())) for b in found]


def test_retry_schedule_then_dead_letter_after_max_attempts(
    tmp_path: Path, azurite: Stack, dead_letters: tuple[BlobServiceClient, str]
):
    service, container = dead_letters
    hook = Webhook(status=lambda r: 500)
    grid = make_grid(
        tmp_path,
        [
            sub(
                "Retry-Me",
                f"{hook.url}/r",
                retryPolicy={"maxDeliveryAttempts": 4, "eventTimeToLiveInMinutes": 1440},
                deadLetterDestination={
                    "endpointType": "StorageBlob",
                    "properties": {"resourceId": "/x", "blobContainerName": container},
                },
            )
        ],
        azurite.connection_string,
    )
    try:
        event = publish(grid, n=1)
        hook.wait_for(lambda: len(hook.notifications("/r")) == 4, what="four attempts")
        times = [r.at for r in hook.notifications("/r")]
        gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
        for gap, step in zip(gaps, RETRY_SCHEDULE, strict=False):
            assert step * SCALE * 0.95 <= gap <= step * SCALE * 1.2 + 0.15, (gaps, step)
        counts = [r.headers["aeg-delivery-count"] for r in hook.notifications("/r")]
        assert counts == ["0", "1", "2", "3"]
        ((name, letters),) = read_dead_letters(service, container)
        assert re.fullmatch(r"RETRY-ME/\d{4}/\d{1,2}/\d{1,2}/\d{1,2}/[0-9a-f-]{36}\.json", name), name
        (letter,) = letters
        assert letter["id"] == str(event.id) and letter["data"] == {"n": 1}
        assert letter["deadLetterReason"] == "MaxDeliveryAttemptsExceeded"
        assert letter["deliveryAttempts"] == 4
        assert letter["lastDeliveryOutcome"] == "GenericError" and letter["lastHttpStatusCode"] == 500
        published = dt.datetime.fromisoformat(letter["publishTime"])
        last = dt.datetime.fromisoformat(letter["lastDeliveryAttemptTime"])
        assert published < last and (last - published).total_seconds() >= sum(RETRY_SCHEDULE[:3]) * SCALE
        now = dt.datetime.now(dt.UTC)
        assert name.startswith(f"RETRY-ME/{now.year}/{now.month}/{now.day}/")
        grid.wait_idle()
        assert len(hook.notifications("/r")) == 4  # nothing after the dead letter
    finally:
        grid.stop()
        hook.close()


@pytest.mark.parametrize("status", [400, 401, 403, 413])
def test_client_errors_are_not_retried_and_dead_letter_at_once(
    tmp_path: Path, azurite: Stack, dead_letters: tuple[BlobServiceClient, str], status: int
):
    service, container = dead_letters
    hook = Webhook(status=lambda r: status)
    grid = make_grid(
        tmp_path,
        [sub("refused", f"{hook.url}/x", deadLetterDestination={"container": container})],
        azurite.connection_string,
        dead_letter_delay_seconds=0,
    )
    try:
        publish(grid)
        ((_, (letter,)),) = read_dead_letters(service, container)
        assert len(hook.notifications("/x")) == 1
        assert letter["deliveryAttempts"] == 1 and letter["lastHttpStatusCode"] == status
        expected = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 413: "PayloadTooLarge"}[status]
        assert letter["lastDeliveryOutcome"] == expected
        reason = "UndeliverableDueToHttpBadRequest" if status == 400 else "UndeliverableDueToClientError"
        assert letter["deadLetterReason"] == reason
    finally:
        grid.stop()
        hook.close()


def test_a_400_dead_letters_after_azures_five_minute_delay_scaled(
    tmp_path: Path, azurite: Stack, dead_letters: tuple[BlobServiceClient, str]
):
    service, container = dead_letters
    hook = Webhook(status=lambda r: 400)
    grid = make_grid(
        tmp_path,
        [sub("bad", f"{hook.url}/b", deadLetterDestination={"container": container})],
        azurite.connection_string,
    )
    try:
        publish(grid)
        hook.wait_for(lambda: hook.notifications("/b"), what="the attempt")
        first = hook.notifications("/b")[0].at
        ((name, _),) = read_dead_letters(service, container)
        written = service.get_blob_client(container, name).get_blob_properties().last_modified
        assert written.timestamp() >= int(first + 300 * SCALE) - 1  # Azurite times have 1 s resolution
        assert len(hook.notifications("/b")) == 1
    finally:
        grid.stop()
        hook.close()


def test_time_to_live_expiry_dead_letters(
    tmp_path: Path, azurite: Stack, dead_letters: tuple[BlobServiceClient, str]
):
    service, container = dead_letters
    hook = Webhook(status=lambda r: 503)
    grid = make_grid(
        tmp_path,
        [
            sub(
                "short-lived",
                f"{hook.url}/ttl",
                retryPolicy={"eventTimeToLiveInMinutes": 1},  # 0.6 s at this time scale
                deadLetterDestination={"container": container},
            )
        ],
        azurite.connection_string,
        dead_letter_delay_seconds=0,
    )
    try:
        publish(grid)
        ((_, (letter,)),) = read_dead_letters(service, container)
        assert letter["deadLetterReason"] == "TimeToLiveExceeded"
        assert letter["lastDeliveryOutcome"] == "Busy" and letter["lastHttpStatusCode"] == 503
        # 503 waits at least 30 s (0.3 s here): attempts at 0, ≥0.3 and maybe ≥0.6 s; TTL (0.6 s) is checked
        # only when an attempt falls due, as on Azure
        assert letter["deliveryAttempts"] == len(hook.notifications("/ttl")) in (2, 3)
    finally:
        grid.stop()
        hook.close()


def test_without_a_dead_letter_destination_undeliverable_events_are_dropped(tmp_path: Path):
    hook = Webhook(status=lambda r: 400)
    grid = make_grid(tmp_path, [sub("drop", f"{hook.url}/d")])
    try:
        publish(grid)
        hook.wait_for(lambda: hook.notifications("/d"), what="the attempt")
        grid.wait_idle()
        assert len(hook.notifications("/d")) == 1
    finally:
        grid.stop()
        hook.close()


def test_success_is_200_to_204_only(tmp_path: Path):
    answers = iter([205, 302, 204])
    hook = Webhook(status=lambda r: next(answers))
    grid = make_grid(tmp_path, [sub("picky", f"{hook.url}/p")])
    try:
        publish(grid)
        hook.wait_for(lambda: len(hook.notifications("/p")) == 3, timeout=10, what="three attempts")
        grid.wait_idle()
        assert len(hook.notifications("/p")) == 3
    finally:
        grid.stop()
        hook.close()


def test_no_answer_within_the_timeout_is_a_failure(tmp_path: Path):
    release = threading.Event()

    def slow(received) -> int:
        if len(hook.notifications("/slow")) == 1:
            release.wait(5)
        return 200

    hook = Webhook(status=slow)
    grid = make_grid(tmp_path, [sub("slow", f"{hook.url}/slow")], delivery_timeout_seconds=0.3)
    try:
        publish(grid)
        hook.wait_for(lambda: len(hook.notifications("/slow")) == 2, what="the retry after the timeout")
        release.set()
        grid.wait_idle()
    finally:
        release.set()
        grid.stop()
        hook.close()


def test_batching_delivers_up_to_max_events_per_batch(tmp_path: Path):
    hook = Webhook()
    grid = make_grid(
        tmp_path,
        [
            sub(
                "batched",
                f"{hook.url}/batch",
                destination={
                    "endpointType": "WebHook",
                    "properties": {"endpointUrl": f"{hook.url}/batch", "maxEventsPerBatch": 10},
                },
            )
        ],
    )
    try:
        grid.standin.deliverer.stop()  # hold delivery so that all 25 wait together
        EventGridPublisherClient(grid.endpoint, AzureKeyCredential(KEY)).send(
            [EventGridEvent(subject=f"/b/{i}", event_type="T", data={}, data_version="1") for i in range(25)]
        )
        from emulators.eventgrid.delivery import Deliverer

        grid.standin.deliverer = Deliverer(grid.grid, None, 4)
        grid.standin.deliverer.start()
        hook.wait_for(lambda: len(hook.events("/batch")) == 25, what="25 events")
        sizes = sorted(len(r.body) for r in hook.notifications("/batch"))
        assert sizes == [5, 10, 10]
    finally:
        grid.stop()
        hook.close()


def test_retry_delays_follow_azure_rules():
    from emulators.eventgrid.config import GridConfig
    from emulators.eventgrid.models import EventGrid
    from emulators.eventgrid.store import GridStore

    grid = EventGrid(GridConfig(data_dir=Path("/nonexistent"), time_scale=1.0), GridStore(":memory:"))
    for attempts, step in enumerate([10, 30, 60, 300, 600, 1800, 3600, 10800, 21600, 43200, 43200], start=1):
        delay = grid.retry_delay(attempts, 500)
        assert step <= delay <= step * 1.2
    assert grid.retry_delay(1, 503) >= 30 and grid.retry_delay(1, 408) >= 120
    grid.store.close()
