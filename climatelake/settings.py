"""Settings read from the environment, with defaults that fit the local stack.

Why one module: the gateway, the functions and the CLI must agree on container names, the catalog and the
job name, and switching from the laptop to Azure + Databricks must be configuration only.

Databricks credentials use the SDK's own variables (``DATABRICKS_HOST``, with ``DATABRICKS_TOKEN`` locally),
so the SDK's normal configuration chain applies unchanged; on Azure each app signs in with its managed
identity instead of a token (``ARM_USE_MSI``, ``ARM_CLIENT_ID``: :mod:`climatelake.databricks_auth`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

#: Azurite's published development account. Not a secret: Microsoft documents it for the emulator.
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


def azurite_connection_string(
    blob_port: int, queue_port: int, table_port: int, host: str = "127.0.0.1"
) -> str:
    """The connection string for an Azurite started on the given ports."""
    base = f"http://{host}"
    return (
        f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};"
        f"BlobEndpoint={base}:{blob_port}/{AZURITE_ACCOUNT};"
        f"QueueEndpoint={base}:{queue_port}/{AZURITE_ACCOUNT};"
        f"TableEndpoint={base}:{table_port}/{AZURITE_ACCOUNT};"
    )


def parse_connection_string(conn: str) -> dict[str, str]:
    """Split ``Key=Value;…`` into a dict (values may contain ``=``, e.g. base64 keys)."""
    parts = {}
    for item in conn.split(";"):
        if "=" in item:
            key, value = item.split("=", 1)
            parts[key.strip()] = value.strip()
    return parts


def _get(environ: Mapping[str, str], name: str, default: str) -> str:
    value = environ.get(name, "").strip()
    return value or default


@dataclass(frozen=True)
class Settings:
    """What every component needs to find the others."""

    storage_connection_string: str
    catalog: str = "climatelake"
    manifests_container: str = "manifests"
    rejected_container: str = "rejected"
    raw_container: str = "raw"
    lake_container: str = "lake"
    results_container: str = "results"
    requests_table: str = "requests"
    keys_table: str = "apikeys"
    audit_container: str = "audit"  # JSON-lines append blobs, one per process and hour (climatelake.audit)
    weather_job_name: str = "climatelake_weather_request"
    ingest_job_name: str = "climatelake_weather_ingest"
    sql_warehouse_id: str = "local"
    eventgrid_topic_endpoint: str = ""
    eventgrid_topic_key: str = field(default="", repr=False)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Settings from ``environ`` (default: the process environment)."""
        env = os.environ if environ is None else environ
        conn = env.get("CLIMATELAKE_STORAGE_CONNECTION_STRING") or env.get("AzureWebJobsStorage", "")
        if not conn:
            raise RuntimeError(
                "CLIMATELAKE_STORAGE_CONNECTION_STRING is not set: point it at Azure Storage or Azurite "
                "(the local launcher `python -m emulators.stack up` prints one)."
            )
        if conn.strip() == "UseDevelopmentStorage=true":
            conn = azurite_connection_string(10000, 10001, 10002)
        return cls(
            storage_connection_string=conn,
            catalog=_get(env, "CLIMATELAKE_CATALOG", "climatelake"),
            weather_job_name=_get(env, "CLIMATELAKE_WEATHER_JOB_NAME", "climatelake_weather_request"),
            ingest_job_name=_get(env, "CLIMATELAKE_INGEST_JOB_NAME", "climatelake_weather_ingest"),
            sql_warehouse_id=_get(env, "CLIMATELAKE_SQL_WAREHOUSE_ID", "local"),
            eventgrid_topic_endpoint=_get(env, "CLIMATELAKE_EVENTGRID_TOPIC_ENDPOINT", ""),
            eventgrid_topic_key=_get(env, "CLIMATELAKE_EVENTGRID_TOPIC_KEY", ""),
        )

    @property
    def storage_account(self) -> str:
        return parse_connection_string(self.storage_connection_string).get("AccountName", AZURITE_ACCOUNT)

    @property
    def results_table_name(self) -> str:
        """The Unity Catalog table that holds every request's result rows, keyed by request_id."""
        return f"{self.catalog}.results.weather_request"

    @property
    def hourly_table_name(self) -> str:
        return f"{self.catalog}.silver.weather_hourly"

    @property
    def cities_table_name(self) -> str:
        """The city registry (names, coordinates, time zone, NOAA station), published by the ingest job."""
        return f"{self.catalog}.gold.cities"
