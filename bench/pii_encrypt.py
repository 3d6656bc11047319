"""PII encryption throughput: the employees job's encryption beside a bare AES-GCM loop, same run (issue 7).

Run: ``python bench/pii_encrypt.py [--rows 1000000] [--batch 10000] [--repeat 3] [--sail]``. Generates the
employees (climatelake.employees, deterministic), then encrypts email, phone and salary of every row:

- **bare loop** (baseline): plain Python over the same values with cryptography's ``AESGCM`` — one cipher
  object, ``os.urandom(12)`` and ``encrypt`` per value — and (b) the same plus the base64 the stored
  format needs;
- **job body**: ``employees_pii.protect``, the mapInArrow body, on Arrow record batches of ``--batch`` rows
  (Spark's ``spark.sql.execution.arrow.maxRecordsPerBatch`` default), policy encrypt-only for the three
  columns, and once more with the job's full default policy (token, mask, band too);
- with ``--sail``: the same mapInArrow through a Sail Spark Connect server in this process (1 M rows sent
  as Arrow, the result written as Parquet to a temporary folder), timed end to end.

Best of ``--repeat`` runs each; prints seconds, rows/s and the ratio to the bare loop. Targets: job body
≤ 1.5× the bare loop and ≥ 300,000 rows/s.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from base64 import b64encode
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "databricks" / "src"))

import pyarrow as pa  # noqa: E402
from cryptography.hazmat.primitives.ciphers.aead import AESGCM  # noqa: E402

from climatelake import employees, pii  # noqa: E402

COLUMNS = ("email", "phone", "salary")


def best(run, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def bare_loop(values: list[list[str]], key: bytes, with_base64: bool) -> None:
    cipher = AESGCM(key)
    for column in values:
        if with_base64:
            for value in column:
                iv = os.urandom(12)
                b64encode(iv + cipher.encrypt(iv, value.encode(), None))
        else:
            for value in column:
                iv = os.urandom(12)
                cipher.encrypt(iv, value.encode(), None)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--sail", action="store_true", help="also through a Sail server (mapInArrow)")
    args = parser.parse_args(argv)
    import employees_governance as gov
    import employees_pii as job

    started = time.perf_counter()
    rows = employees.generate_employees(args.rows)
    table = pa.table(
        {
            "employee_id": [r["Employee_id"] for r in rows],
            "email": [r["Email"] for r in rows],
            "phone": [r["Phone"] for r in rows],
            "salary": [str(float(r["Salary"])) for r in rows],
        }
    )
    del rows
    values = [table.column(c).to_pylist() for c in COLUMNS]
    batches = table.to_batches(max_chunksize=args.batch)
    keys = pii.PiiKeys(pii.new_key(), pii.new_key(), "1")
    made = time.perf_counter() - started
    print(f"{args.rows:,} employees in {len(batches)} batches of {args.batch:,} ({made:.1f} s to make)")

    encrypt_only = {c: (c, ("encrypt",)) for c in COLUMNS}
    names = [*table.schema.names, "pii_key_version"]
    full = {
        c: (t.kind, t.steps)
        for c, t in gov.effective_policy(
            gov.parse_map(job.DEFAULT_DECLARED), {}, gov.parse_treatments(job.DEFAULT_TREATMENTS)
        ).items()
    }
    full_names = [
        *table.schema.names,
        "salary_band",
        "email_token",
        "email_masked",
        "phone_masked",
        "pii_key_version",
    ]

    def body(policy, out_names):
        for _ in job.protect(iter(batches), keys, policy, out_names):
            pass

    results = {
        "bare loop: urandom + AESGCM.encrypt": best(
            lambda: bare_loop(values, keys.encryption, False), args.repeat
        ),
        "bare loop + base64": best(lambda: bare_loop(values, keys.encryption, True), args.repeat),
        "job body (mapInArrow), encrypt 3 columns": best(lambda: body(encrypt_only, names), args.repeat),
        "job body, full default policy": best(lambda: body(full, full_names), args.repeat),
    }
    if args.sail:
        results["through Sail (mapInArrow → Parquet), encrypt 3 columns"] = sail_run(
            table, keys, encrypt_only, names, args.batch
        )
    bare = results["bare loop: urandom + AESGCM.encrypt"]
    print(f"\n{'what':<58} {'seconds':>8} {'rows/s':>10} {'× bare':>7}")
    for what, seconds in results.items():
        print(f"{what:<58} {seconds:>8.2f} {args.rows / seconds:>10,.0f} {seconds / bare:>7.2f}")
    return 0


def sail_run(table: pa.Table, keys: pii.PiiKeys, policy, names: list[str], batch: int) -> float:
    """The mapInArrow through Sail end to end: data in, encrypted, written as Parquet (timed once)."""
    import employees_pii as job
    from pysail.spark import SparkConnectServer
    from pyspark.sql import SparkSession
    from pyspark.sql import functions as F
    from pyspark.sql.types import IntegerType, StringType, StructField, StructType

    server = SparkConnectServer(ip="127.0.0.1", port=0)
    server.start(background=True)
    host, port = server.listening_address
    spark = SparkSession.builder.remote(f"sc://{host}:{port}").getOrCreate()
    try:
        spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", str(batch))
        with tempfile.TemporaryDirectory() as folder:
            source = f"{folder}/source"
            spark.createDataFrame(table.to_pandas()).write.parquet(source)  # outside the timing
            schema = StructType(
                [StructField("employee_id", IntegerType())]
                + [StructField(n, StringType()) for n in names[1:]]
            )
            start = time.perf_counter()
            df = spark.read.parquet(source).withColumn("employee_id", F.col("employee_id").cast("int"))
            df.mapInArrow(lambda batches: job.protect(batches, keys, policy, names), schema).write.parquet(
                f"{folder}/out"
            )
            return time.perf_counter() - start
    finally:
        spark.stop()
        server.stop()


if __name__ == "__main__":
    sys.exit(main())
