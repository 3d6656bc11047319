"""Workspace stand-in latency: get-table and list-tables through databricks-sdk, beside a bare HTTP round
trip to a no-op endpoint of the same server, in the same run (issue 3).

Run: ``python bench/workspace_latency.py [--calls 1000] [--tables 20]``. Starts the stand-in the way the
local stack does (``python -m emulators.workspace`` as its own process, on a free port, in a temporary
folder), measures sequential calls from one client, prints p50/p99 in milliseconds, and stops it.
Target: p50 get-table ≤ 5 ms and ≤ 2× the no-op round trip. Also get-table as a principal whose read is
decided by the privilege model (a SCIM user in a group holding USE CATALOG / USE SCHEMA / SELECT; the
decision and its audit row) beside the same call by the metastore admin (no check), in the same run:
target ≤ 10 % more at p50 (issue 16).
"""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
import tempfile
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from timing import measure, percentiles  # noqa: E402

from emulators.stack import free_port, wait_until  # noqa: E402

TOKEN = "dapi-bench"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--tables", type=int, default=20, help="tables in the listed schema")
    args = parser.parse_args(argv)
    logging.getLogger("databricks.sdk").setLevel(logging.ERROR)

    from databricks.sdk import WorkspaceClient
    from databricks.sdk.config import Config

    with tempfile.TemporaryDirectory() as folder:
        port = free_port()
        config = Path(folder) / "workspace.json"
        config.write_text(
            json.dumps(
                {
                    "data_dir": str(Path(folder) / "data"),
                    "tokens": {TOKEN: "bench@example.com"},
                    "managed_root": "abfss://lake@devstoreaccount1.dfs.core.windows.net/unity",
                }
            )
        )
        log = open(Path(folder) / "workspace.log", "wb")  # noqa: SIM115 - the child writes it
        process = subprocess.Popen(
            [sys.executable, "-m", "emulators.workspace", "--port", str(port), "--config", str(config)],
            cwd=str(ROOT),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{port}"
        headers = {"Authorization": f"Bearer {TOKEN}"}
        try:
            wait_until(
                lambda: requests.get(f"{url}/api/2.0/local/ping", headers=headers, timeout=2).ok,
                30,
                "workspace stand-in",
                process,
            )
            w = WorkspaceClient(config=Config(host=url, token=TOKEN, retry_timeout_seconds=30))
            w.catalogs.create(name="bench")
            w.schemas.create(name="s", catalog_name="bench")
            for i in range(args.tables):
                w.api_client.do(
                    "POST",
                    "/api/2.1/unity-catalog/tables",
                    body={
                        "catalog_name": "bench",
                        "schema_name": "s",
                        "name": f"t{i:03d}",
                        "table_type": "EXTERNAL",
                        "data_source_format": "DELTA",
                        "storage_location": f"abfss://lake@devstoreaccount1.dfs.core.windows.net/t{i:03d}",
                        "columns": [
                            {"name": f"c{j}", "type_name": "LONG", "type_text": "bigint", "position": j}
                            for j in range(8)
                        ],
                    },
                )
            reader = _checked_reader(w, url)
            session = requests.Session()
            session.headers.update(headers)
            results = {
                "no-op (requests, /api/2.0/local/ping)": measure(
                    lambda: session.get(f"{url}/api/2.0/local/ping").raise_for_status(), args.calls, warmup=50
                ),
                "get-table (databricks-sdk)": measure(
                    lambda: w.tables.get("bench.s.t007"), args.calls, warmup=50
                ),
                "get-table, checked: a group's grants (databricks-sdk)": measure(
                    lambda: reader.tables.get("bench.s.t007"), args.calls, warmup=50
                ),
                f"list-tables, {args.tables} tables (databricks-sdk)": measure(
                    lambda: list(w.tables.list(catalog_name="bench", schema_name="s")), args.calls, warmup=50
                ),
            }
        finally:
            process.terminate()
            process.wait(timeout=10)
            log.close()
    print(f"workspace stand-in latency, {args.calls} sequential calls each (after 50 warm-up calls)")
    print(f"{'what':<48} {'p50 ms':>8} {'p99 ms':>8}")
    figures = {}
    for name, samples in results.items():
        p50, p99 = percentiles(samples)
        figures[name] = p50
        print(f"{name:<48} {p50:8.2f} {p99:8.2f}")
    noop = figures["no-op (requests, /api/2.0/local/ping)"]
    get = figures["get-table (databricks-sdk)"]
    print(
        f"get-table p50 / no-op p50 = {get / noop:.2f} (target ≤ 2; and get-table p50 ≤ 5 ms: {get:.2f} ms)"
    )
    checked = figures["get-table, checked: a group's grants (databricks-sdk)"]
    print(f"checked get-table p50 / unchecked = {checked / get:.3f} (target ≤ 1.10)")
    return 0


def _checked_reader(w, url: str):
    """A SCIM user in a group granted USE CATALOG, USE SCHEMA and SELECT on t007, with its own token."""
    from databricks.sdk import WorkspaceClient
    from databricks.sdk.config import Config
    from databricks.sdk.service.catalog import PermissionsChange, Privilege
    from databricks.sdk.service.iam import ComplexValue

    user = w.users.create(user_name="reader@example.com")
    w.groups.create(display_name="readers", members=[ComplexValue(value=user.id)])
    grants = (
        ("catalog", "bench", Privilege.USE_CATALOG),
        ("schema", "bench.s", Privilege.USE_SCHEMA),
        ("table", "bench.s.t007", Privilege.SELECT),
    )
    for kind, name, privilege in grants:
        w.grants.update(kind, name, changes=[PermissionsChange(principal="readers", add=[privilege])])
    minted = w.api_client.do("POST", "/api/2.0/local/tokens", body={"principal": user.user_name})
    token = minted["token_value"]
    return WorkspaceClient(config=Config(host=url, token=token, retry_timeout_seconds=30))


if __name__ == "__main__":
    sys.exit(main())
