"""What every table and column the product creates holds: the comments Unity Catalog shows (issue 16).

One place for the documentation of the catalog, its schemas (bronze, silver, gold, results), every table
the jobs write and every column of it — what it holds, its unit (°C, m/s, mm, %), the PII kind of a
personal column (email, phone, salary) and how it is protected, and where it comes from. Discovery reads
them where Databricks users look: ``w.tables.get`` (``comment`` of the table and of each column),
``information_schema.tables/columns`` (``comment``) and ``DESCRIBE TABLE``.

How they are applied, and why (decided by trying it on the local stack, Sail 0.7.2):

- **By the deploy, through the SQL statements API** (:func:`apply_comments`): ``COMMENT ON CATALOG|SCHEMA|
  TABLE <name> IS '…'`` and ``ALTER TABLE <t> ALTER COLUMN <c> COMMENT '…'`` — Databricks SQL (SQL
  language reference: "COMMENT ON", "ALTER TABLE … ALTER COLUMN … COMMENT"), the same call on a Databricks
  SQL warehouse and on the local workspace, which sets the comments of its Unity Catalog records. Why not
  in the jobs' Spark sessions: Sail refuses both statements (``COMMENT ON`` → "CommandNode::CommentOnTable",
  ``ALTER COLUMN … COMMENT`` → "unsupported ALTER TABLE operation", measured), and a column comment written
  into the Delta schema's field metadata is kept in the log but not passed to the catalog when Sail
  registers the table by ``LOCATION`` (measured). ``bootstrap`` calls it after the ingest run has made the
  weather tables (the catalog, schemas and every table), the employees job after each of its writes, for its
  own tables only (:func:`document_table`; it has a warehouse already, for its tags and masks).
  ``deploy --target azure`` runs no job, so it does not call it yet (the tables do not exist then).
- **Per-request tables, when their run has succeeded** (:func:`document_table`): a request's table is made
  after any deploy, by ``extract_request``, whose Spark session cannot comment (above) and whose job has
  neither a warehouse nor this package (``weather_request.job.yml``: no wheel). The ``job_events``
  function, which already reads the table through Unity Catalog before it reports the request succeeded,
  sets the comments first through the same statements API (the recovery timer finishes requests through
  the same function). Rejected: ``CREATE TABLE … (<col> <type> COMMENT '…') USING DELTA COMMENT '…'
  LOCATION`` in the job — Sail passes those comments on (measured), but over Delta data written without
  them Databricks refuses a listed schema that differs from the data's ("The specified schema does not
  match the existing schema"), and the job could not import the documentation anyway.
- **Idempotent**: :func:`comment_statements` reads the current comments (``w.catalogs/schemas/tables.get``)
  and returns only the statements for those that differ, so a second deploy runs none and changes nothing
  (no new ``updated_at``).

A table or column the product creates without an entry here fails ``tests/test_table_docs.py``, which
reads the jobs' schemas from ``databricks/src``, and on the real stack checks every column in the catalog.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger("climatelake.table_docs")

CATALOG_COMMENT = (
    "climatelake: hourly weather observations per city (bronze raw copies, silver typed and validated, "
    "gold daily aggregates and the city registry), per-request extracts, and employees with PII encrypted."
)

SCHEMAS: dict[str, str] = {
    "bronze": "Raw weather CSV rows copied as text, one row per file line, and the ledger of ingested files.",
    "silver": (
        "Typed, validated, de-duplicated hourly weather (UTC; °C, m/s, mm, %), its quarantine and change "
        "log; employees with PII columns encrypted (AES-256-GCM), tokenised or masked, and their ledger."
    ),
    "gold": "Daily weather aggregates per city, coverage per city, the city registry and gold's build log.",
    "results": "One table per API request (request_<request id>): the rows the request asked for.",
}

_CITY = "City id (integer) as in the raw files and gold.cities."
_DATE = "Calendar date of the observation, UTC."
_HOUR = "Hour of the day, UTC, 0 to 23."
_FILE_ID = "Identity of one version of a raw file: path|length|modification time (epoch seconds)."
_SOURCE_FILE = "Path of the raw file the row came from, relative to its container."
_SOURCE_ROW = "Position of the row in its raw file (increases in file order)."
_RUN_ID = "Id of the job run that wrote the row."
_MEASURES = {
    "temp": "Air temperature, °C; NULL when the raw row has none.",
    "wind_speed": "Wind speed, m/s; NULL when the raw row has none.",
    "description": "Weather description text (e.g. clear, rain); NULL when the raw row has none.",
    "precipitation": "Precipitation in the hour, mm; NULL when the raw row has none.",
    "humidity": "Relative humidity, %; NULL when the raw row has none.",
}
_RAW_TEXT = {
    "city_id": "City id as the raw file spells it (text).",
    "date": "Date as the raw file spells it (text, YYYY-MM-DD).",
    "hour": "Hour as the raw file spells it (text, 0 to 23, UTC).",
    "temp": "Temperature as the raw file spells it (text, °C).",
    "wind_speed": "Wind speed as the raw file spells it (text, m/s).",
    "description": "Weather description as the raw file spells it (text).",
    "precipitation": "Precipitation as the raw file spells it (text, mm).",
    "humidity": "Relative humidity as the raw file spells it (text, %).",
}
_HOURS = "Hours of the day with a {} reading (the hours its aggregate is over)."
_DAILY = {
    "temp_min": "Lowest hourly temperature of the day, °C; NULL when no hour has one.",
    "temp_max": "Highest hourly temperature of the day, °C; NULL when no hour has one.",
    "temp_mean": "Mean of the day's hourly temperatures, °C, 2 decimals; NULL when no hour has one.",
    "wind_speed_max": "Highest hourly wind speed of the day, m/s; NULL when no hour has one.",
    "precipitation_sum": "Total precipitation of the day, mm, 2 decimals; NULL when no hour has one.",
    "humidity_mean": "Mean of the day's hourly relative humidity, %, 2 decimals; NULL when no hour has one.",
    "description": "Most frequent description of the day (ties: alphabetically first); NULL when none.",
    **{f"{m}_hours_observed": _HOURS.format(m) for m in _MEASURES},
    "hours_observed": "Hours of the day with a row at all (any measure or none).",
}
_LEDGER = {
    "file_id": _FILE_ID,
    "path": "Path of the raw file, relative to its container.",
    "length": "Size of the raw file version, bytes.",
    "modification_time": "Last-modified time of the raw file version (storage clock).",
    "rows": "Rows read from the file version.",
    "run_id": "Id of the job run that ingested the file version.",
    "ingest_time": "When the job run ingested the file version, UTC.",
}


@dataclass(frozen=True)
class TableDoc:
    comment: str
    columns: dict[str, str] = field(default_factory=dict)


TABLES: dict[str, TableDoc] = {
    "bronze.weather_hourly_raw": TableDoc(
        "Raw weather rows, one per line of each ingested raw CSV file (raw/weather/…), values as text; "
        "from the bronze task of climatelake_weather_ingest.",
        {
            **{c: _RAW_TEXT[c.lower()] for c in ("City_id", "Date", "Hour", "Temp")},
            **{c: _RAW_TEXT[c.lower()] for c in ("Wind_speed", "Description", "Precipitation", "Humidity")},
            "source_file": _SOURCE_FILE,
            "source_row": _SOURCE_ROW,
            "file_id": _FILE_ID,
            "source_modified": "Last-modified time of the raw file version the row came from.",
            "ingest_time": "When the bronze task copied the row, UTC.",
            "run_id": _RUN_ID,
        },
    ),
    "bronze.ingest_ledger": TableDoc(
        "One row per raw weather file version seen by the bronze task: ingested or rejected (with why), "
        "and the silver run that promoted its rows.",
        {
            **_LEDGER,
            "status": "ingested, or rejected (its header is not the seed schema; none of its rows used).",
            "reason": "Why the file was rejected; NULL when ingested.",
            "promoted_run_id": "Id of the silver run that merged the file's rows; NULL until then.",
        },
    ),
    "silver.weather_hourly": TableDoc(
        "Hourly weather per city, one row per (city_id, date, hour), typed and validated from bronze; "
        "later files win. Units: °C, m/s, mm, %.",
        {
            "city_id": _CITY,
            "date": _DATE,
            "hour": _HOUR,
            **_MEASURES,
            "missing_measures": "Names of the measures the raw row left empty (column order; empty: none).",
        },
    ),
    "silver.weather_quarantine": TableDoc(
        "Bronze weather rows silver refused (a present but wrong value, a duplicate superseded by a later "
        "file), raw text as read, with the reason.",
        {
            **_RAW_TEXT,
            "source_file": _SOURCE_FILE,
            "source_row": _SOURCE_ROW,
            "file_id": _FILE_ID,
            "reason": "Why the row was refused (e.g. duplicate_superseded, a range check).",
            "run_id": "Id of the silver run that quarantined the row.",
            "quarantined_at": "When the row was quarantined, UTC.",
        },
    ),
    "silver.weather_changes": TableDoc(
        "The (city_id, date) each silver run merged, kept until gold has rebuilt those days.",
        {
            "city_id": _CITY,
            "date": "Day silver changed for the city, UTC; NULL on a full row.",
            "full": "True: silver was written afresh and gold must rebuild whole (no key then).",
            "run_id": "Id of the silver run that changed the day.",
            "changed_at": "When the silver run recorded the change, UTC.",
        },
    ),
    "gold.weather_daily": TableDoc(
        "Daily weather per city and date from silver.weather_hourly: each aggregate over the hours with "
        "that measure, with the count of those hours beside it. Units: °C, m/s, mm, %.",
        {"city_id": _CITY, "date": _DATE, **_DAILY},
    ),
    "gold.city_coverage": TableDoc(
        "Per city, which days and hours silver holds and how complete they are (from gold.weather_daily).",
        {
            "city_id": _CITY,
            "first_date": "First observed day of the city, UTC.",
            "last_date": "Last observed day of the city, UTC.",
            "days_observed": "Days with at least one hourly row.",
            "span_days": "Days from first_date to last_date, both included.",
            "hours_observed": "Hourly rows of the city in silver.",
            "completeness": "hours_observed / (span_days × 24), 0 to 1, 4 decimals.",
        },
    ),
    "gold.cities": TableDoc(
        "The city registry (raw/reference/cities.csv, uploaded by bootstrap, editable in storage).",
        {
            "city_id": "City id, the key the weather tables use.",
            "name": "City name.",
            "country": "Country code (ISO 3166-1 alpha-2).",
            "lat": "Latitude, decimal degrees (WGS 84, north positive).",
            "lon": "Longitude, decimal degrees (WGS 84, east positive).",
            "time_zone": "IANA time zone of the city (the weather tables are in UTC).",
            "isd_station": "NOAA ISD station (USAF-WBAN) whose observations feed the city; NULL if none.",
        },
    ),
    "gold.build_log": TableDoc(
        "One row per gold build: which silver commit it read, by which run, when.",
        {
            "silver_version": "Delta version of silver.weather_hourly the build read.",
            "silver_committed_at": "Commit time of that silver version.",
            "run_id": "Id of the gold run.",
            "built_at": "When the build finished, UTC.",
        },
    ),
    "silver.employees": TableDoc(
        "Employees from raw/employees CSV files (deleted once committed); PII columns tagged pii, "
        "encrypted with AES-256-GCM (keys in the secret scope), masked for non pii_readers.",
        {
            "employee_id": "Employee id (integer), the key.",
            "name": "Full name (not tagged PII by default; a pii tag makes it so).",
            "email": "PII (email): work e-mail, AES-256-GCM ciphertext, base64; masked for non pii_readers.",
            "phone": "PII (phone): phone number, AES-256-GCM ciphertext, base64; masked for non pii_readers.",
            "hire_date": "Date the employee was hired.",
            "salary": "PII (salary): yearly salary, AES-256-GCM ciphertext, base64; see salary_band.",
            "salary_band": "Salary band, width 25,000 (e.g. 50k-75k), derived before encryption; not PII.",
            "email_token": "HMAC-SHA256 search token of the normalised e-mail (joins, look-ups), hex.",
            "email_masked": "The e-mail as non pii_readers see it (e.g. j***@example.com).",
            "phone_masked": "The phone number as non pii_readers see it (***-***-<last 4 digits>).",
            "pii_key_version": "Version of the PII key the row is encrypted with (secret pii-key-<version>).",
        },
    ),
    "silver.employees_ingest_ledger": TableDoc(
        "One row per raw employees file version ingested into silver.employees (then deleted from raw).",
        _LEDGER,
    ),
    "silver.employees_quarantine": TableDoc(
        "Raw employee rows refused (missing or malformed id, email, date or salary), without PII values.",
        {
            "employee_id": "Employee id as the raw file spells it (text).",
            "reason": "Why the row was refused.",
            "source_file": _SOURCE_FILE,
            "file_id": _FILE_ID,
        },
    ),
}

REQUEST_TABLE = re.compile(r"^results\.request_[a-z0-9_]+$")
REQUEST_DOC = TableDoc(
    "The rows one API request asked for (cities, dates, metrics, hourly or daily) from "
    "silver.weather_hourly, written by climatelake_weather_request. Units: °C, m/s, mm, %.",
    {"city_id": _CITY, "date": _DATE, "hour": _HOUR, **_MEASURES, **_DAILY},
)


def table_doc(schema_table: str) -> TableDoc | None:
    """The documentation of ``<schema>.<table>`` (a request's table by its pattern), or None."""
    if REQUEST_TABLE.match(schema_table):
        return REQUEST_DOC
    return TABLES.get(schema_table)


def sql_string(text: str) -> str:
    """A SQL string literal (Databricks: backslash escapes; quotes and backslashes escaped)."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def quoted(*parts: str) -> str:
    return ".".join("`" + p.replace("`", "``") + "`" for p in parts)


def comment_statements(w: Any, catalog: str, schemas: Iterable[str] | None = None) -> list[str]:
    """The COMMENT statements that bring the catalog, the product's schemas and their tables' comments to
    the documented ones — only those that differ (none on a second run). A table or column with no doc is
    logged and left alone; a schema not created yet is skipped."""
    from databricks.sdk.errors import NotFound

    statements = []
    if (w.catalogs.get(catalog).comment or "") != CATALOG_COMMENT:
        statements.append(f"COMMENT ON CATALOG {quoted(catalog)} IS {sql_string(CATALOG_COMMENT)}")
    for schema in schemas or SCHEMAS:
        try:
            current = w.schemas.get(f"{catalog}.{schema}").comment or ""
        except NotFound:
            continue
        if current != SCHEMAS[schema]:
            statements.append(f"COMMENT ON SCHEMA {quoted(catalog, schema)} IS {sql_string(SCHEMAS[schema])}")
        for listed in w.tables.list(catalog_name=catalog, schema_name=schema):
            info = w.tables.get(listed.full_name)
            statements += table_statements(catalog, schema, info)
    return statements


def table_statements(catalog: str, schema: str, info: Any) -> list[str]:
    """The statements for one table (``TableInfo``) whose comments differ from its documentation."""
    doc = table_doc(f"{schema}.{info.name}")
    if doc is None:
        log.warning("no documentation for %s.%s.%s", catalog, schema, info.name)
        return []
    name = quoted(catalog, schema, info.name)
    statements = []
    if (info.comment or "") != doc.comment:
        statements.append(f"COMMENT ON TABLE {name} IS {sql_string(doc.comment)}")
    for column in info.columns or []:
        wanted = doc.columns.get(column.name)
        if wanted is None:
            log.warning("no documentation for column %s of %s", column.name, name)
        elif (column.comment or "") != wanted:
            target = f"ALTER TABLE {name} ALTER COLUMN {quoted(column.name)}"
            statements.append(f"{target} COMMENT {sql_string(wanted)}")
    return statements


def apply_comments(
    w: Any, warehouse_id: str, catalog: str, schemas: Iterable[str] | None = None
) -> list[str]:
    """Run :func:`comment_statements` through the SQL statements API; returns the statements run."""
    statements = _run(w, warehouse_id, comment_statements(w, catalog, schemas))
    log.info("table comments: %d statements run", len(statements))
    return statements


def document_table(w: Any, warehouse_id: str, full_name: str) -> list[str]:
    """Bring one table's comments to its documentation (a request's table, when its run has succeeded);
    returns the statements run (none when they already match)."""
    catalog, schema, _ = full_name.split(".")
    return _run(w, warehouse_id, table_statements(catalog, schema, w.tables.get(full_name)))


def _run(w: Any, warehouse_id: str, statements: list[str]) -> list[str]:
    """Run ``statements`` through the SQL statements API one at a time (a failure names its statement, and
    those before it stay applied: each is idempotent, so a retry runs only what is left); returns them."""
    from climatelake.sql_runner import run_sql

    for statement in statements:
        run_sql(w, statement, warehouse_id=warehouse_id)
    return statements
