"""At-least-once delivery, exactly-once effect: duplicate events and a crashed Functions host."""

from __future__ import annotations

import json
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from azure.storage.blob import BlobServiceClient
from deltalake import DeltaTable

from climatelake.lake import storage_options
from tests.conftest import LocalStack

pytestmark = pytest.mark.stack


def blob_created(container: str, name: str) -> dict:
    """The event Event Grid would deliver for the blob (the function needs the subject)."""
    return {
        "id": str(uuid.uuid4()),
        "topic": "/local/storage",
        "eventType": "Microsoft.Storage.BlobCreated",
        "subject": f"/blobServices/default/containers/{container}/blobs/{name}",
        "eventTime": "2026-01-01T00:00:00Z",
        "dataVersion": "",
        "metadataVersion": "1",
        "data": {"api": "PutBlob", "url": f"http://127.0.0.1/{container}/{name}", "contentLength": 1},
    }


def test_each_event_delivered_three_more_times_still_runs_each_request_once(local_stack: LocalStack):
    stack = local_stack.stack
    service = BlobServiceClient.from_connection_string(stack.connection_string)
    ids = [f"dup-{uuid.uuid4().hex[:8]}-{i}" for i in range(20)]
    webhook = f"{stack.url('functions')}/runtime/webhooks/EventGrid?functionName=on_manifest_created"

    def upload_and_redeliver(request_id: str) -> list[int]:
        manifest = {
            "manifest_version": 1,
            "city_ids": [1 + len(request_id) % 3],
            "start_date": "2024-01-08",
            "end_date": "2024-01-08",
        }
        service.get_blob_client("manifests", f"{request_id}.json").upload_blob(json.dumps(manifest))
        event = blob_created("manifests", f"{request_id}.json")  # Event Grid also delivers its own copy
        return [
            requests.post(
                webhook, json=[event], headers={"aeg-event-type": "Notification"}, timeout=60
            ).status_code
            for _ in range(3)
        ]

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = [s for answer in pool.map(upload_and_redeliver, ids) for s in answer]
    assert set(statuses) <= {200, 202}

    events = {rid: local_stack.wait_for_request_event(rid, timeout=180) for rid in ids}
    assert {e["eventType"] for e in events.values()} == {"Climatelake.Request.Succeeded"}

    w = stack.workspace_client()
    job_id = next(iter(w.jobs.list(name="climatelake_weather_request"))).job_id
    runs_by_request: dict[str, int] = {}
    for run in w.jobs.list_runs(job_id=job_id):
        full = w.jobs.get_run(run.run_id)
        request_id = {p.name: p.value for p in full.job_parameters or []}.get("request_id")
        if request_id in events:
            runs_by_request[request_id] = runs_by_request.get(request_id, 0) + 1
    assert runs_by_request == {rid: 1 for rid in ids}  # exactly 20 runs

    options = storage_options(stack.settings())
    for event in events.values():
        table = w.tables.get(event["data"]["result_table"])
        assert DeltaTable(table.storage_location, storage_options=options).version() == 0  # one commit each
        assert event["data"]["row_count"] == 24  # no duplicate rows
    # Subscribers got one completion event per request (the status guards the publish).
    for rid in ids:
        assert len(local_stack.sink.matching(lambda e, r=rid: e["data"].get("request_id") == r)) == 1


def test_a_crashed_functions_host_loses_no_request(local_stack: LocalStack):
    stack = local_stack.stack
    stack.kill("functions")
    try:
        request_id = f"crash-{uuid.uuid4().hex[:10]}"
        manifest = {
            "manifest_version": 1,
            "city_ids": [2],
            "start_date": "2024-01-09",
            "end_date": "2024-01-09",
        }
        BlobServiceClient.from_connection_string(stack.connection_string).get_blob_client(
            "manifests", f"{request_id}.json"
        ).upload_blob(json.dumps(manifest))
        # Event Grid cannot deliver while the host is down; it keeps the event and retries on its schedule.
        with pytest.raises(TimeoutError):
            local_stack.wait_for_request_event(request_id, timeout=2)
    finally:
        stack.restart("functions")
    event = local_stack.wait_for_request_event(request_id, timeout=120)
    assert event["eventType"] == "Climatelake.Request.Succeeded" and event["data"]["row_count"] == 24
