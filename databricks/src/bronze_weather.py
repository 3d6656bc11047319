"""Bronze: copy new raw weather files, row for row, into ``<catalog>.bronze.weather_hourly_raw``.

Incremental by a ledger (``<catalog>.bronze.ingest_ledger``): a file is identified by (path, length,
modification time), so each version of a file is ingested once, however often the job runs; a file
overwritten with new content is a new version and is ingested again (silver lets the later one win).

Why per-file reads: Sail has neither ``input_file_name()`` nor the ``_metadata`` column, so the only way to
know which file a row came from is to read files one at a time. The header of each file is checked
against the seed schema first, because Spark's CSV reader would otherwise fill a missing column with nulls
or drop an extra one silently; such a file is recorded in the ledger as ``rejected`` with the reason, and
none of its rows go anywhere.

Crash safety: bronze rows are written with ``replaceWhere file_id IN (…)`` before the ledger entries, so a
run that dies in between is redone by the next run without duplicating rows.

Listing (issue 18): the raw root is listed through the storage API — List Blobs on the account's blob
endpoint, with a short-lived read SAS from Unity Catalog's temporary path credentials (as
``employees_pii`` deletes its raw files) — not with Spark's ``binaryFile`` source: Sail 0.7.2 downloads every
file whole for a ``binaryFile`` scan even when only ``path``, ``length`` and ``modificationTime`` are
selected (measured: 60 files of 24 MB → 60 full GETs, 1.4 GB, per listing; a user schema without
``content``, a filter or ``modifiedAfter`` change nothing), so the listing grew with the size of every file
ever ingested. List Blobs returns name, size and last-modified for up to 5,000 blobs per call and reads no
content. The rules of the ``binaryFile`` listing it replaces are kept: ``pathGlobFilter *.csv`` on the file
name, names below the root starting with ``_`` or ``.`` skipped (Spark's hidden files, as Sail skips them),
paths relative to the container, modification time to the second — so a ledger written by the old listing
still matches (tests/test_bronze_listing.py).

Where it runs: tested here against Azurite and the workspace stand-in's temporary path credentials (the
endpoint from ``--raw-blob-endpoint`` or the task's ``CLIMATELAKE_BLOB_ENDPOINT``). On Databricks (not
tested here) the endpoint defaults to ``https://<account>.blob.core.windows.net`` and the SAS is a user
delegation SAS; the API needs the metastore's ``external_access_enabled`` and the job's principal to hold
``EXTERNAL_USE_LOCATION`` on the raw external location (docs.databricks.com/api/uc-credentials/v1/
generate-temporary-path-credential) — the grant ``employees_pii`` needs too. Whether the SAS Databricks
vends for a folder is container- or directory-scoped is not checked here; either lists: Azure's service
SAS reference ("Create a service SAS", directory scope) gives a directory SAS (``sr=d``, hierarchical
namespace) the semantics of a container SAS restricted to the directory, and the listing asks only for
names under the raw root (``prefix``). There, Spark's ``binaryFile`` would not read contents
(it opens a file only when ``content`` is selected) but reports full URIs, which the old code here did not
expect; the one listing keeps both engines on the path tested here.
"""

from __future__ import annotations

import argparse
import datetime as dt
import fnmatch
import json
import os
import time
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from email.utils import parsedate_to_datetime
from functools import reduce
from typing import TYPE_CHECKING

from lakehouse import (
    SEED_COLUMNS,
    ensure_schema,
    spark_session,
    sql_list,
    step,
    table_exists,
    write_table,
)
from pyspark.sql import DataFrame, Row, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import LongType, StringType, StructField, StructType, TimestampType

if TYPE_CHECKING:
    from databricks.sdk import WorkspaceClient

CHUNK_FILES = 100  # files per bronze commit: bounds the plan size of the union and the work a crash redoes
HEADER_THREADS = 8
"""Headers read at once: each is one round trip to the engine (an analysis of a one-file CSV read, ≈ 10 ms
on Sail), waiting on the engine rather than on this process, so they overlap (issue 18)."""
LEDGER_SCHEMA = StructType(
    [
        StructField("file_id", StringType()),
        StructField("path", StringType()),
        StructField("length", LongType()),
        StructField("modification_time", TimestampType()),
        StructField("status", StringType()),  # ingested | rejected
        StructField("reason", StringType()),
        StructField("rows", LongType()),
        StructField("run_id", StringType()),
        StructField("ingest_time", TimestampType()),
        StructField("promoted_run_id", StringType()),  # set by silver once the file's rows are merged
    ]
)


def container_root(raw_root: str) -> str:
    """``abfss://raw@acct.dfs.core.windows.net/weather`` → ``abfss://raw@acct.dfs.core.windows.net``:
    binaryFile reports paths relative to the container."""
    scheme, rest = raw_root.split("://", 1)
    return f"{scheme}://{rest.split('/', 1)[0]}"


