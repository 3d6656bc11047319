"""Employees: raw CSV → ``<catalog>.silver.employees`` with the PII columns encrypted, tagged and masked.

What is protected, and how, is decided by Unity Catalog tags (``employees_governance``): the columns the job
config declares PII plus every column the catalog tags ``pii``; a map of tag value → treatment
(``--treatments``: ``encrypt``, ``token``, ``band``, ``mask``) says what each gets:
- ``encrypt``: AES-256-GCM in the layout of Spark/Databricks ``aes_encrypt`` (climatelake.pii), base64, so
  ``CAST(aes_decrypt(unbase64(email), unbase64(secret('climatelake','pii-key-v1'))) AS STRING)`` decrypts
  on Databricks;
- ``token``: ``<column>_token`` = HMAC-SHA256 of the normalised value with a separate key (joins, lookups);
- ``band``: ``<column>_band``, a non-sensitive band derived before encryption (salary);
- ``mask``: ``<column>_masked``, what non-readers see (``j***@example.com``), derived before encryption.
After the commit the job tags the columns (``'pii' = <kind>, 'pii_protection' = 'encrypted'``) and sets
the column masks of ``sql/pii_masks.sql``, all through the SQL statements API.

Keys: from the provider configuration names (climatelake.pii.provider_from_env; default the workspace
secret scope through databricks-sdk ``w.secrets``). They travel to the engine inside the mapInArrow closure
and are never logged. The table uses one key version at a time, recorded per row in ``pii_key_version``:
new rows are encrypted with the version the table already uses (``climatelake pii rotate`` moves a table to
a new version), or the current one for a new table.

Raw files hold plaintext, so they must not outlive their ingestion. Incremental by a ledger
(``silver.employees_ingest_ledger``: path, length, modification time): each run reads only the raw files
not yet in the ledger, merges their rows into the table (by ``employee_id``, in ONE overwrite commit: the
existing rows are kept as they are, encrypted), writes the ledger, and only then deletes every raw file
whose ledgered version is still there (through a short-lived SAS from Unity Catalog's temporary path
credentials). A run that dies anywhere is redone by the next run: merging the same file again gives the
same rows, a file is deleted only once the ledger says its rows are committed, and a file re-uploaded with
new content is a new version (ingested, then deleted). Rows with a missing or malformed id, email, date or
salary go to ``silver.employees_quarantine`` with the reason and source file, without their PII values.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
from functools import reduce

import employees_governance as gov
import pyarrow as pa
from bronze_weather import container_root, file_id
from databricks.sdk import WorkspaceClient
from lakehouse import ensure_schema, register_table, spark_session, table_exists
from pyspark.sql import DataFrame, Row, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import LongType, StringType, StructField, StructType, TimestampType

from climatelake import pii, table_docs

RAW_COLUMNS = ("Employee_id", "Name", "Email", "Phone", "Hire_date", "Salary")
DEFAULT_DECLARED = "email=email,phone=phone,salary=salary"
DEFAULT_TREATMENTS = "email=encrypt+token+mask,phone=encrypt+mask,salary=band+encrypt"
LEDGER_SCHEMA = StructType(
    [
        StructField("file_id", StringType()),
        StructField("path", StringType()),
        StructField("length", LongType()),
        StructField("modification_time", TimestampType()),
        StructField("rows", LongType()),
        StructField("run_id", StringType()),
        StructField("ingest_time", TimestampType()),
    ]
)
QUARANTINE_SCHEMA = StructType(
    [StructField(c, StringType()) for c in ("employee_id", "reason", "source_file", "file_id")]
)


def protect(
    batches,
    keys: pii.PiiKeys,
    policy: dict[str, tuple[str, tuple[str, ...]]],
    names: list[str],
    existing=False,
):
    """mapInArrow body: band / tokenise / mask, then encrypt, the policy's columns (column → (kind, steps))
    of each batch (``existing``: rows already in the table, whose values may be ciphertexts of its key).

    Plain tuples, not ``Treatment``: the closure is unpickled in the engine's Python, which has the
    climatelake package but not this folder's modules."""
    for batch in batches:
        columns = {name: batch.column(name) for name in batch.schema.names}
        for column, (kind, steps) in policy.items():
            values = columns[column].to_pylist()
            if existing:
                values = pii.recover_many(values, keys.encryption)
            if "band" in steps:
                columns[f"{column}_band"] = pa.array(
                    [pii.salary_band(float(v)) if v is not None else None for v in values], pa.string()
                )
            if "token" in steps:
                columns[f"{column}_token"] = pa.array(pii.search_tokens(values, keys.search), pa.string())
            if "mask" in steps:
                columns[f"{column}_masked"] = pa.array(
                    [pii.mask(kind, v) if v is not None else None for v in values], pa.string()
                )
            if "encrypt" in steps:
                columns[column] = pa.array(pii.encrypt_many(values, keys.encryption), pa.string())
        if "pii_key_version" in names:
            columns["pii_key_version"] = pa.array([keys.version] * batch.num_rows, pa.string())
        yield pa.RecordBatch.from_pydict({name: columns[name] for name in names})


