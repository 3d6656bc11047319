"""Employees: raw CSV → ``<catalog>.silver.employees`` with email, phone and salary encrypted.

Per column, a treatment from the policy (job parameter ``--policy``, JSON column → treatment; default
email → encrypt + search token, phone → encrypt, salary → band + encrypt):
- ``encrypt``: AES-256-GCM in the layout of Spark/Databricks ``aes_encrypt`` (climatelake.pii), base64, so
  ``CAST(aes_decrypt(unbase64(email), unbase64(secret('climatelake','pii-key'))) AS STRING)`` decrypts on
  Databricks;
- ``token``: ``<column>_token`` = HMAC-SHA256 of the normalised value with a separate key (joins, lookups);
- ``band``: ``<column>_band``, a non-sensitive band derived before encryption (salary only).
Keys come from the workspace secret scope through databricks-sdk (``w.secrets``), as on Databricks; they
travel to the engine inside the UDF and are never logged. Encryption runs in ``mapInArrow`` (Sail's
``aes_encrypt`` fails on columns), one cipher object per Arrow batch. The table records the key version in
``pii_key_version``. Rows with a missing or malformed id, email, date or salary go to
``silver.employees_quarantine`` with the reason and without their PII values.
Re-running rewrites the table from the raw files: same rows (fresh IVs, so new ciphertexts).
"""

from __future__ import annotations

import argparse
import json

import pyarrow as pa
from databricks.sdk import WorkspaceClient
from lakehouse import ensure_schema, spark_session, write_table
from pyspark.sql import functions as F
from pyspark.sql.types import StringType, StructField, StructType

from climatelake import pii

RAW_COLUMNS = ("Employee_id", "Name", "Email", "Phone", "Hire_date", "Salary")
DEFAULT_POLICY = {"email": "encrypt,token", "phone": "encrypt", "salary": "band,encrypt"}


def protect(batches, keys: pii.PiiKeys, policy: dict[str, str]):
    """mapInArrow body: encrypt / tokenise / band the policy's columns of each batch."""
    for batch in batches:
        columns = {name: batch.column(name) for name in batch.schema.names}
        for column, treatment in policy.items():
            values = columns[column].to_pylist()
            steps = treatment.split(",")
            if "band" in steps:
                columns[f"{column}_band"] = pa.array(
                    [pii.salary_band(float(v)) if v is not None else None for v in values], pa.string()
                )
            if "token" in steps:
                columns[f"{column}_token"] = pa.array(
                    [pii.search_token(v, keys.search) if v is not None else None for v in values], pa.string()
                )
            if "encrypt" in steps:
                columns[column] = pa.array(
                    pii.encrypt_many([None if v is None else str(v) for v in values], keys.encryption),
                    pa.string(),
                )
        yield pa.RecordBatch.from_pydict(columns)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--catalog", required=True)
    parser.add_argument("--lake-root", required=True)
    parser.add_argument("--raw-root", required=True)
    parser.add_argument("--secret-scope", default="climatelake")
    parser.add_argument("--policy", default=json.dumps(DEFAULT_POLICY))
    args = parser.parse_args()
    policy = json.loads(args.policy)

    keys = pii.WorkspaceSecretsKeys(WorkspaceClient(), scope=args.secret_scope).keys()
    spark = spark_session("climatelake-employees-pii")
    raw = (
        spark.read.option("header", True)
        .schema(StructType([StructField(c, StringType()) for c in RAW_COLUMNS]))
        .csv(f"{args.raw_root}/")
    )
    typed = raw.select(
        F.expr("try_cast(Employee_id AS INT)").alias("employee_id"),  # bad text → NULL → quarantine
        F.trim(F.col("Name")).alias("name"),
        F.lower(F.trim(F.col("Email"))).alias("email"),
        F.trim(F.col("Phone")).alias("phone"),
        F.expr("try_cast(Hire_date AS DATE)").alias("hire_date"),
        F.expr("try_cast(Salary AS DOUBLE)").alias("salary"),
        F.col("Employee_id").alias("raw_id"),
    )
    reason = (
        F.when(F.col("employee_id").isNull(), F.lit("employee_id missing or not an integer"))
        .when(F.col("email").isNull() | ~F.col("email").contains("@"), F.lit("email missing or malformed"))
        .when(F.col("hire_date").isNull(), F.lit("hire_date missing or not a date"))
        .when(F.col("salary").isNull() | (F.col("salary") < 0), F.lit("salary missing or negative"))
    )
    checked = typed.withColumn("reason", reason)
    valid = checked.where(F.col("reason").isNull()).drop("reason", "raw_id").dropDuplicates(["employee_id"])
    quarantine = checked.where(F.col("reason").isNotNull()).select(
        F.col("raw_id").alias("employee_id"), "reason"
    )

    out_fields = [StructField(f.name, StringType() if f.name in policy else f.dataType) for f in valid.schema]
    for column, treatment in policy.items():
        if "band" in treatment:
            out_fields.append(StructField(f"{column}_band", StringType()))
        if "token" in treatment:
            out_fields.append(StructField(f"{column}_token", StringType()))
    protected = (
        valid.withColumn("salary", F.col("salary").cast("string"))
        .mapInArrow(lambda batches: protect(batches, keys, policy), StructType(out_fields))
        .withColumn("pii_key_version", F.lit(keys.version))
    )

    ensure_schema(spark, args.catalog, "silver")
    write_table(protected, f"{args.catalog}.silver.employees", f"{args.lake_root}/silver/employees")
    write_table(
        quarantine,
        f"{args.catalog}.silver.employees_quarantine",
        f"{args.lake_root}/silver/employees_quarantine",
    )
    print(f"silver.employees written; policy {sorted(policy)}; key version {keys.version}")


if __name__ == "__main__":
    main()
