"""End to end on the real local stack: HTTP request → manifest → BlobCreated → function → job on Sail →
Delta table in Unity Catalog → job webhook → completion event → gateway status and results."""

from __future__ import annotations

import datetime as dt
import io
import json
import uuid

import polars as pl
import pytest
from azure.storage.blob import BlobServiceClient
from deltalake import DeltaTable

from climatelake import sample_data
from climatelake.lake import storage_options
from tests.conftest import SAMPLE_CITIES, LocalStack

pytestmark = pytest.mark.stack
METRICS = ["temp", "wind_speed", "precipitation", "humidity", "description"]


def oracle_rows(stack: LocalStack, cities: list[int], start: str, end: str, metrics: list[str]) -> list[dict]:
    """The expected result, computed independently from the raw files in storage with plain Python."""
    service = BlobServiceClient.from_connection_string(stack.stack.connection_string)
    container = service.get_container_client("raw")
    rows = []
    for blob in container.list_blobs(name_starts_with="weather/"):
        rows += sample_data.csv_to_rows(container.download_blob(blob.name).readall())
    expected = [
        {
            "city_id": r["City_id"],
            "date": r["Date"],
            "hour": r["Hour"],
            **{
                m: r[
                    {
                        "temp": "Temp",
                        "wind_speed": "Wind_speed",
                        "precipitation": "Precipitation",
                        "humidity": "Humidity",
                        "description": "Description",
                    }[m]
                ]
                for m in metrics
            },
        }
        for r in rows
        if r["City_id"] in cities and start <= r["Date"] <= end
    ]
    return sorted(expected, key=lambda r: (r["city_id"], r["date"], r["hour"]))


def test_request_over_http_flows_end_to_end(local_stack: LocalStack):
    body = {
        "city_ids": [1, 3],
        "start_date": "2024-01-05",
        "end_date": "2024-01-09",
        "metrics": ["temp", "humidity", "description"],
    }
    answer = local_stack.gateway.post(f"{local_stack.gateway_url}/v1/requests", json=body, timeout=30)
    assert answer.status_code == 202, answer.text
    request_id = answer.json()["request_id"]
    assert answer.headers["Location"] == f"/v1/requests/{request_id}"

    event = local_stack.wait_for_request_event(request_id)
    assert event["eventType"] == "Climatelake.Request.Succeeded", event
    assert event["subject"] == f"/requests/{request_id}"
    assert event["data"]["row_count"] == 2 * 5 * 24

    status = local_stack.gateway.get(f"{local_stack.gateway_url}/v1/requests/{request_id}", timeout=30).json()
    assert status["status"] == "succeeded"
    assert [s["status"] for s in status["timeline"]] == [
        "accepted",
        "manifest_written",
        "job_started",
        "succeeded",
    ]

    result = local_stack.gateway.get(
        f"{local_stack.gateway_url}/v1/requests/{request_id}/results", timeout=60
    )
    assert result.status_code == 200, result.text
    rows = result.json()["rows"]
    assert rows == oracle_rows(local_stack, [1, 3], "2024-01-05", "2024-01-09", body["metrics"])

    # The manifest blob, the catalog entry and the Delta table are all really there.
    service = BlobServiceClient.from_connection_string(local_stack.stack.connection_string)
    manifest = json.loads(
        service.get_blob_client("manifests", f"{request_id}.json").download_blob().readall()
    )
    assert manifest["city_ids"] == [1, 3]
    table = local_stack.stack.workspace_client().tables.get(event["data"]["result_table"])
    assert table.table_type.value == "EXTERNAL"
    assert [c.name for c in table.columns] == ["city_id", "date", "hour", "temp", "humidity", "description"]
    delta = DeltaTable(table.storage_location, storage_options=storage_options(local_stack.stack.settings()))
    assert delta.version() == event["data"]["delta_version"]

    # Request lineage: manifest → job run → table at its version → completion event.
    lineage = local_stack.gateway.get(
        f"{local_stack.gateway_url}/v1/requests/{request_id}/lineage", timeout=30
    )
    assert lineage.status_code == 200, lineage.text
    hops = lineage.json()
    assert hops["manifest"]["blob"] == f"manifests/{request_id}.json"
    assert (
        hops["job_run"]["run_id"] == event["data"]["run_id"] and hops["job_run"]["result_state"] == "SUCCESS"
    )
    assert hops["result"] == {
        "table": table.full_name,
        "table_id": table.table_id,
        "storage_location": table.storage_location,
        "delta_version": event["data"]["delta_version"],
        "row_count": 240,
    }
    assert hops["event"] == {
        "id": event["id"],
        "type": "Climatelake.Request.Succeeded",
        "subject": f"/requests/{request_id}",
    }

    # The export files for download: one Parquet and one CSV file with the same rows.
    results = service.get_container_client("results")
    exported = [b.name for b in results.list_blobs(name_starts_with=f"requests/{request_id}/")]
    parquet = [n for n in exported if n.endswith(".parquet")]
    csv_files = [n for n in exported if n.endswith(".csv")]
    assert len(parquet) == 1 and len(csv_files) == 1, exported
    frame = pl.read_parquet(io.BytesIO(results.download_blob(parquet[0]).readall()))
    assert frame.height == len(rows) and set(frame.columns) == set(rows[0])
    assert results.download_blob(csv_files[0]).readall().decode().count("\n") == len(rows) + 1


