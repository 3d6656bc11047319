"""The ``make run`` demo: sample data in, one request through the gateway, its result out; the Menu/Dinner
lineage demo; sample employees encrypted, tagged and masked; a gold table shared with a demo recipient.

It runs again on kept state (``make run`` twice): keys, shares and tables that exist are reused; the demo
recipient is made anew, because an activation link gives its profile only once."""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path

import requests

from emulators.common.event_sink import EventSink

ROOT = Path(__file__).resolve().parent.parent


def run(stack, sink: EventSink, cities: list[int], start: dt.date, end: dt.date) -> None:
    began = time.monotonic()
    print(f"Loading sample weather for cities {cities}, {start} … {end} …", flush=True)
    info = stack.bootstrap(cities, start, end)
    print(
        f"  deployed jobs {info['jobs']}; ingest run {info['ingest_run_id']} "
        f"({time.monotonic() - began:.1f} s)"
    )
    headers = {"Authorization": f"Bearer {stack.api_key}"}
    gateway = stack.url("gateway")
    body = {
        "city_ids": cities[:2],
        "start_date": start.isoformat(),
        "end_date": (start + dt.timedelta(days=6)).isoformat(),
        "metrics": ["temp", "precipitation", "description"],
    }
    print(f"POST {gateway}/v1/requests {json.dumps(body)}", flush=True)
    answer = requests.post(f"{gateway}/v1/requests", json=body, headers=headers, timeout=30)
    answer.raise_for_status()
    request_id = answer.json()["request_id"]
    print(f"  202 Accepted: request {request_id}; waiting for its completion event …", flush=True)
    event = sink.wait_for(lambda e: e["data"].get("request_id") == request_id, timeout=300)
    print(f"  the subscriber received {event['eventType']}")
    status = requests.get(f"{gateway}/v1/requests/{request_id}", headers=headers, timeout=30).json()
    print(f"GET /v1/requests/{request_id} → {status['status']}")
    if status["status"] == "succeeded":
        result = requests.get(
            f"{gateway}/v1/requests/{request_id}/results", headers=headers, timeout=60
        ).json()
        print(
            f"GET /v1/requests/{request_id}/results → {result['row_count']} rows from {result['table']} "
            f"v{result['delta_version']}; first rows:"
        )
        for row in result["rows"][:5]:
            print(f"  {row}")
    lineage_demo(stack)
    employees_demo(stack)
    sharing_demo(stack)


def lineage_demo(stack) -> None:
    """The classic Unity Catalog lineage demo (Menu and Dinner) through the SQL statements API."""
    from climatelake.sql_runner import run_sql_file

    settings = stack.settings()
    w = stack.workspace_client()
    print("Running sql/lineage_demo.sql through the SQL statements API …", flush=True)
    run_sql_file(
        w, ROOT / "sql" / "lineage_demo.sql", catalog=settings.catalog, warehouse_id=settings.sql_warehouse_id
    )
    column = w.api_client.do(
        "GET",
        "/api/2.0/lineage-tracking/column-lineage",
        query={"table_name": f"{settings.catalog}.lineagedemo.dinner", "column_name": "full_menu"},
    )
    sources = sorted(f"{c['table_name']}.{c['name']}" for c in column.get("upstream_cols", []))
    print(f"  lineage: dinner.full_menu ← {', '.join(sources)}")


def employees_demo(stack, count: int = 50) -> None:
    """Sample employees → ``silver.employees`` with email, phone and salary encrypted (keys in the
    workspace secret scope), then what the gateway shows an admin: masks unless the role is pii_reader."""
    from databricks.sdk.errors import ResourceAlreadyExists

    from climatelake import employees, pii
    from climatelake.bootstrap import run_job
    from climatelake.keys import ApiKeyStore
    from climatelake.settings import AZURITE_ACCOUNT
    from climatelake.storage import blob_service

    settings, w = stack.settings(), stack.workspace_client()
    print(f"Loading {count} sample employees (PII encrypted, tagged, masked) …", flush=True)
    try:
        w.secrets.create_scope("climatelake")
    except ResourceAlreadyExists:
        pass
    pii.WorkspaceSecretsKeys(w).ensure_keys()  # new random keys on a fresh stack; kept state keeps its own
    raw = blob_service(settings).get_container_client(settings.raw_container)
    rows = employees.generate_employees(count)
    raw.upload_blob("employees/demo.csv", employees.rows_to_csv(rows), overwrite=True)
    run_job(w, "climatelake_employees", raw_blob_endpoint=f"{stack.url('blob')}/{AZURITE_ACCOUNT}")
    reader_key, _ = ApiKeyStore(stack.connection_string).create("reader", "make run demo reader")
    answer = requests.get(
        f"{stack.url('gateway')}/v1/employees",
        params={"limit": 2},
        headers={"Authorization": f"Bearer {reader_key}"},
        timeout=30,
    )
    answer.raise_for_status()
    for employee in answer.json()["employees"]:
        print(f"  GET /v1/employees as a reader → {employee}")
    print("  (a pii_reader or admin key — like the one below — sees the decrypted values)")


def sharing_demo(stack) -> None:
    """Share ``gold.weather_daily`` with a demo recipient through SQL; write the recipient's profile file."""
    from climatelake.sql_runner import run_sql

    settings, w = stack.settings(), stack.workspace_client()
    share, recipient = "climatelake_demo", "demo_recipient"
    print(f"Sharing {settings.catalog}.gold.weather_daily with recipient {recipient} (Delta Sharing) …")
    shared = {s.name for s in w.shares.list_shares()}
    statements = (
        []
        if share in shared
        else [
            f"CREATE SHARE {share} COMMENT 'make run demo'",
            f"ALTER SHARE {share} ADD TABLE {settings.catalog}.gold.weather_daily AS weather.daily "
            "WITH HISTORY",
        ]
    )
    if recipient in {r.name for r in w.recipients.list()}:
        statements.append(f"DROP RECIPIENT {recipient}")
    statements += [f"CREATE RECIPIENT {recipient}", f"GRANT SELECT ON SHARE {share} TO RECIPIENT {recipient}"]
    for statement in statements:
        run_sql(w, statement, warehouse_id=settings.sql_warehouse_id)
    code = w.recipients.get(recipient).activation_url.rsplit("?", 1)[1]
    token = w.recipient_activation.retrieve_token(code)
    profile = stack.state_dir / "demo-recipient.share"
    profile.write_text(
        json.dumps(
            {
                "shareCredentialsVersion": token.share_credentials_version,
                "endpoint": token.endpoint,
                "bearerToken": token.bearer_token,
                "expirationTime": token.expiration_time,
            }
        )
    )
    profile.chmod(0o600)
    print(
        f"  profile: {profile}\n  read it: pip install delta-sharing, then "
        f"delta_sharing.load_as_pandas('{profile}#{share}.weather.daily')"
    )