def output_schema(source: StructType, policy: dict[str, gov.Treatment]) -> StructType:
    """The table's columns: the source's (policy columns as strings), derived columns, pii_key_version."""
    fields = [
        StructField(f.name, StringType() if f.name in policy else f.dataType)
        for f in source
        if f.name != "pii_key_version"
    ]
    names = {f.name for f in fields}
    for column, treatment in policy.items():
        for suffix in treatment.derived:
            if f"{column}_{suffix}" not in names:
                fields.append(StructField(f"{column}_{suffix}", StringType()))
    return StructType([*fields, StructField("pii_key_version", StringType())])


def apply_policy(
    df: DataFrame, keys: pii.PiiKeys, policy: dict[str, gov.Treatment], existing: bool = False
) -> DataFrame:
    """``df`` with the policy applied (policy columns cast to string first: encryption works on text)."""
    schema = output_schema(df.schema, policy)
    names = schema.names
    cast = df.select(
        *[F.col(c).cast("string").alias(c) if c in policy else F.col(c) for c in df.columns],
        *([] if "pii_key_version" in df.columns else [F.lit(keys.version).alias("pii_key_version")]),
    )
    plain = {column: (t.kind, t.steps) for column, t in policy.items()}
    return cast.mapInArrow(lambda batches: protect(batches, keys, plain, names, existing), schema)


def list_raw(spark: SparkSession, raw_root: str) -> list[Row]:
    """Every CSV under the raw root (path relative to its container, length, modificationTime)."""
    try:
        listing = spark.read.format("binaryFile").option("pathGlobFilter", "*.csv").load(raw_root)
        rows = listing.select("path", "length", "modificationTime").collect()
    except Exception as error:  # an empty or missing folder: nothing to ingest
        print(f"no raw employee files under {raw_root}: {type(error).__name__}")
        return []
    return sorted({file_id(r): r for r in rows}.values(), key=lambda r: (r["modificationTime"], r["path"]))


def read_files(spark: SparkSession, files: list[Row], root: str) -> DataFrame:
    """The files' rows with their source (one read per file: Sail has no input_file_name())."""
    schema = StructType([StructField(c, StringType()) for c in RAW_COLUMNS])
    frames = [
        spark.read.option("header", True)
        .schema(schema)
        .csv(f"{root}/{f['path']}")
        .withColumn("source_file", F.lit(f["path"]))
        .withColumn("file_id", F.lit(file_id(f)))
        for f in files
    ]
    return reduce(DataFrame.unionByName, frames)


def validate(raw: DataFrame) -> tuple[DataFrame, DataFrame]:
    """(valid typed rows, one per employee_id; quarantine rows: raw id, reason, source — no PII)."""
    typed = raw.select(
        F.expr("try_cast(Employee_id AS INT)").alias("employee_id"),  # bad text → NULL → quarantine
        F.trim(F.col("Name")).alias("name"),
        F.lower(F.trim(F.col("Email"))).alias("email"),
        F.trim(F.col("Phone")).alias("phone"),
        F.expr("try_cast(Hire_date AS DATE)").alias("hire_date"),
        F.expr("try_cast(Salary AS DOUBLE)").alias("salary"),
        F.col("Employee_id").alias("raw_id"),
        "source_file",
        "file_id",
    )
    reason = (
        F.when(F.col("employee_id").isNull(), F.lit("employee_id missing or not an integer"))
        .when(F.col("email").isNull() | ~F.col("email").contains("@"), F.lit("email missing or malformed"))
        .when(F.col("hire_date").isNull(), F.lit("hire_date missing or not a date"))
        .when(F.col("salary").isNull() | (F.col("salary") < 0), F.lit("salary missing or negative"))
    )
    checked = typed.withColumn("reason", reason)
    valid = (
        checked.where(F.col("reason").isNull())
        .drop("reason", "raw_id", "source_file", "file_id")
        .dropDuplicates(["employee_id"])
    )
    quarantine = checked.where(F.col("reason").isNotNull()).select(
        F.col("raw_id").alias("employee_id"), "reason", "source_file", "file_id"
    )
    return valid, quarantine


