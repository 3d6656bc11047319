"""Gateway v1 through Flask's test client, against the real local stack (Azurite, catalog, pipeline)."""

from __future__ import annotations

import csv
import gzip
import io
import json
import uuid

import polars as pl
import pytest

from climatelake import sample_data
from climatelake.keys import ROLES, ApiKeyStore
from climatelake.status import RequestStatusStore
from flask_gateway import create_app
from flask_gateway.openapi import openapi_path
from tests.conftest import SAMPLE_CITIES, LocalStack

pytestmark = pytest.mark.stack


@pytest.fixture(scope="module")
def keys(local_stack: LocalStack) -> dict[str, str]:
    """One key per role, plus a second submitter to check that callers cannot see each other's requests."""
    store = ApiKeyStore(local_stack.stack.connection_string)
    made = {role: store.create(role, f"test {role}")[0] for role in ROLES}
    made["other"] = store.create("submitter", "someone else")[0]
    return made


@pytest.fixture(scope="module")
def app(local_stack: LocalStack):
    with pytest.MonkeyPatch.context() as patch:
        for name, value in local_stack.stack.env.items():
            patch.setenv(name, value)
        app = create_app(local_stack.stack.settings(), TESTING=True)
        yield app


@pytest.fixture()
def client(app):
    return app.test_client()


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def raw_rows(local_stack: LocalStack) -> pl.DataFrame:
    container = local_stack.stack.settings()
    from climatelake.storage import blob_service

    raw = blob_service(container).get_container_client("raw")
    rows = []
    for blob in raw.list_blobs(name_starts_with="weather/"):
        rows += sample_data.csv_to_rows(raw.download_blob(blob.name).readall())
    return pl.DataFrame(rows).rename(str.lower).with_columns(pl.col("date").str.to_date())


def submit(client, key: str, **body) -> str:
    answer = client.post("/v1/requests", json=body, headers=auth(key))
    assert answer.status_code == 202, answer.get_json()
    return answer.get_json()["request_id"]


# --- authentication and roles (R6 matrix) -------------------------------------------------------
ENDPOINTS = [  # method, path, the weakest role that may call it
    ("GET", "/v1/requests", "reader"),
    ("GET", "/v1/requests/20990101T000000000Z-000000000000", "reader"),
    ("GET", "/v1/requests/20990101T000000000Z-000000000000/results", "reader"),
    ("POST", "/v1/requests", "submitter"),
    ("PUT", "/v1/manifests/matrix-probe.json", "submitter"),
    ("GET", "/v1/weather/hourly?city_id=1&start_date=2024-01-01&end_date=2024-01-01", "reader"),
    ("GET", "/v1/weather/daily?city_id=1&start_date=2024-01-01&end_date=2024-01-01", "reader"),
    ("GET", "/v1/cities", "reader"),
    ("GET", "/v1/requests/20990101T000000000Z-000000000000/lineage", "reader"),
    ("GET", "/v1/tables/climatelake.gold.hourly_weather/lineage", "reader"),
    ("GET", "/v1/employees", "reader"),
    ("GET", "/v1/employees/1", "reader"),
]


@pytest.mark.parametrize("method, path, needed", ENDPOINTS)
def test_role_matrix(client, keys, method, path, needed):
    assert client.open(path, method=method).status_code == 401
    assert client.open(path, method=method, headers=auth("clk_000000000000_nope")).status_code == 401
    assert client.open(path, method=method, headers={"X-API-Key": "garbage"}).status_code == 401
    for role in ROLES:
        # A body that is invalid on purpose: authorisation is decided before validation.
        status = client.open(
            path, method=method, headers=auth(keys[role]), data=b"", content_type="text/plain"
        ).status_code
        allowed = ROLES.index(role) >= ROLES.index(needed)
        assert (status == 403) != allowed, (role, status)
        assert status != 401


def test_revoked_key_is_refused(local_stack: LocalStack, client):
    store = ApiKeyStore(local_stack.stack.connection_string)
    key, record = store.create("reader", "to revoke")
    store.revoke(record.key_id)
    assert client.get("/v1/cities", headers=auth(key)).status_code == 401