def test_manifest_uploaded_straight_into_storage_runs_the_same_flow(local_stack: LocalStack):
    request_id = f"direct-{uuid.uuid4().hex[:10]}"
    manifest = {"manifest_version": 1, "city_ids": [2], "start_date": "2024-01-30", "end_date": "2024-01-31"}
    service = BlobServiceClient.from_connection_string(local_stack.stack.connection_string)
    service.get_blob_client("manifests", f"{request_id}.json").upload_blob(json.dumps(manifest).encode())

    event = local_stack.wait_for_request_event(request_id)
    assert event["eventType"] == "Climatelake.Request.Succeeded", event
    assert event["data"]["row_count"] == 2 * 24
    status = local_stack.gateway.get(f"{local_stack.gateway_url}/v1/requests/{request_id}", timeout=30).json()
    assert status["status"] == "succeeded"
    rows = local_stack.gateway.get(
        f"{local_stack.gateway_url}/v1/requests/{request_id}/results", timeout=60
    ).json()["rows"]
    assert rows == oracle_rows(local_stack, [2], "2024-01-30", "2024-01-31", METRICS)


@pytest.mark.parametrize(
    "content, reason_part",
    [
        (b"{not json", "not valid JSON"),
        (
            json.dumps(
                {"manifest_version": 1, "city_ids": [], "start_date": "2024-01-01", "end_date": "2024-01-02"}
            ).encode(),
            "city_ids",
        ),
        (
            json.dumps(
                {"manifest_version": 1, "city_ids": [1], "start_date": "2024-01-09", "end_date": "2024-01-02"}
            ).encode(),
            "before start_date",
        ),
    ],
)
def test_malformed_manifest_fails_with_a_reason_and_harms_nothing(
    local_stack: LocalStack, content, reason_part
):
    request_id = f"bad-{uuid.uuid4().hex[:10]}"
    service = BlobServiceClient.from_connection_string(local_stack.stack.connection_string)
    service.get_blob_client("manifests", f"{request_id}.json").upload_blob(content)

    event = local_stack.wait_for_request_event(request_id)
    assert event["eventType"] == "Climatelake.Request.Failed"
    assert reason_part in event["data"]["reason"]
    # The manifest is kept beside its reason in the rejected container, never lost.
    rejected = service.get_container_client("rejected")
    assert rejected.download_blob(f"{request_id}.json").readall() == content
    assert (
        reason_part
        in json.loads(rejected.download_blob(f"{request_id}.json.reason.json").readall())["reason"]
    )
    status = local_stack.gateway.get(f"{local_stack.gateway_url}/v1/requests/{request_id}", timeout=30).json()
    assert status["status"] == "failed" and reason_part in status["reason"]
    # Nothing else is harmed: every process of the stack is still up and a good request still succeeds.
    assert all(p.poll() is None for p in local_stack.stack.processes.values())
    good = local_stack.gateway.post(
        f"{local_stack.gateway_url}/v1/requests",
        timeout=30,
        json={"city_ids": [1], "start_date": "2024-01-01", "end_date": "2024-01-01"},
    ).json()["request_id"]
    assert local_stack.wait_for_request_event(good)["eventType"] == "Climatelake.Request.Succeeded"


