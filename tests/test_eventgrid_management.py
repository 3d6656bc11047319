"""Event subscriptions at run time: ARM's management paths, the validation handshake (Event Grid schema and
CloudEvents), the CLI, and persistence across a restart."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from azure.core.credentials import AzureKeyCredential
from azure.core.messaging import CloudEvent
from azure.eventgrid import EventGridEvent, EventGridPublisherClient

from emulators.eventgrid.testing import RunningGrid, Webhook
from emulators.stack import ROOT

KEY = base64.b64encode(b"management-tests-key-0123456789ab").decode()
API = {"api-version": "2022-06-15"}


def body(url: str, **properties) -> dict:
    return {
        "properties": {
            "destination": {"endpointType": "WebHook", "properties": {"endpointUrl": url}},
            **properties,
        }
    }


@pytest.fixture()
def grid(tmp_path: Path) -> Iterator[RunningGrid]:
    g = RunningGrid(
        {
            "data_dir": str(tmp_path),
            "time_scale": 0.01,
            "manual_validation_seconds": 30,  # 0.3 s at this time scale
            "resources": [
                {"type": "Microsoft.EventGrid/topics", "name": "t", "keys": [KEY]},
                {
                    "type": "Microsoft.EventGrid/topics",
                    "name": "ce",
                    "keys": [KEY],
                    "properties": {"inputSchema": "CloudEventSchemaV1_0"},
                },
            ],
        }
    )
    yield g
    g.stop()


@pytest.fixture()
def hook() -> Iterator[Webhook]:
    webhook = Webhook()
    yield webhook
    webhook.close()


def send(grid: RunningGrid, topic: str, *events) -> None:
    EventGridPublisherClient(f"{grid.url}/topics/{topic}/api/events", AzureKeyCredential(KEY)).send(
        list(events)
    )


def eg_event(subject: str, kind: str = "T") -> EventGridEvent:
    return EventGridEvent(subject=subject, event_type=kind, data={}, data_version="1")


def test_put_runs_the_validation_handshake_then_delivers(grid: RunningGrid, hook: Webhook):
    url = f"{grid.subscriptions_url('t')}/Downstream"
    answer = requests.put(url, params=API, json=body(f"{hook.url}/d?secret=s3"), timeout=30)
    assert answer.status_code == 201, answer.text
    created = answer.json()
    assert created["name"] == "Downstream" and created["type"] == "Microsoft.EventGrid/eventSubscriptions"
    assert created["properties"]["provisioningState"] == "Succeeded"
    assert created["properties"]["destination"]["properties"]["endpointBaseUrl"] == f"{hook.url}/d"
    assert created["id"].endswith("/topics/t/providers/Microsoft.EventGrid/eventSubscriptions/Downstream")
    (validation,) = [r for r in hook.received if r.headers.get("aeg-event-type") == "SubscriptionValidation"]
    (event,) = validation.body
    assert event["eventType"] == "Microsoft.EventGrid.SubscriptionValidationEvent"
    assert event["data"]["validationCode"] and "/validate?" in event["data"]["validationUrl"]
    assert validation.query == {"secret": "s3"}  # the full endpoint URL is used
    full = requests.post(f"{url}/getFullUrl", params=API, timeout=10).json()
    assert full == {"endpointUrl": f"{hook.url}/d?secret=s3"}
    send(grid, "t", eg_event("/after"))
    hook.wait_for(lambda: hook.events("/d"), what="delivery to the new subscription")
    assert requests.put(url, params=API, json=body(f"{hook.url}/d?secret=s3"), timeout=30).status_code == 200


@pytest.mark.parametrize("behaviour", [404, 202, "wrong"])
def test_an_endpoint_failing_the_handshake_gets_no_subscription(grid: RunningGrid, behaviour):
    hook = Webhook(validation=behaviour)
    try:
        url = f"{grid.subscriptions_url('t')}/refused"
        answer = requests.put(url, params=API, json=body(f"{hook.url}/x"), timeout=30)
        assert answer.status_code == 400
        error = answer.json()["error"]
        assert error["code"] == "URL validation"
        assert error["message"].startswith(f"Webhook validation handshake failed for {hook.url}/x.")
        assert requests.get(url, params=API, timeout=10).status_code == 404
        send(grid, "t", eg_event("/nobody"))
        grid.wait_idle()
        assert hook.notifications() == []
    finally:
        hook.close()


def test_an_unreachable_endpoint_fails_the_handshake(grid: RunningGrid):
    answer = requests.put(
        f"{grid.subscriptions_url('t')}/gone", params=API, json=body("http://127.0.0.1:9/nothing"), timeout=30
    )
    assert answer.status_code == 400 and answer.json()["error"]["code"] == "URL validation"


def test_manual_validation_through_the_validation_url(grid: RunningGrid):
    hook = Webhook(validation="manual")
    try:
        url = f"{grid.subscriptions_url('t')}/manual"
        answer = requests.put(url, params=API, json=body(f"{hook.url}/m"), timeout=30)
        assert answer.status_code == 201
        assert answer.json()["properties"]["provisioningState"] == "AwaitingManualAction"
        send(grid, "t", eg_event("/before"))  # not delivered: the subscription is not active yet
        validation_url = hook.received[0].events[0]["data"]["validationUrl"]
        assert validation_url.startswith(grid.url)
        assert requests.get(validation_url, timeout=10).status_code == 200
        assert (
            requests.get(url, params=API, timeout=10).json()["properties"]["provisioningState"] == "Succeeded"
        )
        send(grid, "t", eg_event("/after"))
        hook.wait_for(lambda: hook.events("/m"), what="delivery after manual validation")
        grid.wait_idle()
        assert [e["subject"] for e in hook.events("/m")] == ["/after"]
    finally:
        hook.close()


def test_manual_validation_not_done_in_time_fails(grid: RunningGrid):
    hook = Webhook(validation="manual")
    try:
        url = f"{grid.subscriptions_url('t')}/too-late"
        requests.put(url, params=API, json=body(f"{hook.url}/late"), timeout=30)
        state = lambda: requests.get(url, params=API, timeout=10).json()["properties"]["provisioningState"]  # noqa: E731
        hook.wait_for(lambda: state() == "Failed", what="the 5-minute (scaled) window to close")
        validation_url = hook.received[0].events[0]["data"]["validationUrl"]
        assert requests.get(validation_url, timeout=10).status_code == 400
    finally:
        hook.close()


def test_cloudevents_subscription_uses_the_options_handshake(grid: RunningGrid, hook: Webhook):
    url = f"{grid.subscriptions_url('ce')}/ce-sub"
    answer = requests.put(url, params=API, json=body(f"{hook.url}/ce"), timeout=30)
    assert answer.status_code == 201, answer.text
    assert answer.json()["properties"]["eventDeliverySchema"] == "CloudEventSchemaV1_0"  # the topic's input
    (options,) = [r for r in hook.received if r.method == "OPTIONS"]
    assert options.headers["webhook-request-origin"] == "eventgrid.azure.net"
    send(grid, "ce", CloudEvent(source="/s", type="T", data={"k": 1}))
    hook.wait_for(lambda: hook.events("/ce"), what="the CloudEvent")
    refusing = Webhook(allowed_origin=None)
    try:
        answer = requests.put(f"{url}-2", params=API, json=body(f"{refusing.url}/no"), timeout=30)
        assert answer.status_code == 400 and "OPTIONS" in answer.json()["error"]["message"]
    finally:
        refusing.close()


def test_a_conversion_azure_does_not_make_is_refused_at_subscription_time(grid: RunningGrid, hook: Webhook):
    answer = requests.put(
        f"{grid.subscriptions_url('ce')}/as-eg",
        params=API,
        json=body(f"{hook.url}/x", eventDeliverySchema="EventGridSchema"),
        timeout=30,
    )
    assert answer.status_code == 400 and answer.json()["error"]["code"] == "InvalidRequest"
    assert hook.received == []  # refused before any handshake


@pytest.mark.parametrize(
    "properties, fragment",
    [
        ({"retryPolicy": {"maxDeliveryAttempts": 31}}, "maxDeliveryAttempts"),
        ({"retryPolicy": {"eventTimeToLiveInMinutes": 0}}, "eventTimeToLiveInMinutes"),
        ({"eventDeliverySchema": "CustomInputSchema"}, "eventDeliverySchema"),
        ({"filter": {"advancedFilters": [{"operatorType": "Nope", "key": "data.a"}]}}, "Nope"),
        ({"deadLetterDestination": {"container": "x"}}, "deadLetterDestination"),
    ],
)
def test_invalid_subscriptions_are_refused_with_azure_error_body(grid: RunningGrid, properties, fragment):
    answer = requests.put(
        f"{grid.subscriptions_url('t')}/bad",
        params=API,
        json=body("http://127.0.0.1:9/x", **properties),
        timeout=30,
    )
    assert answer.status_code == 400
    assert fragment in answer.json()["error"]["message"]


def test_arm_paths_api_version_and_not_found(grid: RunningGrid, hook: Webhook):
    base = grid.subscriptions_url("t")
    assert requests.get(base, timeout=10).json()["error"]["code"] == "MissingApiVersionParameter"
    answer = requests.get(base, params={"api-version": "1999-01-01"}, timeout=10)
    assert answer.status_code == 400 and answer.json()["error"]["code"] == "NoRegisteredProviderFound"
    assert requests.get(f"{base}/absent", params=API, timeout=10).status_code == 404
    assert requests.delete(f"{base}/absent", params=API, timeout=10).status_code == 204
    assert requests.get(grid.subscriptions_url("nope"), params=API, timeout=10).status_code == 404
    other_rg = base.replace("/resourceGroups/local/", "/resourceGroups/other/")
    assert requests.get(other_rg, params=API, timeout=10).json()["error"]["code"] == "ResourceGroupNotFound"
    lower = base.replace("resourceGroups", "resourcegroups").replace(
        "eventSubscriptions", "eventsubscriptions"
    )
    assert requests.get(lower, params=API, timeout=10).json() == {"value": []}  # ARM paths ignore case
    topic = base.split("/providers/Microsoft.EventGrid/eventSubscriptions")[0]
    assert (
        requests.get(topic, params=API, timeout=10).json()["properties"]["inputSchema"] == "EventGridSchema"
    )
    assert requests.post(f"{topic}/listKeys", params=API, timeout=10).json()["key1"] == KEY


def test_patch_updates_part_of_a_subscription(grid: RunningGrid, hook: Webhook):
    url = f"{grid.subscriptions_url('t')}/patched"
    requests.put(url, params=API, json=body(f"{hook.url}/p"), timeout=30)
    answer = requests.patch(
        url, params=API, json={"properties": {"filter": {"includedEventTypes": ["Keep"]}}}
    )
    assert answer.status_code == 200
    assert answer.json()["properties"]["filter"]["includedEventTypes"] == ["Keep"]
    send(grid, "t", eg_event("/drop", "Drop"), eg_event("/keep", "Keep"))
    hook.wait_for(lambda: hook.events("/p"), what="the kept event")
    grid.wait_idle()
    assert [e["subject"] for e in hook.events("/p")] == ["/keep"]


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "emulators.eventgrid", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_cli_round_trip_and_subscriptions_survive_a_restart(grid: RunningGrid, hook: Webhook):
    made = cli(
        "subscribe",
        *("--url", grid.url, "--topic", "t", "--name", "from-cli", "--endpoint", f"{hook.url}/cli"),
        *("--types", "Climatelake.Request.Succeeded,Climatelake.Request.Failed"),
        *("--advanced-filter", "NumberGreaterThan", "data.row_count", "100"),
    )
    assert made.returncode == 0, made.stderr
    assert made.stdout.startswith("from-cli\tSucceeded\tEventGridSchema\tClimatelake.Request.Succeeded,")
    listed = cli("list", "--url", grid.url, "--topic", "t")
    assert listed.returncode == 0 and listed.stdout.splitlines()[0].startswith("from-cli\tSucceeded")

    grid.restart()
    listed = cli("list", "--url", grid.url, "--topic", "t", "--json")
    (kept,) = json.loads(listed.stdout)
    assert kept["name"] == "from-cli"
    assert kept["properties"]["filter"]["advancedFilters"] == [
        {"operatorType": "NumberGreaterThan", "key": "data.row_count", "value": 100}
    ]
    events = [
        EventGridEvent(
            subject="/r/1",
            event_type="Climatelake.Request.Succeeded",
            data={"row_count": 144},
            data_version="1",
        ),
        EventGridEvent(
            subject="/r/2",
            event_type="Climatelake.Request.Succeeded",
            data={"row_count": 5},
            data_version="1",
        ),
        EventGridEvent(subject="/r/3", event_type="Other", data={"row_count": 500}, data_version="1"),
    ]
    send(grid, "t", *events)
    hook.wait_for(lambda: hook.events("/cli"), what="delivery after the restart")
    grid.wait_idle()
    assert [e["subject"] for e in hook.events("/cli")] == ["/r/1"]

    gone = cli("unsubscribe", "--url", grid.url, "--topic", "t", "--name", "from-cli")
    assert gone.returncode == 0 and "deleted" in gone.stdout
    assert cli("list", "--url", grid.url, "--topic", "t").stdout.strip() == ""
    failing = cli(
        "subscribe",
        "--url",
        grid.url,
        "--topic",
        "t",
        "--name",
        "failing",
        "--endpoint",
        "http://127.0.0.1:9/",
    )
    assert failing.returncode == 1 and "URL validation" in failing.stderr


def test_config_subscriptions_are_reapplied_and_dropped_with_the_file(tmp_path: Path, hook: Webhook):
    config = {
        "data_dir": str(tmp_path),
        "time_scale": 0.01,
        "resources": [
            {
                "type": "Microsoft.EventGrid/topics",
                "name": "t",
                "keys": [KEY],
                "resources": [{"type": "eventSubscriptions", "name": "declared", **body(f"{hook.url}/c")}],
            }
        ],
    }
    grid = RunningGrid(config)
    try:
        assert [s.name for s in grid.grid.subscriptions()] == ["declared"]
        requests.put(
            f"{grid.subscriptions_url('t')}/runtime", params=API, json=body(f"{hook.url}/r"), timeout=30
        )
        grid.stop()
        config["resources"][0]["resources"] = []
        grid.start()
        assert [s.name for s in grid.grid.subscriptions()] == ["runtime"]
    finally:
        grid.stop()