# --- requests -------------------------------------------------------------------------------------
def test_daily_request_matches_an_independent_aggregate(local_stack, client, keys):
    request_id = submit(
        client,
        keys["submitter"],
        city_ids=[2],
        start_date="2024-01-10",
        end_date="2024-01-12",
        metrics=["temp", "precipitation"],
        granularity="daily",
    )
    assert local_stack.wait_for_request_event(request_id)["eventType"] == "Climatelake.Request.Succeeded"
    rows = client.get(f"/v1/requests/{request_id}/results", headers=auth(keys["submitter"])).get_json()[
        "rows"
    ]
    hourly = raw_rows(local_stack).filter(
        (pl.col("city_id") == 2) & pl.col("date").is_between(pl.date(2024, 1, 10), pl.date(2024, 1, 12))
    )
    expected = (
        hourly.group_by("date")
        .agg(
            pl.col("temp").min().alias("temp_min"),
            pl.col("temp").max().alias("temp_max"),
            pl.col("temp").mean().alias("temp_mean"),
            pl.col("precipitation").sum().alias("precipitation_sum"),
            pl.len().alias("hours_observed"),
        )
        .sort("date")
    )
    assert [r["date"] for r in rows] == ["2024-01-10", "2024-01-11", "2024-01-12"]
    for got, want in zip(rows, expected.to_dicts(), strict=True):
        assert got["city_id"] == 2 and got["hours_observed"] == want["hours_observed"] == 24
        assert got["temp_min"] == want["temp_min"] and got["temp_max"] == want["temp_max"]
        assert got["temp_mean"] == pytest.approx(want["temp_mean"], abs=0.005)
        assert got["precipitation_sum"] == pytest.approx(want["precipitation_sum"], abs=0.005)


def test_a_request_without_data_succeeds_with_zero_rows_and_says_so(local_stack, client, keys):
    request_id = submit(
        client, keys["submitter"], city_ids=[2, 987], start_date="2024-01-30", end_date="2024-02-02"
    )
    assert local_stack.wait_for_request_event(request_id)["eventType"] == "Climatelake.Request.Succeeded"
    body = client.get(f"/v1/requests/{request_id}/results", headers=auth(keys["submitter"])).get_json()
    assert body["row_count"] == len(body["rows"]) == 48  # city 2 has data up to 2024-01-31
    assert body["coverage"] == [
        {"city_id": 2, "hours_expected": 96, "hours_present": 48, "completeness": 0.5},
        {"city_id": 987, "hours_expected": 96, "hours_present": 0, "completeness": 0.0},
    ]
    empty = submit(client, keys["submitter"], city_ids=[987], start_date="2024-01-01", end_date="2024-01-01")
    assert local_stack.wait_for_request_event(empty)["eventType"] == "Climatelake.Request.Succeeded"
    body = client.get(f"/v1/requests/{empty}/results", headers=auth(keys["submitter"])).get_json()
    assert body["row_count"] == 0 and body["rows"] == [] and "zero rows" in body["notice"]


def test_idempotency_key_replays_and_conflicts(client, keys):
    headers = {**auth(keys["submitter"]), "Idempotency-Key": f"k-{uuid.uuid4()}"}
    body = {"city_ids": [1], "start_date": "2024-01-03", "end_date": "2024-01-03"}
    first = client.post("/v1/requests", json=body, headers=headers)
    again = client.post("/v1/requests", json=body, headers=headers)
    assert first.status_code == again.status_code == 202
    assert first.get_json()["request_id"] == again.get_json()["request_id"]
    other = client.post("/v1/requests", json={**body, "end_date": "2024-01-04"}, headers=headers)
    assert other.status_code == 409 and other.content_type == "application/problem+json"
    # Another caller using the same key string gets their own request.
    theirs = client.post("/v1/requests", json=body, headers={**headers, **auth(keys["other"])})
    assert theirs.get_json()["request_id"] != first.get_json()["request_id"]