def raw_location(raw_root: str) -> tuple[str, str, str]:
    """``abfss://raw@acct.dfs.core.windows.net/weather`` → (account, container, prefix ``weather/``)."""
    scheme, rest = raw_root.split("://", 1)
    if scheme not in ("abfss", "abfs") or "@" not in rest:
        raise ValueError(f"raw root must be abfss://<container>@<account>.dfs.core.windows.net/…: {raw_root}")
    authority, _, path = rest.partition("/")
    container, host = authority.split("@", 1)
    prefix = path.strip("/")
    return host.split(".", 1)[0], container, f"{prefix}/" if prefix else ""


def blob_endpoint(raw_root: str, configured: str = "") -> str:
    """The blob endpoint to list at: the argument, else the task's ``CLIMATELAKE_BLOB_ENDPOINT`` (the local
    stack's Azurite), else the account's public endpoint (Databricks)."""
    endpoint = configured or os.environ.get("CLIMATELAKE_BLOB_ENDPOINT", "")
    return (endpoint or f"https://{raw_location(raw_root)[0]}.blob.core.windows.net").rstrip("/")


def read_sas(raw_root: str, w: WorkspaceClient | None = None) -> str:
    """A short-lived read SAS for the raw root from Unity Catalog's temporary path credentials
    (``POST /api/2.0/unity-catalog/temporary-path-credentials``, operation ``PATH_READ``).

    With a token in the environment (``DATABRICKS_HOST`` + ``DATABRICKS_TOKEN``: databricks-sdk's own
    personal-access-token auth, what the local workspace gives each task) the call is made here with
    ``urllib``: importing databricks-sdk costs 1.2–1.9 s on this machine (measured, after PySpark), more
    than the whole listing. Otherwise (a Databricks job, authenticated by the runtime; not tested here),
    or with ``w`` given, through databricks-sdk."""
    host, token = os.environ.get("DATABRICKS_HOST", ""), os.environ.get("DATABRICKS_TOKEN", "")
    if w is None and host and token:
        base = host if "://" in host else f"https://{host}"
        request = urllib.request.Request(
            f"{base.rstrip('/')}/api/2.0/unity-catalog/temporary-path-credentials",
            data=json.dumps({"url": raw_root, "operation": "PATH_READ"}).encode(),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=60) as answer:  # noqa: S310 - the workspace's URL
            return json.load(answer)["azure_user_delegation_sas"]["sas_token"]
    from databricks.sdk import WorkspaceClient
    from databricks.sdk.service.catalog import PathOperation

    answer = (w or WorkspaceClient()).temporary_path_credentials.generate_temporary_path_credentials(
        url=raw_root, operation=PathOperation.PATH_READ
    )
    return answer.azure_user_delegation_sas.sas_token


def listed(name: str, prefix: str) -> bool:
    """What the ``binaryFile`` listing took: ``*.csv`` file names (``pathGlobFilter``, case-sensitive) with no
    part below the root hidden (``.…``, or ``_…`` unless ``key=value``: Spark's rule; Sail skips both)."""
    parts = name[len(prefix) :].split("/")
    hidden = any(p.startswith(".") or (p.startswith("_") and "=" not in p) for p in parts)
    return not hidden and fnmatch.fnmatchcase(parts[-1], "*.csv")


def list_files(raw_root: str, sas: str, endpoint: str, page_size: int = 5000) -> list[Row]:
    """Every file under the raw root: path (container-relative), length, modificationTime (naive local time
    to the second, as a Spark Connect ``collect()`` gives it), oldest first. List Blobs only — the REST call
    (https://learn.microsoft.com/rest/api/storageservices/list-blobs), one per ``page_size`` blobs; no file
    is opened. Plain ``urllib``: the job's environment needs no storage SDK."""
    _, container, prefix = raw_location(raw_root)
    rows, marker = [], ""
    while True:
        query = {"restype": "container", "comp": "list", "prefix": prefix, "maxresults": str(page_size)}
        if marker:
            query["marker"] = marker
        url = f"{endpoint}/{container}?{urllib.parse.urlencode(query)}&{sas.lstrip('?')}"
        with urllib.request.urlopen(url, timeout=60) as answer:  # noqa: S310 - an https/http endpoint
            page = ET.fromstring(answer.read())
        for blob in page.iter("Blob"):
            name, props = blob.findtext("Name") or "", blob.find("Properties")
            if props is None or not listed(name, prefix):
                continue
            modified = parsedate_to_datetime(props.findtext("Last-Modified") or "")
            rows.append(
                Row(
                    path=name,
                    length=int(props.findtext("Content-Length") or 0),
                    modificationTime=dt.datetime.fromtimestamp(modified.timestamp()),
                )
            )
        marker = page.findtext("NextMarker") or ""
        if not marker:
            return sorted(rows, key=lambda r: (r["modificationTime"], r["path"]))


def file_id(row: Row) -> str:
    return f"{row['path']}|{row['length']}|{int(row['modificationTime'].timestamp())}"


