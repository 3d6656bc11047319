"""The Event Grid stand-in's publish API against azure-eventgrid, unchanged: both schemas, key and SAS
credentials, Azure's errors, and delivery in each subscription's schema."""

from __future__ import annotations

import base64
import datetime as dt
import json
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from azure.core.credentials import AzureKeyCredential, AzureSasCredential
from azure.core.exceptions import ClientAuthenticationError, HttpResponseError
from azure.core.messaging import CloudEvent
from azure.eventgrid import EventGridEvent, EventGridPublisherClient, generate_sas

from emulators.eventgrid.testing import RunningGrid, Webhook

KEY = base64.b64encode(b"topic-key-for-tests-0123456789ab").decode()
CE_KEY = base64.b64encode(b"cloudevents-topic-key-0123456789").decode()


def webhook_sub(topic: str, name: str, url: str, **properties) -> dict:
    return {
        "type": "Microsoft.EventGrid/topics/eventSubscriptions",
        "name": f"{topic}/{name}",
        "properties": {
            "destination": {"endpointType": "WebHook", "properties": {"endpointUrl": url}},
            **properties,
        },
    }


@pytest.fixture()
def hook() -> Iterator[Webhook]:
    webhook = Webhook()
    yield webhook
    webhook.close()


@pytest.fixture()
def grid(tmp_path: Path, hook: Webhook) -> Iterator[RunningGrid]:
    g = RunningGrid(
        {
            "data_dir": str(tmp_path),
            "time_scale": 0.01,
            "resources": [
                {"type": "Microsoft.EventGrid/topics", "name": "eg", "keys": [KEY]},
                {
                    "type": "Microsoft.EventGrid/topics",
                    "name": "ce",
                    "keys": [CE_KEY],
                    "properties": {"inputSchema": "CloudEventSchemaV1_0"},
                },
                webhook_sub("eg", "all", f"{hook.url}/all"),
                webhook_sub(
                    "eg",
                    "only-a",
                    f"{hook.url}/only-a",
                    filter={"includedEventTypes": ["A"], "subjectBeginsWith": "/x/"},
                ),
                webhook_sub(
                    "eg", "as-cloudevents", f"{hook.url}/as-ce", eventDeliverySchema="CloudEventSchemaV1_0"
                ),
                webhook_sub("ce", "ce-all", f"{hook.url}/ce"),
            ],
        }
    )
    yield g
    g.stop()


def eg_publisher(grid: RunningGrid, key: str = KEY) -> EventGridPublisherClient:
    return EventGridPublisherClient(f"{grid.url}/topics/eg/api/events", AzureKeyCredential(key))


def sas_publisher(grid: RunningGrid, topic: str, key: str, expires: dt.datetime) -> EventGridPublisherClient:
    endpoint = f"{grid.url}/topics/{topic}/api/events"
    return EventGridPublisherClient(endpoint, AzureSasCredential(generate_sas(endpoint, key, expires)))


def error_body(error: HttpResponseError) -> dict:
    return json.loads(error.response.text())


def in_an_hour() -> dt.datetime:
    return dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)


def test_sdk_publish_is_delivered_to_each_matching_subscription(grid: RunningGrid, hook: Webhook):
    marker = uuid.uuid4().hex
    eg_publisher(grid).send(
        [
            EventGridEvent(subject="/x/1", event_type="A", data={"m": marker}, data_version="1"),
            EventGridEvent(subject="/y/1", event_type="A", data={"m": marker}, data_version="1"),
        ]
    )
    hook.wait_for(lambda: len(hook.events()) == 5, what="five deliveries")
    assert sorted(e["subject"] for e in hook.events("/all")) == ["/x/1", "/y/1"]
    assert [e["subject"] for e in hook.events("/only-a")] == ["/x/1"]
    delivered = hook.events("/all")[0]
    assert (
        delivered["eventType"] == "A"
        and delivered["dataVersion"] == "1"
        and delivered["metadataVersion"] == "1"
    )
    assert delivered["topic"].endswith("/providers/Microsoft.EventGrid/topics/eg")
    request = hook.notifications("/all")[0]
    assert isinstance(request.body, list) and len(request.body) == 1  # one event per request, in an array
    assert request.headers["content-type"].startswith("application/json")
    assert request.headers["aeg-subscription-name"] == "ALL"
    assert request.headers["aeg-delivery-count"] == "0"
    assert request.headers["aeg-data-version"] == "1"