def overwrite(
    df: DataFrame, full_name: str, location: str, w: WorkspaceClient | None = None, warehouse_id: str = ""
) -> None:
    """One Delta commit replacing the table's data (schema too: a newly encrypted column becomes text).

    By name once the table exists with the same columns: Unity Catalog refuses path access to a table with
    column masks or row filters ("[UNAUTHORIZED_ACCESS] … Path-based access to table … with row filter or
    column mask not supported", Databricks KB; "Only name-based access … is allowed"), and
    ``silver.employees`` is masked after its first run. A changed schema needs ``overwriteSchema``, which
    Sail 0.7.2 does only by path (``saveAsTable`` fails creating its staging table): the table's masks are
    dropped first (``w``, ``warehouse_id``), and the job sets them again after the write (``apply_masks``).
    Unity Catalog keeps its own copy of the columns, which a write by path does not change: ``REPAIR TABLE
    … SYNC METADATA`` (Databricks SQL reference) reads them from the new log, so ``tables/get`` and
    ``information_schema`` show the new types and the masks are set on the columns as they are now.
    Meanwhile a reader sees the stored columns, which hold ciphertext, never plaintext."""
    spark = df.sparkSession
    if table_exists(spark, full_name):
        current = spark.table(full_name).schema
        if [(f.name, f.dataType) for f in current] == [(f.name, f.dataType) for f in df.schema]:
            df.writeTo(full_name).overwrite(F.lit(True))
            return
        if w is not None:
            drop_masks(w, warehouse_id, full_name)
        df.write.format("delta").mode("overwrite").option("overwriteSchema", "true").save(location)
        if w is not None:  # the catalog's columns follow the log only when told to
            gov.run_sql(w, f"REPAIR TABLE {full_name} SYNC METADATA", warehouse_id=warehouse_id)
        return
    df.write.format("delta").mode("overwrite").option("overwriteSchema", "true").save(location)
    register_table(spark, full_name, location)


def drop_masks(w: WorkspaceClient, warehouse_id: str, full_name: str) -> None:
    """``ALTER TABLE … ALTER COLUMN c DROP MASK`` for each masked column (ColumnInfo.mask of tables/get)."""
    masked = [c.name for c in w.tables.get(full_name).columns or [] if c.mask is not None]
    statements = [f"ALTER TABLE {full_name} ALTER COLUMN `{gov.identifier(c)}` DROP MASK" for c in masked]
    if statements:
        gov.run_sql(w, ";\n".join(statements), warehouse_id=warehouse_id)


def table_key_version(spark: SparkSession, full_name: str) -> str | None:
    versions = [r[0] for r in spark.table(full_name).select("pii_key_version").distinct().collect()]
    if len(versions) > 1:
        raise RuntimeError(f"{full_name} mixes key versions {sorted(versions)}: run `climatelake pii rotate`")
    return versions[0] if versions else None


def raw_sas(w: WorkspaceClient, raw_root: str) -> str:
    """A short-lived SAS for the raw folder from Unity Catalog's temporary path credentials."""
    from databricks.sdk.service.catalog import PathOperation

    answer = w.temporary_path_credentials.generate_temporary_path_credentials(
        url=raw_root, operation=PathOperation.PATH_READ_WRITE
    )
    return answer.azure_user_delegation_sas.sas_token