def header_problem(columns: list[str]) -> str | None:
    """Why a file's header is not exactly the seed schema, or None when it is."""
    if tuple(columns) == SEED_COLUMNS:
        return None
    missing = [c for c in SEED_COLUMNS if c not in columns]
    extra = [c for c in columns if c not in SEED_COLUMNS]
    parts = []
    if missing:
        parts.append(f"missing columns {missing}")
    if extra:
        parts.append(f"extra columns {extra}")
    if not parts:
        parts.append(f"columns out of order {columns}")
    return "header mismatch: " + "; ".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--catalog", required=True)
    parser.add_argument("--lake-root", required=True)
    parser.add_argument("--raw-root", required=True)
    parser.add_argument(
        "--raw-blob-endpoint", default="", help="default: CLIMATELAKE_BLOB_ENDPOINT, else public"
    )
    parser.add_argument("--run-id", default="manual")
    args = parser.parse_args()

    spark = spark_session("climatelake-bronze-weather")
    ledger_name = f"{args.catalog}.bronze.ingest_ledger"
    ledger_path = f"{args.lake_root}/bronze/ingest_ledger"
    bronze_name = f"{args.catalog}.bronze.weather_hourly_raw"
    with step("schema and ledger ready"):
        ensure_schema(spark, args.catalog, "bronze")
        if not table_exists(spark, ledger_name):
            write_table(spark.createDataFrame([], LEDGER_SCHEMA), ledger_name, ledger_path)
    with step("list new files"), ThreadPoolExecutor(1) as pool:  # the ledger is read during the listing
        known_ids = pool.submit(lambda: spark.table(ledger_name).select("file_id").collect())
        files = list_files(
            args.raw_root, read_sas(args.raw_root), blob_endpoint(args.raw_root, args.raw_blob_endpoint)
        )
        known = {r["file_id"] for r in known_ids.result()}
        new_files = [f for f in files if file_id(f) not in known]

    root = container_root(args.raw_root)
    totals = {"ingested": 0, "rejected": 0}
    for i in range(0, len(new_files), CHUNK_FILES):
        for status in ingest_chunk(
            spark, new_files[i : i + CHUNK_FILES], root, args.run_id, args.lake_root, bronze_name
        ):
            totals[status] += 1
    print(f"bronze: {len(new_files)} new files, {totals['ingested']} ingested, {totals['rejected']} rejected")


def ingest_chunk(
    spark: SparkSession,
    files: list[Row],
    root: str,
    run_id: str,
    lake_root: str,
    bronze_name: str,
) -> list[str]:
    """Read, check and write one chunk of files as one bronze commit, then their ledger entries."""
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    accepted: list[tuple[Row, DataFrame]] = []
    entries: list[tuple] = []

    def entry(f: Row, status: str, reason: str | None, rows: int) -> tuple:
        return (
            file_id(f),
            f["path"],
            f["length"],
            f["modificationTime"],
            status,
            reason,
            rows,
            run_id,
            now,
            None,
        )

    started = time.perf_counter()

    def read(f: Row) -> tuple[DataFrame, list[str]]:
        frame = spark.read.option("header", True).option("inferSchema", False).csv(f"{root}/{f['path']}")
        return frame, frame.columns

    with ThreadPoolExecutor(min(HEADER_THREADS, max(len(files), 1))) as pool:
        headers = list(pool.map(read, files))  # in file order, as before
    for f, (frame, columns) in zip(files, headers, strict=True):
        problem = header_problem(columns)
        if problem:
            print(f"REJECTED {f['path']}: {problem}")
            entries.append(entry(f, "rejected", problem, 0))
            continue
        rows = frame.select(
            *[F.col(c).cast("string").alias(c) for c in SEED_COLUMNS],
            F.lit(f["path"]).alias("source_file"),
            F.monotonically_increasing_id().alias("source_row"),  # increases in file order
            F.lit(file_id(f)).alias("file_id"),
            F.lit(f["modificationTime"]).cast("timestamp").alias("source_modified"),
            F.lit(now).cast("timestamp").alias("ingest_time"),
            F.lit(run_id).alias("run_id"),
        )
        accepted.append((f, rows))
    print(f"  check {len(files)} headers: {time.perf_counter() - started:.2f} s", flush=True)
    if accepted:
        batch = reduce(DataFrame.unionByName, [rows for _, rows in accepted])
        ids = [file_id(f) for f, _ in accepted]
        bronze_path = f"{lake_root}/bronze/weather_hourly_raw"
        with step(f"write {len(ids)} files to bronze"):
            if table_exists(spark, bronze_name):
                write_table(batch, bronze_name, bronze_path, replace_where=f"file_id IN ({sql_list(ids)})")
            else:
                write_table(batch, bronze_name, bronze_path)
        with step("count their rows"):
            counted = (
                spark.table(bronze_name)
                .where(F.col("file_id").isin(ids))
                .groupBy("file_id")
                .agg(F.count("*"))
            )
            counts = {r[0]: r[1] for r in counted.collect()}
        entries += [entry(f, "ingested", None, counts.get(file_id(f), 0)) for f, _ in accepted]
    if entries:
        with step("append to the ledger"):
            ledger = spark.createDataFrame(entries, LEDGER_SCHEMA)
            ledger.write.format("delta").mode("append").save(f"{lake_root}/bronze/ingest_ledger")
    return [e[4] for e in entries]


if __name__ == "__main__":
    main()
