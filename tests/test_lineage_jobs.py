"""Job-run lineage: the real weather bundle jobs, deployed and run by product code through databricks-sdk on
Azurite + Sail + the workspace stand-in, give bronze → silver → gold → results lineage with the job and run
that made each edge — read back through the lineage-tracking API (``w.api_client.do``, as users call it) and
``system.access.table_lineage`` through SQL statements. The jobs hold no code for it: each task reaches Sail
through the runner's Spark Connect proxy, which reads the plans they send."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from databricks.sdk import WorkspaceClient

from climatelake import bundle
from climatelake.bootstrap import bootstrap, run_job
from emulators.stack import Stack

pytestmark = pytest.mark.stack
C = "climatelake"
REQUEST_ID = "lineage-req-1"
RESULT = f"{C}.results.request_lineage_req_1"


@dataclass
class Runs:
    w: WorkspaceClient
    ingest_job: int
    ingest_run: int
    request_job: int
    request_run: int


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runs]:
    stack = Stack(Path(tmp_path_factory.mktemp("lineage_jobs")), in_memory=True)
    try:
        stack.start(only=("azurite", "sail", "workspace"))
        settings, w = stack.settings(), stack.workspace_client()
        done = bootstrap(settings, w, [1, 2], dt.date(2024, 1, 1), dt.date(2024, 1, 2))
        request = run_job(
            w,
            settings.weather_job_name,
            request_id=REQUEST_ID,
            city_ids="1",
            start_date="2024-01-01",
            end_date="2024-01-02",
        )
        yield Runs(
            w,
            bundle.job_id_by_name(w, settings.ingest_job_name),
            done["ingest_run_id"],
            bundle.job_id_by_name(w, settings.weather_job_name),
            request.run_id,
        )
    finally:
        stack.stop()


def table_lineage(w: WorkspaceClient, table: str) -> dict:
    query = {"table_name": table, "include_entity_lineage": "true"}
    return w.api_client.do("GET", "/api/2.0/lineage-tracking/table-lineage", query=query)


def by_name(entries: list[dict]) -> dict[str, dict]:
    return {
        "{catalog_name}.{schema_name}.{name}".format(**e["tableInfo"]): e for e in entries if "tableInfo" in e
    }


def test_medallion_lineage_with_job_and_run(runs: Runs) -> None:
    ingest = [{"workspace_id": 0, "job_id": runs.ingest_job, "job_run_id": runs.ingest_run}]
    silver = table_lineage(runs.w, f"{C}.silver.weather_hourly")
    up, down = by_name(silver["upstreams"]), by_name(silver["downstreams"])
    assert set(up) == {f"{C}.bronze.weather_hourly_raw"}
    assert up[f"{C}.bronze.weather_hourly_raw"]["jobInfos"] == ingest
    assert {f"{C}.gold.weather_daily", RESULT} <= set(down)
    assert down[f"{C}.gold.weather_daily"]["jobInfos"] == ingest
    assert down[RESULT]["jobInfos"] == [
        {"workspace_id": 0, "job_id": runs.request_job, "job_run_id": runs.request_run}
    ]
    bronze = table_lineage(runs.w, f"{C}.bronze.weather_hourly_raw")
    assert set(by_name(bronze["upstreams"])) == set()  # raw CSV files are no tables
    assert set(by_name(bronze["downstreams"])) == {
        f"{C}.silver.weather_hourly",
        f"{C}.silver.weather_quarantine",
    }
    gold = table_lineage(runs.w, f"{C}.gold.weather_daily")
    assert set(by_name(gold["upstreams"])) == {f"{C}.silver.weather_hourly"}
    assert set(by_name(gold["downstreams"])) == {f"{C}.gold.city_coverage"}  # computed from the daily rows
    assert by_name(gold["downstreams"])[f"{C}.gold.city_coverage"]["jobInfos"] == ingest


def test_system_table_holds_job_rows(runs: Runs) -> None:
    answer = runs.w.statement_execution.execute_statement(
        statement="SELECT source_table_full_name, target_table_full_name, entity_type, entity_id, "
        "entity_run_id FROM system.access.table_lineage WHERE entity_type = 'JOB' "
        "ORDER BY target_table_full_name, source_table_full_name",
        warehouse_id="local",
    )
    assert answer.status.state.value == "SUCCEEDED", answer.status
    ingest = (str(runs.ingest_job), str(runs.ingest_run))
    request = (str(runs.request_job), str(runs.request_run))
    rows = {(r[0], r[1], r[2], r[3], r[4]) for r in answer.result.data_array}
    assert rows == {
        (f"{C}.gold.weather_daily", f"{C}.gold.city_coverage", "JOB", *ingest),
        (f"{C}.silver.weather_hourly", f"{C}.gold.weather_daily", "JOB", *ingest),
        (f"{C}.silver.weather_hourly", RESULT, "JOB", *request),
        (f"{C}.bronze.weather_hourly_raw", f"{C}.silver.weather_hourly", "JOB", *ingest),
        (f"{C}.bronze.weather_hourly_raw", f"{C}.silver.weather_quarantine", "JOB", *ingest),
    }
