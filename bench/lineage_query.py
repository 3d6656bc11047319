"""Lineage query latency: ``GET /api/2.0/lineage-tracking/table-lineage`` (and ``column-lineage``) on a
depth-3 lineage graph, beside the no-op ping of the same server, in the same run (issue 8).

Run: ``python bench/lineage_query.py [--calls 500]``. Starts Azurite, Sail and the workspace stand-in as the
local stack does (in memory, free ports), builds the graph the way users would — SQL statements through
databricks-sdk, lineage captured by the stand-in — then times sequential calls from one databricks-sdk client
(``api_client.do``, as users call these endpoints) and prints p50/p99 in milliseconds. Target: table-lineage
p50 ≤ 20 ms.

Graph: 4 source tables (level 0) → 3 joins (level 1) → 2 (level 2) → 1 (level 3): 10 tables, 9 statements.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from timing import measure, percentiles  # noqa: E402

from emulators.stack import Stack  # noqa: E402

CATALOG = "climatelake"
SCHEMA = "benchlineage"


GRAPH = [
    *(f"CREATE TABLE src{i} (id INT, v{i} STRING)" for i in range(4)),
    *(f"INSERT INTO src{i} VALUES (1, 'a'), (2, 'b')" for i in range(4)),
    "CREATE TABLE mid0 AS SELECT a.id, v0, v1 FROM src0 a JOIN src1 b ON a.id = b.id",
    "CREATE TABLE mid1 AS SELECT a.id, v1, v2 FROM src1 a JOIN src2 b ON a.id = b.id",
    "CREATE TABLE mid2 AS SELECT a.id, v2, v3 FROM src2 a JOIN src3 b ON a.id = b.id",
    "CREATE TABLE top0 AS SELECT a.id, concat(v0, v2) AS w FROM mid0 a JOIN mid1 b ON a.id = b.id",
    "CREATE TABLE top1 AS SELECT a.id, concat(v1, v3) AS w FROM mid1 a JOIN mid2 b ON a.id = b.id",
    "CREATE TABLE apex AS SELECT a.id, concat(a.w, b.w) AS w FROM top0 a JOIN top1 b ON a.id = b.id",
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=500)
    args = parser.parse_args(argv)
    logging.getLogger("databricks.sdk").setLevel(logging.ERROR)

    from azure.storage.blob import BlobServiceClient
    from databricks.sdk import WorkspaceClient
    from databricks.sdk.config import Config

    with tempfile.TemporaryDirectory() as folder:
        stack = Stack(Path(folder), in_memory=True)
        try:
            stack.start(only=("azurite", "sail", "workspace"))
            BlobServiceClient.from_connection_string(stack.connection_string).create_container("lake")
            w = WorkspaceClient(config=Config(host=stack.url("workspace"), token=stack.workspace_token))
            w.catalogs.create(name=CATALOG)
            w.schemas.create(name=SCHEMA, catalog_name=CATALOG)
            for statement in GRAPH:
                answer = w.statement_execution.execute_statement(
                    statement=statement,
                    warehouse_id="local",
                    catalog=CATALOG,
                    schema=SCHEMA,
                    wait_timeout="50s",
                )
                if answer.status.state.value != "SUCCEEDED":
                    raise SystemExit(f"{statement}: {answer.status.error}")

            def table(name: str):
                query = {"table_name": f"{CATALOG}.{SCHEMA}.{name}", "include_entity_lineage": "true"}
                return lambda: w.api_client.do("GET", "/api/2.0/lineage-tracking/table-lineage", query=query)

            apex = table("apex")()
            assert [u["tableInfo"]["name"] for u in apex["upstreams"]] == ["top0", "top1"], apex
            column = {"table_name": f"{CATALOG}.{SCHEMA}.top0", "column_name": "w"}
            cases = {
                "ping (no-op)": lambda: w.api_client.do("GET", "/api/2.0/local/ping"),
                "table-lineage apex (level 3)": table("apex"),
                "table-lineage mid1 (up 2, down 2)": table("mid1"),
                "column-lineage top0.w": lambda: w.api_client.do(
                    "GET", "/api/2.0/lineage-tracking/column-lineage", query=column
                ),
            }
            print(
                f"{'call':36} {'p50 ms':>8} {'p99 ms':>8}   ({args.calls} sequential calls, databricks-sdk)"
            )
            for name, call in cases.items():
                p50, p99 = percentiles(measure(call, args.calls))
                print(f"{name:36} {p50:8.2f} {p99:8.2f}")
        finally:
            stack.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
