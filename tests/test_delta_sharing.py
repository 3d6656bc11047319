"""Delta Sharing in the workspace stand-in: shares and recipients through SQL statements and REST
(databricks-sdk ``w.shares``, ``w.recipients``, ``w.recipient_activation``), recipient activation, the
open-protocol server (answers validated against ../shared/specs/delta-sharing-protocol-api.yaml), the PII
rule, token life (rotation, drop), and the real ``delta-sharing`` client reading a shared table in a side
virtual environment (delta-sharing 1.4.2 caps pyarrow below the project's pin).

The workspace runs in-process on Azurite; its SQL statements API answers the sharing commands itself, so
no engine is needed here (tests/test_delta_sharing_gold.py reads the stack's gold table through Sail's
catalog as well)."""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import requests
import yaml
from azure.storage.blob import BlobServiceClient
from databricks.sdk import WorkspaceClient
from databricks.sdk.errors import NotFound, PermissionDenied, ResourceAlreadyExists
from databricks.sdk.service.sharing import (
    AuthenticationType,
    Partition,
    PartitionValue,
    PartitionValueOp,
    PermissionsChange,
    SharedDataObject,
    SharedDataObjectHistoryDataSharingStatus,
    SharedDataObjectUpdate,
    SharedDataObjectUpdateAction,
)
from databricks.sdk.service.sql import StatementState
from openapi_core import Config, OpenAPI
from openapi_core.contrib.requests import RequestsOpenAPIRequest, RequestsOpenAPIResponse

from emulators.stack import Stack, wait_until
from emulators.workspace.server import storage_options
from emulators.workspace.testing import InProcessWorkspace
from tests.helpers.side_venv import outside_env, side_python

pytestmark = pytest.mark.stack
ROOT = Path(__file__).resolve().parent.parent
DELTA_SHARING = "delta-sharing==1.4.2"
SPEC = ROOT.parent / "shared" / "specs" / "delta-sharing-protocol-api.yaml"
if not SPEC.exists():  # CI lays shared/ beside the clone
    SPEC = Path("/work/shared/specs/delta-sharing-protocol-api.yaml")
LAKE = "abfss://lake@devstoreaccount1.dfs.core.windows.net"
WAREHOUSE = "local"


# the recipient's side venv ---------------------------------------------------------------------------
@pytest.fixture(scope="session")
def sharing_python() -> str:
    return ensure_sharing_python()


def ensure_sharing_python() -> str:
    """Python of ``.local/venv-sharing`` with the real delta-sharing client, or CLIMATELAKE_SHARING_PYTHON."""
    return side_python("venv-sharing", DELTA_SHARING, "CLIMATELAKE_SHARING_PYTHON")


def run_recipient(python: str, profile: dict[str, Any], steps: list[dict[str, Any]]) -> list[dict]:
    """Run tests/helpers/sharing_recipient.py with ``steps``; its results, one per step."""
    done = subprocess.run(
        [python, str(ROOT / "tests" / "helpers" / "sharing_recipient.py")],
        input=json.dumps({"profile": profile, "steps": steps}),
        capture_output=True,
        text=True,
        timeout=240,
        env=outside_env(),  # the client must not see this process's Spark or Databricks settings
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])["results"]


def plain_rows(frame: pl.DataFrame) -> list[list[Any]]:
    """Rows as the recipient script prints them (ISO dates and times), sorted for comparison."""
    rows = [[v.isoformat() if hasattr(v, "isoformat") else v for v in row] for row in frame.rows()]
    return sorted(rows, key=repr)