def test_event_grid_events_are_converted_for_a_cloudevents_subscription(grid: RunningGrid, hook: Webhook):
    event = EventGridEvent(subject="/x/conv", event_type="Conv", data={"n": 1}, data_version="2.0")
    eg_publisher(grid).send(event)
    hook.wait_for(lambda: hook.notifications("/as-ce"), what="the converted delivery")
    request = hook.notifications("/as-ce")[0]
    assert request.headers["content-type"].startswith("application/cloudevents+json")
    converted = request.body
    assert converted == {
        "id": str(event.id),
        "source": "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/local"
        "/providers/Microsoft.EventGrid/topics/eg",
        "specversion": "1.0",
        "type": "Conv",
        "subject": "/x/conv",
        "time": converted["time"],
        "dataversion": "2.0",
        "data": {"n": 1},
    }
    assert CloudEvent.from_dict(converted).type == "Conv"  # the SDK's own parser takes it


def test_cloudevents_batch_and_single_with_a_sas_token(grid: RunningGrid, hook: Webhook):
    client = sas_publisher(grid, "ce", CE_KEY, in_an_hour())
    client.send(
        [
            CloudEvent(source="/src", type="T.One", data={"a": 1}, subject="s1", extensions={"tenant": "t1"}),
            CloudEvent(source="/src", type="T.Two", data=b"\x00binary"),
        ]
    )
    client.send(CloudEvent(source="/src", type="T.Three", data=None))
    hook.wait_for(lambda: len(hook.events("/ce")) == 3, what="three CloudEvents")
    by_type = {e["type"]: e for e in hook.events("/ce")}
    assert by_type["T.One"]["tenant"] == "t1" and by_type["T.One"]["data"] == {"a": 1}
    assert base64.b64decode(by_type["T.Two"]["data_base64"]) == b"\x00binary"
    assert "data" not in by_type["T.Three"]
    assert all(
        r.headers["content-type"].startswith("application/cloudevents+json")
        for r in hook.notifications("/ce")
    )
    parsed = CloudEvent.from_dict(by_type["T.Two"])
    assert parsed.data == b"\x00binary" and parsed.source == "/src"


def test_a_sas_token_with_the_topic_key_works_for_event_grid_schema_too(grid: RunningGrid, hook: Webhook):
    sas_publisher(grid, "eg", KEY, in_an_hour()).send(
        EventGridEvent(subject="/y/sas", event_type="S", data={}, data_version="1")
    )
    hook.wait_for(lambda: any(e["subject"] == "/y/sas" for e in hook.events("/all")), what="the SAS publish")


@pytest.mark.parametrize(
    "client",
    [
        lambda g: eg_publisher(g, key=base64.b64encode(b"wrong").decode()),
        lambda g: sas_publisher(g, "eg", KEY, dt.datetime.now(dt.UTC) - dt.timedelta(seconds=5)),
        lambda g: sas_publisher(g, "eg", base64.b64encode(b"another key").decode(), in_an_hour()),
        lambda g: EventGridPublisherClient(  # eg's key, but the token names another topic's URL
            f"{g.url}/topics/eg/api/events",
            AzureSasCredential(generate_sas(f"{g.url}/topics/ce/api/events", KEY, in_an_hour())),
        ),
    ],
    ids=["wrong-key", "expired-token", "token-signed-with-another-key", "token-for-another-topic"],
)
def test_bad_credentials_are_refused_with_401(grid: RunningGrid, client):
    with pytest.raises(ClientAuthenticationError) as raised:
        client(grid).send(EventGridEvent(subject="/x", event_type="A", data={}, data_version="1"))
    assert raised.value.status_code == 401
    assert error_body(raised.value)["error"]["code"] == "Unauthorized"


def test_malformed_events_are_refused_with_400_and_azure_error_body(grid: RunningGrid):
    client = eg_publisher(grid)
    with pytest.raises(HttpResponseError) as raised:
        client.send({"id": "1", "subject": "/x", "eventTime": "2026-01-01T00:00:00Z", "data": {}})
    assert raised.value.status_code == 400
    error = error_body(raised.value)["error"]
    assert error["code"] == "BadRequest" and "eventType" in error["message"]
    assert error["details"][0]["code"] == "InputJsonInvalid"
    with pytest.raises(HttpResponseError) as raised:
        client.send({"id": "1", "subject": "/x", "eventType": "A", "eventTime": "yesterday", "data": {}})
    assert raised.value.status_code == 400 and "eventTime" in error_body(raised.value)["error"]["message"]
    url = f"{grid.url}/topics/eg/api/events?api-version=2018-01-01"
    answer = requests.post(url, data=b"{not json", headers={"aeg-sas-key": KEY}, timeout=10)
    assert answer.status_code == 400 and answer.json()["error"]["code"] == "BadRequest"
    answer = requests.post(url.split("?")[0], json=[], headers={"aeg-sas-key": KEY}, timeout=10)
    assert answer.status_code == 400 and "api-version" in answer.json()["error"]["message"]


def test_cloudevents_to_an_event_grid_schema_topic_is_refused(grid: RunningGrid):
    client = EventGridPublisherClient(f"{grid.url}/topics/eg/api/events", AzureKeyCredential(KEY))
    with pytest.raises(HttpResponseError) as raised:
        client.send(CloudEvent(source="/s", type="T", data={}))
    assert raised.value.status_code == 400


