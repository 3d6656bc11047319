"""The Functions host stand-in with a small app of its own (written by the test into a temp folder): every
trigger kind, the output bindings, auth levels, route parameters and ``functionTimeout``. Real clients
(azure-storage-blob, azure-storage-queue, azure-eventgrid through the output binding) against Azurite and
an in-process Event Grid stand-in."""

from __future__ import annotations

import base64
import json
import textwrap
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests
from azure.core.exceptions import ResourceNotFoundError
from azure.storage.blob import BlobServiceClient
from azure.storage.queue import QueueClient, TextBase64DecodePolicy, TextBase64EncodePolicy

from emulators.eventgrid.testing import RunningGrid, Webhook
from emulators.functions_host.testing import RunningHost

STORAGE_SCOPE = "/subscriptions/0/resourceGroups/local/providers/Microsoft.Storage"
TOPIC_KEY = base64.b64encode(b"functions-host-topic-key-0123456").decode()

APP = """
import json
import threading
import time

import azure.functions as func

app = func.FunctionApp()
CALLS = []
CHANGED = threading.Condition()
RELEASE = threading.Event()  # set by the test at teardown: frees any function still waiting


def record(function, **values):
    with CHANGED:
        CALLS.append({"function": function, **values})
        CHANGED.notify_all()


@app.route(route="items/{id:int}/{label?}", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def items(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(
        json.dumps({"route": dict(req.route_params), "params": dict(req.params)}), mimetype="application/json"
    )


@app.route(route="secure", auth_level=func.AuthLevel.FUNCTION)
def secure(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("function level")


@app.route(route="admin-only", auth_level=func.AuthLevel.ADMIN)
def admin_only(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("admin level")


@app.route(route="slow", auth_level=func.AuthLevel.ANONYMOUS)
def slow(req: func.HttpRequest) -> func.HttpResponse:
    RELEASE.wait(30)
    return func.HttpResponse("too late")


@app.route(route="outputs/{key}", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
@app.blob_output(arg_name="blob", path="%OutContainer%/{key}.txt", connection="Storage")
@app.queue_output(arg_name="msg", queue_name="%OutQueue%", connection="Storage")
@app.event_grid_output(arg_name="event", topic_endpoint_uri="TopicEndpoint", topic_key_setting="TopicKey")
def outputs(
    req: func.HttpRequest,
    blob: func.Out[str],
    msg: func.Out[str],
    event: func.Out[func.EventGridOutputEvent],
) -> func.HttpResponse:
    key = req.route_params["key"]
    blob.set(f"blob for {key}")
    msg.set(f"message for {key}")
    event.set(
        func.EventGridOutputEvent(
            id=key, subject=f"/outputs/{key}", data={"key": key}, event_type="Test.Output",
            event_time=None, data_version="1.0",
        )
    )
    if req.params.get("fail"):
        raise RuntimeError("failing after set(): nothing may be written")
    return func.HttpResponse("written", status_code=201)


@app.blob_trigger(arg_name="stream", path="%InContainer%/{name}.json", connection="Storage",
                  source=func.BlobSource.EVENT_GRID)
@app.blob_output(arg_name="copy", path="%OutContainer%/{name}.copy", connection="Storage")
def on_blob(stream: func.InputStream, copy: func.Out[bytes]) -> None:
    content = stream.read()
    record("on_blob", type=type(stream).__name__, name=stream.name, length=stream.length, uri=stream.uri,
           content=content.decode())
    if b"fail" in content:
        raise ValueError("this blob fails")
    copy.set(content)


@app.queue_trigger(arg_name="msg", queue_name="%WorkQueue%", connection="Storage")
def on_queue(msg: func.QueueMessage) -> None:
    body = msg.get_body().decode()
    record("on_queue", type=type(msg).__name__, id=msg.id, body=body, dequeue_count=msg.dequeue_count)
    if body.startswith("fail"):
        raise RuntimeError("this message fails")
    if body.startswith("slow") and msg.dequeue_count == 1:
        RELEASE.wait(30)


@app.timer_trigger(arg_name="timer", schedule="*/1 * * * * *")
def every_second(timer: func.TimerRequest) -> None:
    record("every_second", type=type(timer).__name__, past_due=timer.past_due, at=time.time(),
           next=timer.schedule_status.get("Next"))


@app.timer_trigger(arg_name="timer", schedule="0 0 0 1 1 *", run_on_startup=True)
def at_startup(timer: func.TimerRequest) -> None:
    record("at_startup", type=type(timer).__name__, past_due=timer.past_due)
"""