def delete_ingested(w: WorkspaceClient, raw_root: str, blob_endpoint: str, ledger: list[Row]) -> int:
    """Delete every raw file whose ledgered version (length, modification time) is still in storage."""
    from azure.core import MatchConditions
    from azure.core.exceptions import ResourceModifiedError, ResourceNotFoundError
    from azure.storage.blob import ContainerClient

    if not ledger:
        return 0
    sas = raw_sas(w, raw_root)
    container_name = raw_root.split("://", 1)[1].split("@", 1)[0]
    container = ContainerClient(blob_endpoint, container_name, credential=sas)
    deleted = 0
    for entry in ledger:
        blob = container.get_blob_client(entry["path"])
        try:
            properties = blob.get_blob_properties()
        except ResourceNotFoundError:
            continue  # already deleted by an earlier run
        # Spark Connect gives local naive timestamps: .timestamp() reads them as local, as file_id() does
        ledgered = int(entry["modification_time"].timestamp())
        same = properties.size == entry["length"] and int(properties.last_modified.timestamp()) == ledgered
        if not same:
            continue  # a new version, not yet ingested: the next run takes it
        try:
            blob.delete_blob(etag=properties.etag, match_condition=MatchConditions.IfNotModified)
            deleted += 1
        except (ResourceModifiedError, ResourceNotFoundError):
            continue
    return deleted


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--catalog", required=True)
    parser.add_argument("--lake-root", required=True)
    parser.add_argument("--raw-root", required=True)
    parser.add_argument("--raw-blob-endpoint", default="", help="default: the account's public endpoint")
    parser.add_argument("--warehouse-id", required=True)
    parser.add_argument("--secret-scope", default="climatelake")
    parser.add_argument("--declared-pii", default=DEFAULT_DECLARED, help="column=tag value,…")
    parser.add_argument("--treatments", default=DEFAULT_TREATMENTS, help="tag value=step+step,…")
    parser.add_argument("--masks-sql", default="", help="sql/pii_masks.sql; empty: no masks")
    parser.add_argument("--keep-raw", action="store_true", help="do not delete ingested raw files")
    parser.add_argument("--run-id", default="manual")
    args = parser.parse_args()
    declared, treatments = gov.parse_map(args.declared_pii), gov.parse_treatments(args.treatments)

    w = WorkspaceClient()
    os.environ.setdefault("CLIMATELAKE_PII_SECRET_SCOPE", args.secret_scope)
    provider = pii.provider_from_env(os.environ, w)
    spark = spark_session("climatelake-employees-pii")
    ensure_schema(spark, args.catalog, "silver")
    name, location = f"{args.catalog}.silver.employees", f"{args.lake_root}/silver/employees"
    ledger_name, ledger_path = (
        f"{args.catalog}.silver.employees_ingest_ledger",
        f"{args.lake_root}/silver/employees_ingest_ledger",
    )
    quarantine_name, quarantine_path = (
        f"{args.catalog}.silver.employees_quarantine",
        f"{args.lake_root}/silver/employees_quarantine",
    )
    exists = table_exists(spark, name)
    tags = gov.column_tags(w, args.warehouse_id, args.catalog, "silver", "employees") if exists else {}
    policy = gov.effective_policy(declared, tags, treatments)
    version = (table_key_version(spark, name) if exists else None) or provider.current_version()
    keys = provider.keys(version)

    if not table_exists(spark, ledger_name):
        overwrite(spark.createDataFrame([], LEDGER_SCHEMA), ledger_name, ledger_path)
    known = {r["file_id"] for r in spark.table(ledger_name).select("file_id").collect()}
    new_files = [f for f in list_raw(spark, args.raw_root) if file_id(f) not in known]
    pending = gov.unprotected(policy, tags) if exists else []

    if new_files or pending:
        parts = []
        if exists:
            current = spark.table(name)
            todo = {c: t for c, t in policy.items() if c in pending}
            parts.append(apply_policy(current, keys, todo, existing=True) if todo else current)
        if new_files:
            raw = read_files(spark, new_files, container_root(args.raw_root))
            valid, quarantine = validate(raw)
            fresh = apply_policy(valid, keys, policy)
            if parts:
                parts[0] = parts[0].join(fresh.select("employee_id"), "employee_id", "left_anti")
            parts.append(fresh)
            names = parts[-1].columns
            merged = reduce(DataFrame.unionByName, [p.select(*names) for p in parts])
        else:
            merged = parts[0]
        overwrite(merged, name, location, w, args.warehouse_id)  # ONE commit: rows merged, columns encrypted
        if new_files:
            ids = [file_id(f) for f in new_files]
            old = (
                spark.table(quarantine_name).where(~F.col("file_id").isin(ids))
                if table_exists(spark, quarantine_name)
                else spark.createDataFrame([], QUARANTINE_SCHEMA)
            )
            overwrite(old.unionByName(quarantine), quarantine_name, quarantine_path)
            counts = {r[0]: r[1] for r in raw.groupBy("file_id").count().collect()}
            now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
            entries = [
                (file_id(f), f["path"], f["length"], f["modificationTime"], counts.get(file_id(f), 0))
                + (args.run_id, now)
                for f in new_files
            ]
            ledger = spark.createDataFrame(entries, LEDGER_SCHEMA)
            ledger.write.format("delta").mode("append").save(ledger_path)

    if table_exists(spark, name):
        gov.set_tags(w, args.warehouse_id, name, policy)
        # the documented comments of the tables this job writes (only those that differ; issue 16)
        for written in (name, ledger_name, quarantine_name):
            if table_exists(spark, written):
                table_docs.document_table(w, args.warehouse_id, written)
        if args.masks_sql:
            secret = pii.key_secret_name(version)
            gov.apply_masks(w, args.warehouse_id, args.masks_sql, args.catalog, args.secret_scope, secret)
    deleted = 0
    if not args.keep_raw:
        account = args.raw_root.split("@", 1)[1].split(".", 1)[0]
        endpoint = args.raw_blob_endpoint or f"https://{account}.blob.core.windows.net"
        deleted = delete_ingested(w, args.raw_root, endpoint, spark.table(ledger_name).collect())
    print(
        f"silver.employees: {len(new_files)} new files, columns re-encrypted {pending}, policy "
        f"{ {c: '+'.join(t.steps) for c, t in sorted(policy.items())} }, key version {version}; "
        f"{deleted} raw files deleted"
    )


if __name__ == "__main__":
    main()