def test_results_pages_formats_and_not_ready(local_stack, client, keys):
    key = keys["submitter"]
    request_id = submit(client, key, city_ids=[1, 3], start_date="2024-01-20", end_date="2024-01-24")
    assert local_stack.wait_for_request_event(request_id)["eventType"] == "Climatelake.Request.Succeeded"
    url = f"/v1/requests/{request_id}/results"
    whole = client.get(url, headers=auth(key)).get_json()
    assert whole["row_count"] == 240 and len(whole["rows"]) == 240 and whole["next_cursor"] is None
    pages, cursor = [], None
    while True:
        page = client.get(
            url, query_string={"limit": 70, **({"cursor": cursor} if cursor else {})}, headers=auth(key)
        ).get_json()
        pages += page["rows"]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert pages == whole["rows"]  # neither skips nor repeats
    as_csv = client.get(url, headers={**auth(key), "Accept": "text/csv"})
    assert as_csv.content_type.startswith("text/csv")
    parsed = list(csv.DictReader(io.StringIO(as_csv.get_data(as_text=True))))
    assert len(parsed) == 240 and parsed[0]["date"] == whole["rows"][0]["date"]
    as_parquet = client.get(url, query_string={"format": "parquet"}, headers=auth(key))
    assert pl.read_parquet(io.BytesIO(as_parquet.get_data())).height == 240
    assert client.get(url, query_string={"cursor": "bogus"}, headers=auth(key)).status_code == 400

    store = RequestStatusStore(local_stack.stack.connection_string)
    key_id = key.split("_")[1]
    pending = f"20990101T000000000Z-{uuid.uuid4().hex[:12]}"
    store.create(pending, "job_started", submitted_by=key_id)
    not_ready = client.get(f"/v1/requests/{pending}/results", headers=auth(key))
    assert not_ready.status_code == 409 and "not ready" in not_ready.get_json()["detail"]


