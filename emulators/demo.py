"""The ``make run`` demo: sample data in, one request through the gateway, its result out."""

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