# the workspace and its data ------------------------------------------------------------------------
class Env:
    def __init__(self, workspace: InProcessWorkspace, connection_string: str) -> None:
        self.ws = workspace
        self.w: WorkspaceClient = workspace.client()
        self.connection_string = connection_string
        self.options = storage_options(connection_string)
        self.catalog = f"c_{uuid.uuid4().hex[:8]}"

    def sql(self, statement: str, expect: str = "SUCCEEDED"):
        answer = self.w.statement_execution.execute_statement(
            statement=statement, warehouse_id=WAREHOUSE, wait_timeout="30s"
        )
        assert answer.status.state == StatementState[expect], (statement, answer.status)
        return answer

    def table(self, schema: str, name: str, frames: list[pl.DataFrame], partition_by: list[str]) -> str:
        """An EXTERNAL Delta table in Azurite with one version per frame, registered in the catalog."""
        location = f"{LAKE}/sharing-tests/{uuid.uuid4().hex}/{name}"
        for version, frame in enumerate(frames):
            frame.write_delta(
                location,
                mode="append" if version else "error",
                storage_options=self.options,
                delta_write_options={"partition_by": partition_by} if partition_by else None,
            )
        self.w.api_client.do(
            "POST",
            "/api/2.1/unity-catalog/tables",
            body={
                "catalog_name": self.catalog,
                "schema_name": schema,
                "name": name,
                "table_type": "EXTERNAL",
                "data_source_format": "DELTA",
                "storage_location": location,
            },
        )
        return f"{self.catalog}.{schema}.{name}"

    def read(self, full_name: str, version: int | None = None) -> pl.DataFrame:
        location = self.w.tables.get(full_name).storage_location
        return pl.read_delta(location, version=version, storage_options=self.options)

    def recipient_profile(self, name: str, shares: list[str]) -> dict[str, Any]:
        """A recipient made through SQL, granted ``shares``, and its profile from activation."""
        link = self.sql(f"CREATE RECIPIENT {name} COMMENT 'test'").result.data_array[0][4]
        for share in shares:
            self.sql(f"GRANT SELECT ON SHARE {share} TO RECIPIENT {name}")
        profile = self.w.recipient_activation.retrieve_token(link.rsplit("?", 1)[1])
        return {
            "shareCredentialsVersion": profile.share_credentials_version,
            "endpoint": profile.endpoint,
            "bearerToken": profile.bearer_token,
            "expirationTime": profile.expiration_time,
        }


def _orders(ids: list[int], cities: list[int]) -> pl.DataFrame:
    import datetime as dt

    return pl.DataFrame(
        {
            "order_id": ids,
            "city_id": cities,
            "day": [dt.date(2024, 1, 1 + i % 28) for i in ids],
            "amount": [None if i % 4 == 3 else i * 10.25 for i in ids],
            "note": [None if i % 2 else f"n{i}, with comma" for i in ids],
        },
        schema={
            "order_id": pl.Int64,
            "city_id": pl.Int64,
            "day": pl.Date,
            "amount": pl.Float64,
            "note": pl.String,
        },
    )