HOST_JSON = {
    "version": "2.0",
    "functionTimeout": "00:00:02",
    "extensions": {
        "queues": {
            "maxDequeueCount": 3,
            "visibilityTimeout": "00:00:00",
            "maxPollingInterval": "00:00:00.500",
        }
    },
}


@dataclass
class App:
    host: RunningHost
    settings: dict[str, str]
    blobs: BlobServiceClient
    connection_string: str
    hook: Webhook

    @property
    def url(self) -> str:
        return self.host.url

    @property
    def module(self):
        return self.host.module

    def calls(self, function: str) -> list[dict[str, Any]]:
        with self.module.CHANGED:
            return [c for c in self.module.CALLS if c["function"] == function]

    def wait_for_calls(
        self, function: str, predicate: Callable[[list[dict[str, Any]]], bool], timeout: float = 15.0
    ) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        with self.module.CHANGED:
            while True:
                calls = [c for c in self.module.CALLS if c["function"] == function]
                if predicate(calls):
                    return calls
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"{function}: condition not met within {timeout} s; calls: {calls}")
                self.module.CHANGED.wait(remaining)

    def queue(self, name: str, **kwargs) -> QueueClient:
        return QueueClient.from_connection_string(self.connection_string, name, **kwargs)


def wait_until(condition: Callable[[], Any], timeout: float = 15.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not met within {timeout} s")
        time.sleep(0.05)


@pytest.fixture(scope="module")
def app(azurite, tmp_path_factory: pytest.TempPathFactory) -> Iterator[App]:
    suffix = uuid.uuid4().hex[:10]
    folder = tmp_path_factory.mktemp("function-app")
    (folder / "function_app.py").write_text(textwrap.dedent(APP))
    (folder / "host.json").write_text(json.dumps(HOST_JSON))
    hook = Webhook()
    grid = RunningGrid(
        {
            "data_dir": str(tmp_path_factory.mktemp("grid")),
            "time_scale": 0.01,
            "resources": [
                {"type": "Microsoft.EventGrid/topics", "name": "fh", "keys": [TOPIC_KEY]},
                {
                    "type": "Microsoft.EventGrid/topics/eventSubscriptions",
                    "name": "fh/all",
                    "properties": {
                        "destination": {
                            "endpointType": "WebHook",
                            "properties": {"endpointUrl": f"{hook.url}/fh"},
                        }
                    },
                },
            ],
        }
    )
    settings = {
        "Storage": azurite.connection_string,
        "InContainer": f"in-{suffix}",
        "OutContainer": f"out-{suffix}",
        "OutQueue": f"out-{suffix}",
        "WorkQueue": f"work-{suffix}",
        "TopicEndpoint": f"{grid.url}/topics/fh/api/events",
        "TopicKey": TOPIC_KEY,
    }
    blobs = BlobServiceClient.from_connection_string(azurite.connection_string)
    blobs.create_container(settings["InContainer"])
    QueueClient.from_connection_string(azurite.connection_string, settings["WorkQueue"]).create_queue()
    host = RunningHost(folder, function_keys=["function-key"], master_key="master-key", settings=settings)
    try:
        yield App(host, settings, blobs, azurite.connection_string, hook)
    finally:
        host.module.RELEASE.set()
        host.stop()
        grid.stop()
        hook.close()
    for thread in threading.enumerate():
        if thread.name.startswith("invocation-"):  # a timed-out function, released above, returns now
            thread.join(timeout=10)
    left = [t.name for t in threading.enumerate() if t.name.startswith(("queue-", "timer-", "invocation-"))]
    assert not left, f"threads left running: {left}"


# --- HTTP -----------------------------------------------------------------------------------------


def test_route_parameters_reach_route_params(app: App):
    answer = requests.get(f"{app.url}/api/items/42/red?x=1", timeout=5)
    assert answer.status_code == 200
    assert answer.json() == {"route": {"id": "42", "label": "red"}, "params": {"x": "1"}}
    assert requests.get(f"{app.url}/api/ITEMS/7", timeout=5).json()["route"] == {"id": "7"}
    assert requests.get(f"{app.url}/api/items/not-a-number", timeout=5).status_code == 404
    assert requests.post(f"{app.url}/api/items/42", timeout=5).status_code == 405


def test_auth_levels(app: App):
    secure, admin = f"{app.url}/api/secure", f"{app.url}/api/admin-only"
    assert requests.get(secure, timeout=5).status_code == 401
    assert (
        requests.get(secure, headers={"x-functions-key": "function-key"}, timeout=5).text == "function level"
    )
    assert requests.get(f"{secure}?code=master-key", timeout=5).status_code == 200
    assert requests.get(admin, headers={"x-functions-key": "function-key"}, timeout=5).status_code == 401
    assert requests.get(f"{admin}?code=master-key", timeout=5).text == "admin level"


def test_function_timeout_answers_500(app: App):
    started = time.monotonic()
    assert requests.get(f"{app.url}/api/slow", timeout=15).status_code == 500
    assert 1.9 <= time.monotonic() - started < 8


# --- output bindings -----------------------------------------------------------------------------


def test_output_bindings_write_what_was_set(app: App):
    key = uuid.uuid4().hex[:8]
    answer = requests.post(f"{app.url}/api/outputs/{key}", timeout=15)
    assert answer.status_code == 201, answer.text
    blob = app.blobs.get_blob_client(app.settings["OutContainer"], f"{key}.txt")
    assert blob.download_blob().readall() == f"blob for {key}".encode()
    queue = app.queue(app.settings["OutQueue"], message_decode_policy=TextBase64DecodePolicy())
    bodies = wait_until(
        lambda: [m.content for m in queue.peek_messages(max_messages=32)], what="queue message"
    )
    assert f"message for {key}" in bodies
    app.hook.wait_for(lambda: any(e.get("id") == key for e in app.hook.events("/fh")), 15, "published event")
    event = next(e for e in app.hook.events("/fh") if e.get("id") == key)
    assert event["eventType"] == "Test.Output" and event["subject"] == f"/outputs/{key}"
    assert event["data"] == {"key": key} and event["dataVersion"] == "1.0"


def test_output_bindings_write_nothing_when_the_function_fails(app: App):
    key = uuid.uuid4().hex[:8]
    assert requests.post(f"{app.url}/api/outputs/{key}?fail=1", timeout=15).status_code == 500
    blob = app.blobs.get_blob_client(app.settings["OutContainer"], f"{key}.txt")
    with pytest.raises(ResourceNotFoundError):
        blob.get_blob_properties()
    queue = app.queue(app.settings["OutQueue"], message_decode_policy=TextBase64DecodePolicy())
    assert f"message for {key}" not in [m.content for m in queue.peek_messages(max_messages=32)]
    # a later successful call is delivered; the failed one never was
    requests.post(f"{app.url}/api/outputs/{key}-ok", timeout=15)
    app.hook.wait_for(lambda: any(e.get("id") == f"{key}-ok" for e in app.hook.events("/fh")), 15, "event")
    assert not any(e.get("id") == key for e in app.hook.events("/fh"))


# --- blob trigger (source=EventGrid) --------------------------------------------------------------


def blob_created(container: str, name: str, url: str) -> list[dict[str, Any]]:
    return [
        {
            "id": str(uuid.uuid4()),
            "topic": f"{STORAGE_SCOPE}/storageAccounts/devstoreaccount1",
            "subject": f"/blobServices/default/containers/{container}/blobs/{name}",
            "eventType": "Microsoft.Storage.BlobCreated",
            "eventTime": "2026-11-25T12:00:00Z",
            "dataVersion": "",
            "metadataVersion": "1",
            "data": {
                "api": "PutBlob",
                "url": url,
                "blobType": "BlockBlob",
                "contentType": "application/json",
            },
        }
    ]


def deliver(app: App, events: list[dict[str, Any]], function: str = "on_blob") -> requests.Response:
    return requests.post(
        f"{app.url}/runtime/webhooks/blobs?functionName=Host.Functions.{function}",
        json=events,
        headers={"aeg-event-type": "Notification"},
        timeout=15,
    )


def test_blob_trigger_reads_the_blob_of_a_blob_created_event(app: App):
    container, name = app.settings["InContainer"], f"{uuid.uuid4().hex[:8]}.json"
    client = app.blobs.get_blob_client(container, name)
    client.upload_blob(b'{"hello": "blob"}')
    assert deliver(app, blob_created(container, name, client.url)).status_code == 202
    call = next(c for c in app.calls("on_blob") if c["name"] == f"{container}/{name}")
    assert call["type"] == "InputStream" and call["content"] == '{"hello": "blob"}'
    assert call["length"] == len(b'{"hello": "blob"}') and call["uri"] == client.url
    copy = app.blobs.get_blob_client(app.settings["OutContainer"], f"{name.removesuffix('.json')}.copy")
    assert copy.download_blob().readall() == b'{"hello": "blob"}'


def test_blob_trigger_runs_once_per_blob_version(app: App):
    container, name = app.settings["InContainer"], f"{uuid.uuid4().hex[:8]}.json"
    client = app.blobs.get_blob_client(container, name)
    client.upload_blob(b'{"v": 1}')
    for _ in range(3):  # Event Grid delivers at least once
        assert deliver(app, blob_created(container, name, client.url)).status_code == 202
    assert [c["content"] for c in app.calls("on_blob") if c["name"] == f"{container}/{name}"] == ['{"v": 1}']
    client.upload_blob(b'{"v": 2}', overwrite=True)  # a new version (ETag) runs again
    assert deliver(app, blob_created(container, name, client.url)).status_code == 202
    contents = [c["content"] for c in app.calls("on_blob") if c["name"] == f"{container}/{name}"]
    assert contents == ['{"v": 1}', '{"v": 2}']


def test_blob_trigger_ignores_other_paths_and_fails_with_500(app: App):
    container = app.settings["InContainer"]
    other = app.blobs.get_blob_client(container, f"{uuid.uuid4().hex[:8]}.txt")
    other.upload_blob(b"not json")
    before = len(app.calls("on_blob"))
    assert deliver(app, blob_created(container, other.blob_name, other.url)).status_code == 202
    assert len(app.calls("on_blob")) == before
    failing = app.blobs.get_blob_client(container, f"{uuid.uuid4().hex[:8]}.json")
    failing.upload_blob(b"fail")
    for _ in range(2):  # a failure writes no receipt: Event Grid's retry runs the function again
        assert deliver(app, blob_created(container, failing.blob_name, failing.url)).status_code == 500
    assert len([c for c in app.calls("on_blob") if c["name"] == f"{container}/{failing.blob_name}"]) == 2
    copy = app.blobs.get_blob_client(app.settings["OutContainer"], f"{failing.blob_name[:-5]}.copy")
    with pytest.raises(ResourceNotFoundError):
        copy.get_blob_properties()


def test_blobs_webhook_handshake_and_unknown_function(app: App):
    answer = requests.post(
        f"{app.url}/runtime/webhooks/blobs?functionName=Host.Functions.on_blob",
        headers={"aeg-event-type": "SubscriptionValidation"},
        json=[
            {
                "id": "1",
                "eventType": "Microsoft.EventGrid.SubscriptionValidationEvent",
                "subject": "",
                "data": {"validationCode": "abc-123"},
                "dataVersion": "2",
                "eventTime": "2026-01-01T00:00:00Z",
            }
        ],
        timeout=5,
    )
    assert answer.json() == {"validationResponse": "abc-123"}
    assert deliver(app, [], function="nope").status_code == 404
    assert deliver(app, [], function="items").status_code == 404


# --- queue trigger --------------------------------------------------------------------------------


def test_queue_trigger_passes_a_queue_message_and_deletes_it(app: App):
    body = f"hello-{uuid.uuid4().hex[:8]}"
    app.queue(app.settings["WorkQueue"], message_encode_policy=TextBase64EncodePolicy()).send_message(body)
    calls = app.wait_for_calls("on_queue", lambda cs: any(c["body"] == body for c in cs))
    call = next(c for c in calls if c["body"] == body)
    assert call["type"] == "QueueMessage" and call["dequeue_count"] == 1 and call["id"]
    queue = app.queue(app.settings["WorkQueue"], message_decode_policy=TextBase64DecodePolicy())
    wait_until(
        lambda: body not in [m.content for m in queue.peek_messages(max_messages=32)] or None,
        what="message deleted",
    )


def test_queue_poison_after_max_dequeue_count(app: App):
    body = f"fail-{uuid.uuid4().hex[:8]}"
    app.queue(app.settings["WorkQueue"], message_encode_policy=TextBase64EncodePolicy()).send_message(body)
    poison = app.queue(f"{app.settings['WorkQueue']}-poison", message_decode_policy=TextBase64DecodePolicy())

    def in_poison():
        try:
            return body in [m.content for m in poison.peek_messages(max_messages=32)]
        except ResourceNotFoundError:
            return False

    wait_until(in_poison, 20, "message in the poison queue")
    attempts = [c["dequeue_count"] for c in app.calls("on_queue") if c["body"] == body]
    assert attempts == [1, 2, 3]  # host.json maxDequeueCount: 3


def test_queue_message_that_times_out_is_retried(app: App):
    body = f"slow-{uuid.uuid4().hex[:8]}"
    app.queue(app.settings["WorkQueue"], message_encode_policy=TextBase64EncodePolicy()).send_message(body)
    calls = app.wait_for_calls(
        "on_queue", lambda cs: any(c["body"] == body and c["dequeue_count"] == 2 for c in cs)
    )
    assert [c["dequeue_count"] for c in calls if c["body"] == body] == [1, 2]


def test_queue_message_that_is_not_base64_goes_to_poison(app: App):
    body = f"plain text {uuid.uuid4().hex[:8]}!"
    app.queue(app.settings["WorkQueue"]).send_message(body)
    poison = app.queue(f"{app.settings['WorkQueue']}-poison")
    wait_until(lambda: body in [m.content for m in poison.peek_messages(max_messages=32)], 20, "poisoned")
    assert not any(c["body"] == body for c in app.calls("on_queue"))


# --- timer trigger --------------------------------------------------------------------------------


def test_timer_fires_every_second(app: App):
    calls = app.wait_for_calls("every_second", lambda cs: len(cs) >= 3, timeout=10)
    assert all(c["type"] == "TimerRequest" and c["next"] for c in calls)
    gaps = [b["at"] - a["at"] for a, b in zip(calls, calls[1:], strict=False)]
    assert all(0.5 < gap < 1.8 for gap in gaps[-2:]), gaps


def test_timer_run_on_startup(app: App):
    calls = app.wait_for_calls("at_startup", lambda cs: len(cs) >= 1, timeout=10)
    assert calls[0]["type"] == "TimerRequest" and calls[0]["past_due"] is False