def test_a_failing_job_run_ends_the_request_failed_with_the_reason(local_stack: LocalStack):
    """When the job run fails (here: the hourly table it reads is re-registered, for the test's duration,
    at a location that holds no Delta table, so it is there but unreadable), the webhook reaches the
    function and the request ends failed with the run's error as the reason. A table that is not
    registered at all is a fresh deployment: there the request succeeds with zero rows and says so."""
    w = local_stack.stack.workspace_client()
    hourly = w.tables.get("climatelake.silver.weather_hourly")

    def register(location: str) -> None:
        w.api_client.do(
            "POST",
            "/api/2.1/unity-catalog/tables",
            body={
                "catalog_name": "climatelake",
                "schema_name": "silver",
                "name": "weather_hourly",
                "table_type": "EXTERNAL",
                "data_source_format": "DELTA",
                "storage_location": location,
            },
        )

    def request_day_one() -> tuple[str, dict]:
        answer = local_stack.gateway.post(
            f"{local_stack.gateway_url}/v1/requests",
            timeout=30,
            json={"city_ids": [1], "start_date": "2024-01-02", "end_date": "2024-01-02"},
        )
        request_id = answer.json()["request_id"]
        return request_id, local_stack.wait_for_request_event(request_id)

    w.tables.delete(hourly.full_name)
    try:
        unregistered_id, unregistered = request_day_one()
        register(hourly.storage_location.rstrip("/") + "_nowhere/")
        _, unreadable = request_day_one()
    finally:
        if w.tables.exists(hourly.full_name).table_exists:
            w.tables.delete(hourly.full_name)
        register(hourly.storage_location)
    assert unregistered["eventType"] == "Climatelake.Request.Succeeded"
    results = local_stack.gateway.get(
        f"{local_stack.gateway_url}/v1/requests/{unregistered_id}/results", timeout=30
    ).json()
    assert results["row_count"] == 0 and "zero rows" in results["notice"]
    assert unreadable["eventType"] == "Climatelake.Request.Failed"
    assert "FAILED" in unreadable["data"]["reason"] and "_delta_log" in unreadable["data"]["reason"]


def test_gateway_answers_problem_json_for_bad_requests(local_stack: LocalStack):
    url = f"{local_stack.gateway_url}/v1/requests"
    no_key = local_stack.gateway.post(url, json={}, headers={"Authorization": ""}, timeout=10)
    assert no_key.status_code == 401 and no_key.headers["Content-Type"] == "application/problem+json"
    bad = local_stack.gateway.post(
        url, timeout=10, json={"city_ids": [1], "start_date": "2024-02-01", "end_date": "2024-01-01"}
    )
    assert bad.status_code == 400 and "before start_date" in bad.json()["detail"]
    unknown = local_stack.gateway.get(f"{url}/20990101T000000000Z-000000000000", timeout=10)
    assert unknown.status_code == 404 and unknown.json()["status"] == 404


def test_sample_cities_are_in_the_hourly_table(local_stack: LocalStack):
    w = local_stack.stack.workspace_client()
    table = w.tables.get("climatelake.silver.weather_hourly")
    import polars as pl

    frame = pl.scan_delta(
        table.storage_location, storage_options=storage_options(local_stack.stack.settings())
    )
    counts = frame.group_by("city_id").len().collect().sort("city_id")
    days = (dt.date(2024, 1, 31) - dt.date(2024, 1, 1)).days + 1
    assert counts.to_dicts() == [{"city_id": c, "len": days * 24} for c in SAMPLE_CITIES]