@pytest.fixture(scope="module")
def env(azurite: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    BlobServiceClient.from_connection_string(azurite.connection_string).get_container_client("lake")
    service = BlobServiceClient.from_connection_string(azurite.connection_string)
    if not service.get_container_client("lake").exists():
        service.create_container("lake")
    workspace = InProcessWorkspace(
        tmp_path_factory.mktemp("ws-sharing"),
        storage_connection_string=azurite.connection_string,
        # statements only reach the engine when the workspace cannot answer them; sharing commands never do
        sql_engine_remote="sc://127.0.0.1:9",
    ).start()
    environment = Env(workspace, azurite.connection_string)
    try:
        environment.w.catalogs.create(name=environment.catalog)
        environment.w.schemas.create(name="sales", catalog_name=environment.catalog)
        yield environment
    finally:
        workspace.stop()


@pytest.fixture(scope="module")
def orders(env: Env) -> str:
    """Two versions: three orders, then two more."""
    return env.table("sales", "orders", [_orders([1, 2, 3], [1, 1, 2]), _orders([4, 5], [2, 3])], ["city_id"])


# provider side: REST ---------------------------------------------------------------------------------
def test_shares_and_recipients_through_databricks_sdk(env: Env, orders: str):
    w = env.w
    share = f"rest_{uuid.uuid4().hex[:6]}"
    created = w.shares.create(name=share, comment="for partners")
    assert created.name == share and created.owner and created.created_at
    with pytest.raises(ResourceAlreadyExists):
        w.shares.create(name=share)
    updated = w.shares.update(
        share,
        updates=[
            SharedDataObjectUpdate(
                action=SharedDataObjectUpdateAction.ADD,
                data_object=SharedDataObject(
                    name=orders,
                    shared_as="partners.orders",
                    history_data_sharing_status=SharedDataObjectHistoryDataSharingStatus.ENABLED,
                    partitions=[
                        Partition(
                            values=[PartitionValue(name="city_id", op=PartitionValueOp.EQUAL, value="1")]
                        )
                    ],
                ),
            )
        ],
    )
    (shared,) = updated.objects
    assert (shared.name, shared.shared_as, shared.data_object_type.value) == (
        orders,
        "partners.orders",
        "TABLE",
    )
    assert shared.history_data_sharing_status.value == "ENABLED" and shared.added_at
    assert shared.partitions[0].values[0].name == "city_id"
    assert w.shares.get(share, include_shared_data=True).objects[0].name == orders
    assert share in {s.name for s in w.shares.list_shares()}

    recipient = f"partner_{uuid.uuid4().hex[:6]}"
    info = w.recipients.create(recipient, AuthenticationType.TOKEN, comment="ACME")
    assert info.activated is False and "/delta_sharing/retrieve_config.html?" in info.activation_url
    assert len(info.tokens) == 1 and info.tokens[0].expiration_time > info.created_at
    assert recipient in {r.name for r in w.recipients.list()}
    w.shares.update_permissions(share, changes=[PermissionsChange(principal=recipient, add=["SELECT"])])
    assigned = w.shares.share_permissions(share).privilege_assignments
    assert [(a.principal, [p.value for p in a.privileges]) for a in assigned] == [(recipient, ["SELECT"])]
    out = w.recipients.share_permissions(recipient).permissions_out
    assert [p.share_name for p in out] == [share]

    code = info.activation_url.rsplit("?", 1)[1]
    w.recipient_activation.get_activation_url_info(code)
    profile = w.recipient_activation.retrieve_token(code)
    assert profile.share_credentials_version == 1 and profile.bearer_token
    assert profile.endpoint.endswith(
        f"/api/2.0/delta-sharing/metastores/{env.ws.app.extensions['workspace'].sharing.metastore_id}"
    )
    assert profile.expiration_time.endswith("Z")
    assert w.recipients.get(recipient).activated is True
    with pytest.raises(NotFound):  # a link works once
        w.recipient_activation.retrieve_token(code)

    headers = {"Authorization": f"Bearer {profile.bearer_token}"}
    listed = requests.get(f"{profile.endpoint}/shares", headers=headers, timeout=10).json()
    assert [s["name"] for s in listed["items"]] == [share]

    w.shares.update(
        share,
        updates=[
            SharedDataObjectUpdate(
                action=SharedDataObjectUpdateAction.REMOVE, data_object=SharedDataObject(name=orders)
            )
        ],
    )
    assert not w.shares.get(share).objects
    w.shares.delete(share)
    with pytest.raises(NotFound):
        w.shares.get(share)
    w.recipients.delete(recipient)
    assert requests.get(f"{profile.endpoint}/shares", headers=headers, timeout=10).status_code == 401


# provider side: SQL ----------------------------------------------------------------------------------
def test_sql_commands_create_share_add_table_grant_and_describe(env: Env, orders: str):
    share = f"sql_{uuid.uuid4().hex[:6]}"
    env.sql(f"CREATE SHARE {share} COMMENT 'weather for partners'")
    env.sql(f"CREATE SHARE IF NOT EXISTS {share}")
    failed = env.sql(f"CREATE SHARE {share}", expect="FAILED")
    assert "ALREADY_EXISTS" in failed.status.error.message
    env.sql(f"ALTER SHARE {share} ADD TABLE {orders} AS partners.orders PARTITION (city_id = 1) WITH HISTORY")
    missing = env.sql(f"ALTER SHARE {share} ADD TABLE {env.catalog}.sales.nothing", expect="FAILED")
    assert "TABLE_DOES_NOT_EXIST" in missing.status.error.message

    shares = env.sql("SHOW SHARES").result.data_array
    assert [share, "weather for partners"] in [[row[0], row[3]] for row in shares]
    everything = env.sql(f"SHOW ALL IN SHARE {share}")
    assert [c.name for c in everything.manifest.schema.columns][:3] == ["name", "type", "shared_object"]
    (row,) = everything.result.data_array
    assert row[:3] == ["partners.orders", "TABLE", orders] and row[6] == "(city_id = '1')"
    assert row[7] == "ENABLED"

    recipient = f"acme_{uuid.uuid4().hex[:6]}"
    created = env.sql(f"CREATE RECIPIENT {recipient}")
    columns = [c.name for c in created.manifest.schema.columns]
    assert columns[:5] == ["name", "created_at", "created_by", "comment", "activation_link"]
    assert "/delta_sharing/retrieve_config.html?" in created.result.data_array[0][4]
    env.sql(f"GRANT SELECT ON SHARE {share} TO RECIPIENT {recipient}")
    assert env.sql(f"SHOW GRANTS ON SHARE {share}").result.data_array == [[recipient, "SELECT"]]
    described = env.sql(f"DESCRIBE RECIPIENT {recipient}").result.data_array[0]
    assert described[0] == recipient and described[4] == created.result.data_array[0][4]
    env.sql(f"REVOKE SELECT ON SHARE {share} FROM RECIPIENT {recipient}")
    assert env.sql(f"SHOW GRANTS ON SHARE {share}").result.data_array is None
    env.sql(f"ALTER SHARE {share} REMOVE TABLE {orders}")
    assert env.sql(f"SHOW ALL IN SHARE {share}").result.data_array is None
    env.sql(f"DROP RECIPIENT {recipient}")
    env.sql(f"DROP SHARE {share}")
    env.sql(f"DROP SHARE IF EXISTS {share}")
    assert "DOES_NOT_EXIST" in env.sql(f"DROP SHARE {share}", expect="FAILED").status.error.message


# recipient side: the protocol ------------------------------------------------------------------------
class ProtocolSession(requests.Session):
    """Requests to the sharing server with a recipient's token; 2xx answers checked against the spec."""

    def __init__(self, profile: dict[str, Any]) -> None:
        super().__init__()
        self.base = profile["endpoint"]
        self.headers["Authorization"] = f"Bearer {profile['bearerToken']}"
        spec = yaml.safe_load(SPEC.read_text())
        spec["servers"] = [{"url": self.base}]
        self.api = OpenAPI.from_dict(spec, config=Config(spec_validator_cls=None))

    def call(self, method: str, path: str, expect: int = 200, **kwargs) -> requests.Response:
        answer = self.request(method, self.base + path, timeout=10, **kwargs)
        assert answer.status_code == expect, f"{method} {path}: {answer.status_code} {answer.text}"
        get_share = path.startswith("/shares/") and path.count("/") == 2  # wrapped: see the test below
        if answer.ok and "x-ndjson" not in answer.headers.get("Content-Type", "") and not get_share:
            self.api.validate_response(
                RequestsOpenAPIRequest(answer.request), RequestsOpenAPIResponse(answer)
            )
        elif not answer.ok:
            assert set(answer.json()) == {"errorCode", "message"}, answer.text
        return answer


def _ndjson(answer: requests.Response) -> list[dict[str, Any]]:
    return [json.loads(line) for line in answer.text.splitlines() if line.strip()]


def test_protocol_server_lists_pages_and_serves_files(env: Env, orders: str):
    share, other = f"p_{uuid.uuid4().hex[:6]}", f"q_{uuid.uuid4().hex[:6]}"
    people = env.table("sales", f"cities_{uuid.uuid4().hex[:4]}", [_orders([7], [9])], [])
    for name in (share, other):
        env.sql(f"CREATE SHARE {name}")
    env.sql(f"ALTER SHARE {share} ADD TABLE {orders} AS partners.orders WITH HISTORY")
    env.sql(f"ALTER SHARE {share} ADD TABLE {people} AS extra.cities")
    env.sql(f"ALTER SHARE {other} ADD TABLE {orders}")  # not granted: invisible
    profile = env.recipient_profile(f"r_{uuid.uuid4().hex[:6]}", [share])
    api = ProtocolSession(profile)

    assert [s["name"] for s in api.call("GET", "/shares").json()["items"]] == [share]
    # GetShare answers {"share": {...}} as PROTOCOL.md and the reference server do (the YAML says Share)
    assert api.call("GET", f"/shares/{share}").json()["share"]["name"] == share
    assert [s["name"] for s in api.call("GET", f"/shares/{share}/schemas").json()["items"]] == [
        "extra",
        "partners",
    ]
    first = api.call("GET", f"/shares/{share}/all-tables", params={"maxResults": 1}).json()
    assert [t["name"] for t in first["items"]] == ["cities"] and first["nextPageToken"]
    rest = api.call(
        "GET", f"/shares/{share}/all-tables", params={"maxResults": 1, "pageToken": first["nextPageToken"]}
    ).json()
    assert [t["name"] for t in rest["items"]] == ["orders"] and rest["nextPageToken"] == ""
    tables = api.call("GET", f"/shares/{share}/schemas/partners/tables").json()["items"]
    assert [(t["share"], t["schema"], t["name"]) for t in tables] == [(share, "partners", "orders")]
    bad = api.call("GET", f"/shares/{share}/all-tables", params={"pageToken": "nonsense"}, expect=400)
    assert bad.json()["errorCode"] == "INVALID_PARAMETER_VALUE"
    api.call("GET", f"/shares/{other}", expect=403)
    api.call("GET", "/shares/nothing_here", expect=404)

    table = f"/shares/{share}/schemas/partners/tables/orders"
    assert api.call("GET", f"{table}/version").headers["Delta-Table-Version"] == "1"
    metadata = api.call("GET", f"{table}/metadata")
    assert metadata.headers["Delta-Table-Version"] == "1"
    protocol, meta = _ndjson(metadata)
    assert protocol == {"protocol": {"minReaderVersion": 1}}
    assert (
        meta["metaData"]["partitionColumns"] == ["city_id"]
        and meta["metaData"]["format"]["provider"] == "parquet"
    )
    assert [f["name"] for f in json.loads(meta["metaData"]["schemaString"])["fields"]] == list(
        _orders([1], [1]).columns
    )

    lines = _ndjson(api.call("POST", f"{table}/query", json={}))
    files = [line["file"] for line in lines[2:]]
    assert sorted(f["partitionValues"]["city_id"] for f in files) == ["1", "2", "2", "3"]
    blob = requests.get(files[0]["url"], timeout=10)  # a short-lived SAS URL of the data file itself
    assert blob.ok and blob.content[:4] == b"PAR1" and len(blob.content) == files[0]["size"]
    assert files[0]["expirationTimestamp"] > 0 and json.loads(files[0]["stats"])["numRecords"] >= 1
    unsigned = files[0]["url"].split("?", 1)[0]
    assert requests.get(unsigned, timeout=10).status_code in (401, 403, 404)

    old = api.call("POST", f"{table}/query", json={"version": 0})
    assert old.headers["Delta-Table-Version"] == "0" and len(_ndjson(old)) - 2 == 2
    hint = {
        "op": "equal",
        "children": [
            {"op": "column", "name": "city_id", "valueType": "int"},
            {"op": "literal", "value": "2", "valueType": "int"},
        ],
    }
    pruned = _ndjson(api.call("POST", f"{table}/query", json={"jsonPredicateHints": json.dumps(hint)}))
    assert {line["file"]["partitionValues"]["city_id"] for line in pruned[2:]} == {"2"}
    future = api.call("POST", f"{table}/query", json={"timestamp": "2999-01-01T00:00:00Z"})
    assert future.headers["Delta-Table-Version"] == "1"
    api.call("POST", f"{table}/query", json={"timestamp": "2000-01-01 00:00:00"}, expect=400)
    since = api.call("GET", f"{table}/version", params={"startingTimestamp": "2000-01-01T00:00:00Z"})
    assert since.headers["Delta-Table-Version"] == "0"
    limited = _ndjson(api.call("POST", f"{table}/query", json={"limitHint": 1}))
    assert len(limited) == 3
    too_new = api.call("POST", f"{table}/query", json={"version": 7}, expect=400)
    assert "latest version is 1" in too_new.json()["message"]
    no_history = f"/shares/{share}/schemas/extra/tables/cities/query"
    api.call("POST", no_history, json={"version": 0}, expect=400)
    assert len(_ndjson(api.call("POST", no_history, json={}))) == 3

    anonymous = requests.get(f"{api.base}/shares", timeout=10)
    assert anonymous.status_code == 401 and anonymous.json()["errorCode"] == "UNAUTHENTICATED"
    workspace_token = requests.get(
        f"{api.base}/shares", headers={"Authorization": f"Bearer {env.w.config.token}"}, timeout=10
    )
    assert workspace_token.status_code == 401 and set(workspace_token.json()) == {"errorCode", "message"}


# the PII rule ----------------------------------------------------------------------------------------
def test_pii_columns_are_shared_only_when_tagged_encrypted(env: Env):
    employees = env.table(
        "sales",
        f"employees_{uuid.uuid4().hex[:4]}",
        [pl.DataFrame({"id": [1], "email": ["gAAAA-ciphertext"], "team": ["ops"]})],
        [],
    )
    share = f"hr_{uuid.uuid4().hex[:6]}"
    env.sql(f"CREATE SHARE {share}")
    env.sql(f"ALTER TABLE {employees} ALTER COLUMN email SET TAGS ('pii' = 'email')")
    refused = env.sql(f"ALTER SHARE {share} ADD TABLE {employees}", expect="FAILED")
    assert "email" in refused.status.error.message and "pii_protection" in refused.status.error.message
    with pytest.raises(PermissionDenied):
        env.w.shares.update(
            share,
            updates=[
                SharedDataObjectUpdate(
                    action=SharedDataObjectUpdateAction.ADD, data_object=SharedDataObject(name=employees)
                )
            ],
        )
    env.sql(f"ALTER TABLE {employees} ALTER COLUMN email SET TAGS ('pii_protection' = 'encrypted')")
    env.sql(f"ALTER SHARE {share} ADD TABLE {employees}")
    profile = env.recipient_profile(f"hr_{uuid.uuid4().hex[:6]}", [share])
    api = ProtocolSession(profile)
    query = f"/shares/{share}/schemas/sales/tables/{employees.rsplit('.', 1)[1]}/query"
    assert len(_ndjson(api.call("POST", query, json={}))) == 3
    env.sql(f"ALTER TABLE {employees} ALTER COLUMN email UNSET TAGS ('pii_protection')")
    refused_read = api.call("POST", query, json={}, expect=403).json()
    assert refused_read["errorCode"] == "PERMISSION_DENIED" and "email" in refused_read["message"]


# token life ------------------------------------------------------------------------------------------
def test_rotated_and_dropped_recipients_lose_access(env: Env, orders: str):
    share = f"t_{uuid.uuid4().hex[:6]}"
    env.sql(f"CREATE SHARE {share}")
    env.sql(f"ALTER SHARE {share} ADD TABLE {orders}")
    recipient = f"rot_{uuid.uuid4().hex[:6]}"
    old = env.recipient_profile(recipient, [share])
    assert ProtocolSession(old).call("GET", "/shares").ok
    rotated = env.w.recipients.rotate_token(recipient, existing_token_expire_in_seconds=0)
    assert len(rotated.tokens) == 2 and rotated.activation_url
    ProtocolSession(old).call("GET", "/shares", expect=401)
    new = env.w.recipient_activation.retrieve_token(rotated.activation_url.rsplit("?", 1)[1])
    fresh = ProtocolSession({"endpoint": new.endpoint, "bearerToken": new.bearer_token})
    assert [s["name"] for s in fresh.call("GET", "/shares").json()["items"]] == [share]
    env.sql(f"DROP RECIPIENT {recipient}")
    fresh.call("GET", "/shares", expect=401)


def test_an_expired_token_is_refused(env: Env, orders: str):
    share = f"e_{uuid.uuid4().hex[:6]}"
    env.sql(f"CREATE SHARE {share}")
    recipient = f"short_{uuid.uuid4().hex[:6]}"
    expires = int(time.time() * 1000) + 1500
    info = env.w.recipients.create(recipient, AuthenticationType.TOKEN, expiration_time=expires)
    env.sql(f"GRANT SELECT ON SHARE {share} TO RECIPIENT {recipient}")
    token = env.w.recipient_activation.retrieve_token(info.activation_url.rsplit("?", 1)[1])
    assert token.expiration_time.startswith(time.strftime("%Y-%m-%dT", time.gmtime(expires / 1000)))
    api = ProtocolSession({"endpoint": token.endpoint, "bearerToken": token.bearer_token})
    assert api.call("GET", "/shares").ok

    def refused() -> bool:
        answer = requests.get(f"{api.base}/shares", headers=api.headers, timeout=10)
        return answer.status_code == 401 and "expired" in answer.json()["message"]

    wait_until(refused, 15, "the token's expiry")


# the real client -------------------------------------------------------------------------------------
def test_real_delta_sharing_client_reads_exactly_the_table_and_is_refused_after_revoke(
    env: Env, orders: str, sharing_python: str
):
    share = f"client_{uuid.uuid4().hex[:6]}"
    env.sql(f"CREATE SHARE {share}")
    env.sql(f"ALTER SHARE {share} ADD TABLE {orders} AS partners.orders WITH HISTORY")
    recipient = f"client_{uuid.uuid4().hex[:6]}"
    profile = env.recipient_profile(recipient, [share])
    name = f"{share}.partners.orders"
    tables, latest, first, refused_limit = run_recipient(
        sharing_python,
        profile,
        [
            {"do": "tables"},
            {"do": "load", "table": name},
            {"do": "load", "table": name, "version": 0},
            {"do": "load", "table": name, "limit": 1},
        ],
    )
    assert tables == {"tables": [name]}
    expected = env.read(orders)
    assert latest["columns"] == expected.columns
    assert sorted(latest["rows"], key=repr) == plain_rows(expected) and latest["row_count"] == 5
    assert sorted(first["rows"], key=repr) == plain_rows(env.read(orders, version=0))
    assert refused_limit["row_count"] == 1

    env.sql(f"REVOKE SELECT ON SHARE {share} FROM RECIPIENT {recipient}")
    (after,) = run_recipient(sharing_python, profile, [{"do": "load", "table": name}])
    assert after["error"] == "HTTPError" and after["status"] == 403, after
