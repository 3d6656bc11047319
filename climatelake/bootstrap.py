"""Bring an empty environment to a working one: storage, catalog, jobs, sample data, the hourly table.

Idempotent: running it again changes nothing but re-uploading the same sample files and re-running ingest.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from databricks.sdk import WorkspaceClient
from databricks.sdk.service.jobs import RunResultState

from climatelake import bundle, cities, sample_data, table_docs
from climatelake.settings import Settings
from climatelake.status import RequestStatusStore
from climatelake.storage import all_containers, blob_service, ensure_containers

log = logging.getLogger("climatelake.bootstrap")


def prepare_storage(settings: Settings) -> None:
    ensure_containers(blob_service(settings), *all_containers(settings))
    RequestStatusStore(settings.storage_connection_string, settings.requests_table).ensure_table()


def upload_sample_weather(
    settings: Settings, cities: list[int], start: dt.date, end: dt.date, seed: int = 0
) -> list[str]:
    """Generate hourly weather and upload one CSV per city into the raw container; returns blob names."""
    container = blob_service(settings).get_container_client(settings.raw_container)
    names = []
    for city in cities:
        rows = sample_data.generate_hourly([city], start, end, seed=seed)
        name = f"weather/city={city}/{start.isoformat()}_{end.isoformat()}.csv"
        container.upload_blob(name, sample_data.rows_to_csv(rows), overwrite=True)
        names.append(name)
    return names


REGISTRY_BLOB = "reference/cities.csv"
"""Where the city registry lives in the raw container (bundle variable ``registry_file``); the ingest job's
gold task publishes it as ``gold.cities``."""


def upload_city_registry(settings: Settings) -> str:
    """Upload the packaged registry (``climatelake/cities.csv``) unless the storage holds one already:
    a registry a user edited in storage is theirs, and bootstrap never overwrites it."""
    blob = blob_service(settings).get_blob_client(settings.raw_container, REGISTRY_BLOB)
    if not blob.exists():
        blob.upload_blob(cities.DATA.read_bytes())
    return REGISTRY_BLOB


def upload_weather_files(settings: Settings, files: dict[str, bytes], prefix: str = "weather/") -> list[str]:
    """Upload generated raw files (``sample_data.weather_files``) under ``prefix`` in the raw container.

    The ingest job lists every ``*.csv`` below ``weather/`` at any depth (``bronze_weather.listed``: names
    starting with ``_`` or ``.`` below the root are skipped), so the layout ``city=<id>/…`` is a convention
    of the sample data, not a requirement."""
    container = blob_service(settings).get_container_client(settings.raw_container)
    names = []
    for name, data in files.items():
        container.upload_blob(prefix + name, data, overwrite=True)
        names.append(prefix + name)
    return names


def run_job(
    w: WorkspaceClient, name: str, timeout: dt.timedelta = dt.timedelta(minutes=10), **parameters: str
):
    """Run a deployed job and wait; raise if it did not succeed (the SDK's waiter returns on FAILED too)."""
    job_id = bundle.job_id_by_name(w, name)
    run = w.jobs.run_now(job_id, job_parameters=parameters or None).result(timeout=timeout)
    if run.state is None or run.state.result_state != RunResultState.SUCCESS:
        message = run.state.state_message if run.state else "no state"
        raise RuntimeError(f"job {name} run {run.run_id} did not succeed: {message}")
    return run


def bootstrap(
    settings: Settings,
    w: WorkspaceClient,
    city_ids: list[int],
    start: dt.date,
    end: dt.date,
    target: str = "local",
) -> dict[str, Any]:
    prepare_storage(settings)
    jobs = bundle.deploy(
        w, target, {"storage_account": settings.storage_account, "catalog": settings.catalog}
    )
    registry = upload_city_registry(settings)
    files = upload_sample_weather(settings, city_ids, start, end)
    run = run_job(w, settings.ingest_job_name)
    # after the run: the tables exist now; only comments that differ are set (issue 16)
    comments = table_docs.apply_comments(w, settings.sql_warehouse_id, settings.catalog)
    return {
        "jobs": jobs,
        "raw_files": files,
        "registry": registry,
        "ingest_run_id": run.run_id,
        "comments_set": len(comments),
    }
