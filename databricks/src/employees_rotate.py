"""Key rotation: re-encrypt ``<catalog>.silver.employees`` to the current key version in ONE Delta commit.

``climatelake pii rotate [--new-key]`` runs it: ``--new-key`` first stores a new key version
(``pii-key-v<n>``) and points ``pii-key-current`` at it. This task then

1. reads which versions the rows use (``pii_key_version``); if all rows already use the current version it
   changes nothing (running it twice is a no-op the second time: no commit, same Delta version);
2. otherwise decrypts every column the catalog promises encrypted (tag ``pii_protection = 'encrypted'``)
   with each row's own version and encrypts it with the current one — in mapInArrow, batch by batch — and
   overwrites the table in one write: one commit, so readers see the old version or the new one, never a
   mix, and the table stays readable throughout (every row names the key that opens it);
3. re-creates the column masks with the new version's secret.

After it, no row needs the old versions: their secrets can be deleted (retired). A run that dies before the
commit leaves the table as it was; running again finishes the job. Search tokens use their own key, which
is not rotated here (tokens must stay comparable).
"""

from __future__ import annotations

import argparse
import os

import employees_governance as gov
import pyarrow as pa
from databricks.sdk import WorkspaceClient
from employees_pii import overwrite
from lakehouse import spark_session, table_exists

from climatelake import pii


def reencrypt(batches, old: dict[str, bytes], new: pii.PiiKeys, columns: list[str]):
    """mapInArrow body: each encrypted column from its row's key version to ``new``, rows in place."""
    for batch in batches:
        data = {name: batch.column(name) for name in batch.schema.names}
        versions = data["pii_key_version"].to_pylist()
        groups: dict[str, list[int]] = {}
        for i, version in enumerate(versions):
            groups.setdefault(version, []).append(i)
        for column in columns:
            values = data[column].to_pylist()
            for version, rows in groups.items():
                if version == new.version:
                    continue
                plain = pii.decrypt_many([values[i] for i in rows], old[version])
                for i, value in zip(rows, pii.encrypt_many(plain, new.encryption), strict=True):
                    values[i] = value
            data[column] = pa.array(values, pa.string())
        data["pii_key_version"] = pa.array([new.version] * batch.num_rows, pa.string())
        yield pa.RecordBatch.from_pydict({name: data[name] for name in batch.schema.names})


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--catalog", required=True)
    parser.add_argument("--lake-root", required=True)
    parser.add_argument("--warehouse-id", required=True)
    parser.add_argument("--secret-scope", default="climatelake")
    parser.add_argument("--masks-sql", default="")
    args = parser.parse_args()

    w = WorkspaceClient()
    os.environ.setdefault("CLIMATELAKE_PII_SECRET_SCOPE", args.secret_scope)
    provider = pii.provider_from_env(os.environ, w)
    spark = spark_session("climatelake-employees-rotate")
    name, location = f"{args.catalog}.silver.employees", f"{args.lake_root}/silver/employees"
    if not table_exists(spark, name):
        print(f"{name} does not exist: nothing to rotate")
        return
    target = provider.keys()
    table = spark.table(name)
    versions = sorted(r[0] for r in table.select("pii_key_version").distinct().collect())
    stale = [v for v in versions if v != target.version]
    if not stale:
        print(f"{name}: every row already uses key version {target.version}; nothing to do")
        return
    tags = gov.column_tags(w, args.warehouse_id, args.catalog, "silver", "employees")
    columns = sorted(c for c, t in tags.items() if t.get(gov.PROTECTION_TAG) == gov.ENCRYPTED)
    if not columns:
        raise RuntimeError(f"no column of {name} is tagged {gov.PROTECTION_TAG}=encrypted; run the job first")
    old = {v: provider.keys(v).encryption for v in stale}
    rotated = table.mapInArrow(lambda batches: reencrypt(batches, old, target, columns), table.schema)
    overwrite(rotated, name, location)  # ONE commit
    if args.masks_sql:
        gov.apply_masks(
            w,
            args.warehouse_id,
            args.masks_sql,
            args.catalog,
            args.secret_scope,
            pii.key_secret_name(target.version),
        )
    retired = ", ".join(pii.key_secret_name(v) for v in stale)
    print(
        f"{name}: {columns} re-encrypted from key versions {stale} to {target.version}; "
        f"{retired} can be retired"
    )


if __name__ == "__main__":
    main()