def test_listing_is_newest_first_paginated_and_private(client, keys):
    ids = [
        submit(client, keys["other"], city_ids=[1], start_date="2024-01-05", end_date="2024-01-05")
        for _ in range(3)
    ]
    listed, cursor = [], None
    while True:
        page = client.get(
            "/v1/requests",
            query_string={"limit": 2, **({"cursor": cursor} if cursor else {})},
            headers=auth(keys["other"]),
        ).get_json()
        listed += [r["request_id"] for r in page["requests"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert listed[:3] == ids[::-1] and len(listed) == len(set(listed))
    # Someone else's request is not found (not forbidden); an admin sees it.
    assert client.get(f"/v1/requests/{ids[0]}", headers=auth(keys["submitter"])).status_code == 404
    assert client.get(f"/v1/requests/{ids[0]}", headers=auth(keys["admin"])).status_code == 200


def test_request_status_revalidates_with_its_etag(local_stack, client, keys):
    """A poller sending the status's ETag back gets a bodiless 304 until the status moves (the console's
    polling does so); another caller still gets 404, ETag or not."""
    key = keys["submitter"]
    store = RequestStatusStore(local_stack.stack.connection_string)
    request_id = f"20990101T000000000Z-{uuid.uuid4().hex[:12]}"
    store.create(request_id, "manifest_written", submitted_by=key.split("_")[1])
    url = f"/v1/requests/{request_id}"
    first = client.get(url, headers=auth(key))
    etag = first.headers["ETag"]
    assert first.status_code == 200 and etag.startswith('W/"')
    assert "no-cache" in first.headers["Cache-Control"]
    same = client.get(url, headers={**auth(key), "If-None-Match": etag})
    assert same.status_code == 304 and same.data == b"" and same.headers["ETag"] == etag
    assert client.get(url, headers={**auth(key), "If-None-Match": '"other"'}).status_code == 200
    assert client.get(url, headers={**auth(keys["other"]), "If-None-Match": etag}).status_code == 404
    store.advance(request_id, "job_started", run_id=1)
    moved = client.get(url, headers={**auth(key), "If-None-Match": etag})
    assert moved.status_code == 200 and moved.get_json()["status"] == "job_started"
    assert moved.headers["ETag"] != etag


def test_table_lineage_of_a_result_reads_unity_catalog_lineage(local_stack, client, keys):
    """A request's result table: its upstream tables with the job run that wrote it, the same edge seen
    from the upstream side, and a row of column lineage per column of the table (from Unity Catalog)."""
    key = keys["reader"]
    request_id = submit(
        client, keys["submitter"], city_ids=[2], start_date="2024-01-03", end_date="2024-01-03"
    )
    assert local_stack.wait_for_request_event(request_id)["eventType"] == "Climatelake.Request.Succeeded"
    record = client.get(f"/v1/requests/{request_id}", headers=auth(keys["submitter"])).get_json()
    table = record["result_table"]
    run_id = client.get(f"/v1/requests/{request_id}/lineage", headers=auth(keys["submitter"])).get_json()[
        "job_run"
    ]["run_id"]
    answer = client.get(f"/v1/tables/{table}/lineage", headers=auth(key))
    assert answer.status_code == 200, answer.get_json()
    lineage = answer.get_json()
    assert lineage["table"] == table and lineage["upstreams"], lineage
    assert all(u["table"].startswith("climatelake.") for u in lineage["upstreams"])
    assert any(run_id in [j["job_run_id"] for j in u["jobs"]] for u in lineage["upstreams"]), lineage
    columns = local_stack.stack.workspace_client().tables.get(table).columns
    assert [c["name"] for c in lineage["columns"]] == [c.name for c in columns]
    upstream = lineage["upstreams"][0]["table"]
    back = client.get(f"/v1/tables/{upstream}/lineage", headers=auth(key)).get_json()
    assert table in [d["table"] for d in back["downstreams"]]
    bad = client.get("/v1/tables/not-a-name/lineage", headers=auth(key))
    assert bad.status_code == 400 and bad.get_json()["invalid_fields"] == ["table_name"]
    assert client.get("/v1/tables/other.gold.cities/lineage", headers=auth(key)).status_code == 404
    assert client.get("/v1/tables/climatelake.gold.no_such/lineage", headers=auth(key)).status_code == 404


def test_manifest_upload_runs_the_pipeline(local_stack, client, keys):
    name = f"put-{uuid.uuid4().hex[:10]}"
    manifest = {"manifest_version": 1, "city_ids": [3], "start_date": "2024-01-02", "end_date": "2024-01-02"}
    answer = client.put(
        f"/v1/manifests/{name}.json", data=json.dumps(manifest), headers=auth(keys["submitter"])
    )
    assert answer.status_code == 201 and answer.headers["Location"] == f"/v1/requests/{name}"
    assert local_stack.wait_for_request_event(name)["data"]["row_count"] == 24
    again = client.put(f"/v1/manifests/{name}.json", data=b"{}", headers=auth(keys["submitter"]))
    assert again.status_code == 409
    assert client.put("/v1/manifests/../x.json", data=b"{}", headers=auth(keys["submitter"])).status_code in (
        400,
        404,
    )
    assert (
        client.put("/v1/manifests/bad name.json", data=b"{}", headers=auth(keys["submitter"])).status_code
        == 400
    )


# --- synchronous weather queries ------------------------------------------------------------------
def test_hourly_weather_rows_and_columns(local_stack, client, keys):
    query = {"city_id": 3, "start_date": "2024-01-15", "end_date": "2024-01-16", "metrics": "temp,humidity"}
    rows = client.get("/v1/weather/hourly", query_string=query, headers=auth(keys["reader"])).get_json()
    expected = (
        raw_rows(local_stack)
        .filter(
            (pl.col("city_id") == 3) & pl.col("date").is_between(pl.date(2024, 1, 15), pl.date(2024, 1, 16))
        )
        .sort("date", "hour")
    )
    assert rows["units"] == {"time": "iso8601", "temp": "°C", "humidity": "%"}
    assert [r["temp"] for r in rows["rows"]] == expected["temp"].to_list()
    assert rows["rows"][0]["time"] == "2024-01-15T00:00" and rows["rows"][-1]["time"] == "2024-01-16T23:00"
    columns = client.get(
        "/v1/weather/hourly", query_string={**query, "shape": "columns"}, headers=auth(keys["reader"])
    ).get_json()
    assert columns["hourly"]["humidity"] == expected["humidity"].to_list()
    assert columns["hourly_units"]["temp"] == "°C" and len(columns["hourly"]["time"]) == 48


def test_weather_answers_revalidate_with_etag_and_compress_on_request(client, keys):
    query = {"city_id": 2, "start_date": "2024-01-01", "end_date": "2024-01-31"}
    plain = client.get("/v1/weather/hourly", query_string=query, headers=auth(keys["reader"]))
    zipped = client.get(
        "/v1/weather/hourly", query_string=query, headers={**auth(keys["reader"]), "Accept-Encoding": "gzip"}
    )
    assert zipped.headers["Content-Encoding"] == "gzip" and len(zipped.data) < len(plain.data) / 3
    assert json.loads(gzip.decompress(zipped.data)) == plain.get_json()
    etag = {"If-None-Match": plain.headers["ETag"]}
    assert (
        client.get(
            "/v1/weather/hourly", query_string=query, headers={**auth(keys["reader"]), **etag}
        ).status_code
        == 304
    )
    other = client.get("/v1/weather/daily", query_string=query, headers={**auth(keys["reader"]), **etag})
    assert other.status_code == 200 and other.headers["ETag"] != plain.headers["ETag"]
    assert client.get("/v1/weather/hourly", query_string=query, headers=etag).status_code == 401


def test_daily_weather_and_cities(client, keys):
    daily = client.get(
        "/v1/weather/daily",
        query_string={"city_id": 1, "start_date": "2024-01-01", "end_date": "2024-01-31"},
        headers=auth(keys["reader"]),
    )
    body = daily.get_json()
    assert len(body["rows"]) == 31 and all(r["hours_observed"] == 24 for r in body["rows"])
    assert all(r["temp_min"] <= r["temp_mean"] <= r["temp_max"] for r in body["rows"])
    cities = client.get("/v1/cities", headers=auth(keys["reader"])).get_json()["cities"]
    assert [c["city_id"] for c in cities] == SAMPLE_CITIES
    assert cities[0] == {
        "city_id": 1,
        "first_date": "2024-01-01",
        "last_date": "2024-01-31",
        "hours": 744,
        "hours_expected": 744,
        "completeness": 1.0,
        "hours_observed": dict.fromkeys(
            ("temp", "wind_speed", "precipitation", "humidity", "description"), 744
        ),
    }


@pytest.mark.parametrize(
    "query, status, field",
    [
        ({"city_id": 999, "start_date": "2024-01-01", "end_date": "2024-01-02"}, 404, "city_id"),
        ({"city_id": 1, "start_date": "2024-01-05", "end_date": "2024-01-01"}, 400, "end_date"),
        ({"city_id": 1, "start_date": "2022-01-01", "end_date": "2024-01-01"}, 400, "start_date"),
        (
            {"city_id": 1, "start_date": "2024-01-01", "end_date": "2024-01-02", "metrics": "pressure"},
            400,
            "metrics",
        ),
        ({"city_id": "x", "start_date": "2024-01-01", "end_date": "2024-01-02"}, 400, "city_id"),
        ({"city_id": 1, "start_date": "yesterday", "end_date": "2024-01-02"}, 400, "start_date"),
        ({"start_date": "2024-01-01", "end_date": "2024-01-02"}, 400, "query"),
        ({"city_id": 1, "start_date": "2024-01-01", "end_date": "2024-01-02", "color": "red"}, 400, "color"),
    ],
)
def test_weather_query_errors_name_the_field(client, keys, query, status, field):
    answer = client.get("/v1/weather/hourly", query_string=query, headers=auth(keys["reader"]))
    assert answer.status_code == status and answer.content_type == "application/problem+json"
    assert field in answer.get_json()["invalid_fields"]


# --- errors, limits, headers, audit, docs ---------------------------------------------------------
def test_request_body_errors(client, keys, app):
    headers = auth(keys["submitter"])
    malformed = client.post("/v1/requests", data=b"{nope", content_type="application/json", headers=headers)
    assert malformed.status_code == 400 and "not valid JSON" in malformed.get_json()["detail"]
    wrong_type = client.post("/v1/requests", data=b"city_ids=1", content_type="text/plain", headers=headers)
    assert wrong_type.status_code == 415
    too_big = client.post(
        "/v1/requests",
        data=b"x" * (app.config["MAX_CONTENT_LENGTH"] + 1),
        content_type="application/json",
        headers=headers,
    )
    assert too_big.status_code == 413 and too_big.content_type == "application/problem+json"
    invalid = client.post(
        "/v1/requests",
        json={"city_ids": [0], "start_date": "2024-01-01", "end_date": "2024-01-02", "metrics": ["pressure"]},
        headers=headers,
    )
    assert invalid.status_code == 400
    assert set(invalid.get_json()["invalid_fields"]) == {"city_ids.0", "metrics.0"}


def test_rate_limit_answers_429_with_retry_after(local_stack, keys):
    with pytest.MonkeyPatch.context() as patch:
        for name, value in local_stack.stack.env.items():
            patch.setenv(name, value)
        limited = create_app(local_stack.stack.settings(), RATE_LIMIT_PER_MINUTE=60, RATE_LIMIT_BURST=3)
        client = limited.test_client()
        statuses = [client.get("/v1/cities", headers=auth(keys["reader"])).status_code for _ in range(4)]
        assert statuses == [200, 200, 200, 429]
        answer = client.get("/v1/cities", headers=auth(keys["reader"]))
        assert answer.status_code == 429 and 1 <= int(answer.headers["Retry-After"]) <= 2
        assert client.get("/v1/cities", headers=auth(keys["admin"])).status_code == 200  # per key


def test_security_headers_and_audit_without_secrets(app, client, keys):
    answer = client.get("/v1/cities", headers=auth(keys["reader"]))
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert answer.headers["Cache-Control"] == "no-store"
    assert "Access-Control-Allow-Origin" not in answer.headers  # CORS off by default
    client.get("/v1/cities", headers=auth("clk_000000000000_wrong"))
    audit = app.extensions["audit"]
    assert audit.flush(timeout=10)
    import datetime as dt

    records = audit.query(dt.datetime.now(dt.UTC).strftime("%Y%m%d"))
    ours = [r for r in records if r["path"] == "/v1/cities"]
    assert {r["status"] for r in ours} >= {200, 401}
    reader_id = keys["reader"].split("_")[1]
    assert any(r["key_id"] == reader_id and r["role"] == "reader" for r in ours)
    dumped = json.dumps([dict(r) for r in records], default=str)
    assert all(key.split("_", 2)[2] not in dumped for key in keys.values())


def test_openapi_documents_every_route(app, client):
    spec = client.get("/openapi.json").get_json()
    assert spec["openapi"].startswith("3.")
    documented = {(path, method) for path, methods in spec["paths"].items() for method in methods}
    for rule in app.url_map.iter_rules():
        # the web console's page and files (console.*) are HTML and scripts, not the JSON API
        if rule.endpoint in ("openapi.openapi_json", "openapi.docs") or rule.endpoint.startswith("console."):
            continue
        path = openapi_path(str(rule.rule))
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert (path, method.lower()) in documented
    create = spec["paths"]["/v1/requests"]["post"]
    assert create["requestBody"]["content"]["application/json"]["schema"]["required"] == [
        "city_ids",
        "start_date",
        "end_date",
    ]
    assert "429" in create["responses"] and "(role: submitter)" in create["summary"]
    assert client.get("/docs").status_code == 200


def test_readyz(client):
    answer = client.get("/readyz")
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["checks"] == {"storage": "ok", "workspace": "ok", "catalog": "ok"}


def test_callback_url_receives_the_completion_event(local_stack, client, keys, event_sink):
    request_id = submit(
        client,
        keys["submitter"],
        city_ids=[1],
        start_date="2024-01-06",
        end_date="2024-01-06",
        callback_url=event_sink.url,
    )
    event = event_sink.wait_for(lambda e: e["data"].get("request_id") == request_id, timeout=120)
    assert event["eventType"] == "Climatelake.Request.Succeeded" and event["data"]["row_count"] == 24
    assert "callback_url" not in event["data"]
    status = client.get(f"/v1/requests/{request_id}", headers=auth(keys["submitter"])).get_json()
    assert "callback_url" not in status