def test_more_than_one_megabyte_is_refused_with_413(grid: RunningGrid, hook: Webhook):
    big = "x" * (600 * 1024)
    client = eg_publisher(grid)
    with pytest.raises(HttpResponseError) as raised:
        client.send([EventGridEvent(subject="/big", event_type="B", data={"p": big}, data_version="1")] * 2)
    assert raised.value.status_code == 413
    assert error_body(raised.value)["error"]["code"] == "RequestEntityTooLarge"
    with pytest.raises(HttpResponseError) as raised:
        client.send(EventGridEvent(subject="/big", event_type="B", data={"p": big * 2}, data_version="1"))
    assert raised.value.status_code == 413
    client.send(
        EventGridEvent(subject="/big", event_type="B", data={"p": big}, data_version="1")
    )  # < 1 MB: fine
    hook.wait_for(lambda: any(e["subject"] == "/big" for e in hook.events("/all")), what="the 600 KB event")
    assert not any(len(json.dumps(e)) > 1024 * 1024 for e in hook.events())


def test_200_means_stored_an_accepted_event_survives_a_restart(tmp_path: Path):
    """The subscriber is down while the event is published; the stand-in restarts; it is still delivered."""
    up = threading.Event()
    hook = Webhook(status=lambda r: 200 if up.is_set() else 503)
    grid = RunningGrid(
        {
            "data_dir": str(tmp_path),
            "time_scale": 0.01,
            "resources": [
                {"type": "Microsoft.EventGrid/topics", "name": "eg", "keys": [KEY]},
                webhook_sub("eg", "later", f"{hook.url}/later"),
            ],
        }
    )
    try:
        eg_publisher(grid).send(EventGridEvent(subject="/kept", event_type="K", data={}, data_version="1"))
        grid.restart()
        up.set()
        hook.wait_for(lambda: hook.events("/later", accepted_only=True), what="the redelivery")
        grid.wait_idle()
        assert [e["subject"] for e in hook.events("/later", accepted_only=True)] == ["/kept"]
    finally:
        grid.stop()
        hook.close()


def test_the_walking_skeleton_config_shape_still_works(tmp_path: Path, hook: Webhook):
    grid = RunningGrid(
        {
            "data_dir": str(tmp_path),
            "time_scale": 0.01,
            "topics": {"t": {"key": "plain-local-key"}},
            "subscriptions": [{"name": "old-style", "topic": "t", "endpoint": f"{hook.url}/old"}],
        }
    )
    try:
        EventGridPublisherClient(grid.endpoint, AzureKeyCredential("plain-local-key")).send(
            EventGridEvent(subject="/old", event_type="O", data={}, data_version="1")
        )
        hook.wait_for(lambda: hook.events("/old"), what="delivery through the old config shape")
    finally:
        grid.stop()


def test_stopping_leaves_no_thread_running(tmp_path: Path, hook: Webhook):
    grid = RunningGrid(
        {
            "data_dir": str(tmp_path),
            "time_scale": 0.01,
            "resources": [
                {"type": "Microsoft.EventGrid/topics", "name": "eg", "keys": [KEY]},
                webhook_sub("eg", "threads", f"{hook.url}/threads"),
            ],
        }
    )
    eg_publisher(grid).send(
        [EventGridEvent(subject=f"/{i}", event_type="T", data={}, data_version="1") for i in range(20)]
    )
    hook.wait_for(lambda: len(hook.events("/threads")) == 20, what="20 deliveries")
    grid.stop()
    assert [t.name for t in threading.enumerate() if t.name.startswith("eventgrid-")] == []


def test_a_single_cloudevent_in_structured_mode(grid: RunningGrid, hook: Webhook):
    event = {"specversion": "1.0", "id": "single-1", "source": "/curl", "type": "T.Single", "data": {"x": 1}}
    answer = requests.post(
        f"{grid.url}/topics/ce/api/events?api-version=2018-01-01",
        data=json.dumps(event),
        headers={"Content-Type": "application/cloudevents+json; charset=utf-8", "aeg-sas-key": CE_KEY},
        timeout=10,
    )
    assert answer.status_code == 200 and answer.content == b""
    hook.wait_for(
        lambda: any(e["id"] == "single-1" for e in hook.events("/ce")), what="the single CloudEvent"
    )
    bad = requests.post(
        f"{grid.url}/topics/ce/api/events?api-version=2018-01-01",
        data=json.dumps({**event, "specversion": "0.3"}),
        headers={"Content-Type": "application/cloudevents+json", "aeg-sas-key": CE_KEY},
        timeout=10,
    )
    assert bad.status_code == 400 and "specversion" in bad.json()["error"]["message"]
