"""The Event Grid stand-in against azure-eventgrid and azure-storage-blob, unchanged."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from azure.core.credentials import AzureKeyCredential
from azure.core.exceptions import ClientAuthenticationError
from azure.eventgrid import EventGridEvent, EventGridPublisherClient
from azure.storage.blob import BlobServiceClient
from flask import Flask

from emulators.common.event_sink import EventSink
from emulators.common.serving import serve_in_thread
from emulators.eventgrid.server import create_app
from emulators.stack import Stack, wait_until

KEY = "topic-key-for-tests"


class Grid:
    def __init__(self, config: dict) -> None:
        self.config = config
        self.start()

    def start(self) -> None:
        self.app = create_app(self.config)
        self.server, self.thread = serve_in_thread(self.app)
        self.endpoint = f"http://127.0.0.1:{self.server.server_port}/api/events"

    def stop(self) -> None:
        self.server.shutdown()
        self.thread.join(timeout=5)
        for worker in self.app.extensions["eventgrid_workers"]:
            worker.stop()

    def publisher(self, key: str = KEY) -> EventGridPublisherClient:
        return EventGridPublisherClient(self.endpoint, AzureKeyCredential(key))


@pytest.fixture()
def grid(tmp_path: Path, event_sink: EventSink) -> Iterator[Grid]:
    g = Grid(
        {
            "data_dir": str(tmp_path),
            "time_scale": 0.01,
            "topics": {"t": {"key": KEY}},
            "subscriptions": [
                {"name": "all", "topic": "t", "endpoint": event_sink.url},
                {
                    "name": "only-a",
                    "topic": "t",
                    "endpoint": event_sink.url + "?only=a",
                    "filter": {"includedEventTypes": ["A"], "subjectBeginsWith": "/x/"},
                },
            ],
        }
    )
    yield g
    g.stop()


def test_sdk_publish_is_delivered_to_each_matching_subscription(grid: Grid, event_sink: EventSink):
    marker = uuid.uuid4().hex
    grid.publisher().send(
        [
            EventGridEvent(subject="/x/1", event_type="A", data={"m": marker}, data_version="1"),
            EventGridEvent(subject="/y/1", event_type="A", data={"m": marker}, data_version="1"),
        ]
    )
    wait_until(
        lambda: len(event_sink.matching(lambda e: e["data"].get("m") == marker)) == 3,
        10,
        "three deliveries (two to 'all', one to 'only-a')",
    )
    delivered = event_sink.matching(lambda e: e["data"].get("m") == marker)
    assert sorted(e["subject"] for e in delivered) == ["/x/1", "/x/1", "/y/1"]
    assert all(e["eventType"] == "A" and e["dataVersion"] == "1" and e["id"] for e in delivered)


def test_wrong_key_is_refused(grid: Grid):
    with pytest.raises(ClientAuthenticationError):
        grid.publisher("wrong").send(EventGridEvent(subject="/x", event_type="A", data={}, data_version="1"))


def test_failed_delivery_is_retried_and_400_dead_letters(tmp_path: Path):
    answers = {"flaky": [500, 503, 200], "broken": [400]}
    received: dict[str, int] = {"flaky": 0, "broken": 0}
    app = Flask("subscriber")

    @app.post("/<name>")
    def hook(name: str):
        received[name] += 1
        status = answers[name][min(received[name], len(answers[name])) - 1]
        return "", status

    server, thread = serve_in_thread(app)
    base = f"http://127.0.0.1:{server.server_port}"
    g = Grid(
        {
            "data_dir": str(tmp_path),
            "time_scale": 0.01,
            "topics": {"t": {"key": KEY}},
            "subscriptions": [
                {"name": "flaky", "topic": "t", "endpoint": f"{base}/flaky"},
                {"name": "broken", "topic": "t", "endpoint": f"{base}/broken"},
            ],
        }
    )
    try:
        g.publisher().send(EventGridEvent(subject="/s", event_type="A", data={}, data_version="1"))
        wait_until(lambda: received["flaky"] == 3, 20, "two retries then success")
        store = g.app.extensions["eventgrid"].store
        wait_until(lambda: len(list(store.scan("deadletter"))) == 1, 10, "the 400 dead-lettered")
        assert received["broken"] == 1  # 400 is never retried
        ((_, letter),) = store.scan("deadletter")
        assert letter["subscription"] == "broken" and letter["deadLetterReason"].startswith("400")
        wait_until(lambda: not list(store.scan("delivery")), 10, "no delivery left pending")
    finally:
        g.stop()
        server.shutdown()
        thread.join(timeout=5)


def test_blob_created_for_every_new_blob_once_across_a_restart(
    azurite: Stack, tmp_path: Path, event_sink: EventSink
):
    container = f"c{uuid.uuid4().hex[:12]}"
    service = BlobServiceClient.from_connection_string(azurite.connection_string)
    service.create_container(container)
    config = {
        "data_dir": str(tmp_path),
        "time_scale": 0.01,
        "topics": {},
        "system_topic": {
            "name": "storage",
            "connection_string": azurite.connection_string,
            "containers": [container],
            "poll_interval": 0.05,
        },
        "subscriptions": [{"name": "blobs", "topic": "storage", "endpoint": event_sink.url}],
    }
    g = Grid(config)
    ours = lambda e: f"/containers/{container}/" in e["subject"]  # noqa: E731
    try:
        uploaded = service.get_blob_client(container, "a/one.json").upload_blob(b'{"n": 1}', overwrite=True)
        event = event_sink.wait_for(ours, timeout=10)
        assert event["eventType"] == "Microsoft.Storage.BlobCreated"
        assert event["subject"] == f"/blobServices/default/containers/{container}/blobs/a/one.json"
        assert event["data"]["eTag"] == uploaded["etag"].strip('"')
        assert event["data"]["contentLength"] == 8
        assert event["data"]["url"].endswith(f"/{container}/a/one.json")
        dt.datetime.fromisoformat(event["eventTime"].replace("Z", "+00:00"))
    finally:
        g.stop()
    service.get_blob_client(container, "b/two.json").upload_blob(b"{}")  # written while it is down
    g.start()
    try:
        wait_until(lambda: len(event_sink.matching(ours)) >= 2, 10, "the blob written during the outage")
        g.app.extensions["eventgrid_workers"][1].poll()  # one more full poll: nothing new
        wait_until(
            lambda: not list(g.app.extensions["eventgrid"].store.scan("delivery")), 10, "all delivered"
        )
        subjects = sorted(e["subject"].rsplit("/blobs/", 1)[1] for e in event_sink.matching(ours))
        assert subjects == ["a/one.json", "b/two.json"]
        sequencers = [
            e["data"]["sequencer"] for e in sorted(event_sink.matching(ours), key=lambda e: e["subject"])
        ]
        assert sequencers == sorted(sequencers) and len(set(sequencers)) == 2
    finally:
        g.stop()
