"""SQL statements that read or write a table's files by path are decided as the table (issue 16,
``statement_access.py`` with ``table_paths.statement_paths``), through databricks-sdk's
``statement_execution`` against Azurite + Sail + the workspace stand-in:

- ``delta.`<location>```, a file under it, its ``_delta_log``, a glob, ``read_files('…')`` need SELECT on
  the table (with USE CATALOG / USE SCHEMA), INSERT / DELETE / MERGE into ``delta.`<location>``` MODIFY —
  the refusal Databricks' ``[INSUFFICIENT_PERMISSIONS] … SQLSTATE: 42501`` and an audit row each;
- a table with a column mask is refused by path for everyone, the owner and metastore admin too
  (``[UNAUTHORIZED_ACCESS] … Path-based access to table … with row filter or column mask not supported.``),
  while by name it is read;
- ``…/weather_hourly_old`` beside ``…/weather_hourly`` is not that table; ``CREATE TABLE … LOCATION`` over a
  table's folder overlaps (``INVALID_PARAMETER_VALUE.LOCATION_OVERLAP``), for everyone.

- a path that is no table's needs READ FILES (reading) or WRITE FILES too (writing) on the external location
  holding it; in no external location it is refused (``NO_PARENT_EXTERNAL_LOCATION_FOR_PATH``).

On the code before, every path statement here was left to the engine: the refused reads succeeded.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from azure.storage.blob import BlobServiceClient
from databricks.sdk import WorkspaceClient
from databricks.sdk.service.catalog import AzureManagedIdentityRequest
from databricks.sdk.service.sql import StatementParameterListItem, StatementState

from tests.helpers.sail_workspace import CATALOG, client_of, failed, ok, run, sail_workspace

pytestmark = pytest.mark.stack
LAKE = "abfss://lake@devstoreaccount1.dfs.core.windows.net"
HOURLY = f"{LAKE}/paths/weather_hourly"
OLD = f"{LAKE}/paths/weather_hourly_old"
PEOPLE = f"{LAKE}/paths/people"
SCHEMA = f"{CATALOG}.paths"
TABLE = f"{SCHEMA}.weather_hourly"
MASKED = f"{SCHEMA}.people"
LANDING = f"{LAKE}/landing"  # an external location holding raw files, no table
CONNECTOR = "/subscriptions/0/resourceGroups/local/providers/Microsoft.Databricks/accessConnectors/local"


@dataclass
class World:
    admin: WorkspaceClient
    #: alice: SELECT on both tables (and MODIFY on the masked one); bob: USE only (and SELECT on the _old
    #: table); carol: MODIFY, no SELECT
    clients: dict[str, WorkspaceClient]
    names: dict[str, str]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with sail_workspace(Path(tmp_path_factory.mktemp("statement-paths"))) as (stack, ws):
        admin = ws.client(stack.workspace_token, retry_timeout_seconds=30)
        suffix = uuid.uuid4().hex[:6]
        names = {k: f"{k}-{suffix}@example.com" for k in ("alice", "bob", "carol")}
        for name in names.values():
            admin.users.create(user_name=name)
        admin.catalogs.create(name=CATALOG)
        ok(admin, f"CREATE SCHEMA {SCHEMA}")
        for table, location in ((TABLE, HOURLY), (f"{TABLE}_old", OLD), (MASKED, PEOPLE)):
            rows = "SELECT * FROM VALUES (1, 'Oslo'), (2, 'Lima') AS v(id, city)"
            ok(admin, f"CREATE TABLE {table} USING DELTA LOCATION '{location}' AS {rows}")
        ok(admin, f"CREATE FUNCTION {SCHEMA}.hide_city(city STRING) RETURNS STRING RETURN '***'")
        ok(admin, f"ALTER TABLE {MASKED} ALTER COLUMN city SET MASK {SCHEMA}.hide_city")
        for name in names.values():
            ok(admin, f"GRANT USE CATALOG ON CATALOG {CATALOG} TO `{name}`")
            ok(admin, f"GRANT USE SCHEMA ON SCHEMA {SCHEMA} TO `{name}`")
        ok(admin, f"GRANT SELECT ON TABLE {TABLE} TO `{names['alice']}`")
        ok(admin, f"GRANT SELECT, MODIFY ON TABLE {MASKED} TO `{names['alice']}`")
        ok(admin, f"GRANT SELECT ON TABLE {TABLE}_old TO `{names['bob']}`")
        ok(admin, f"GRANT MODIFY ON TABLE {TABLE} TO `{names['carol']}`")
        admin.storage_credentials.create(
            "paths_cred", azure_managed_identity=AzureManagedIdentityRequest(access_connector_id=CONNECTOR)
        )
        admin.external_locations.create("landing", LANDING, "paths_cred")
        lake = BlobServiceClient.from_connection_string(stack.connection_string).get_container_client("lake")
        lake.upload_blob("landing/readings.json", b'{"id": 1, "city": "Oslo"}\n{"id": 2, "city": "Lima"}\n')
        ok(admin, f"GRANT READ FILES ON EXTERNAL LOCATION landing TO `{names['alice']}`")
        clients = {k: client_of(ws, admin, v) for k, v in names.items()}
        yield World(admin, clients, names)


def denied(world: World, who: str, action: str) -> list[list[str]]:
    """The 403 rows of ``who`` for ``action`` in system.access.audit: (table, operation, statement id)."""
    return ok(
        world.admin,
        "SELECT request_params['table_full_name'], request_params['operation'], request_id "
        "FROM system.access.audit WHERE user_identity.email = :who AND action_name = :action "
        "AND response.status_code = 403 ORDER BY event_time",
        parameters=[
            StatementParameterListItem(name="who", value=world.names.get(who, who)),
            StatementParameterListItem(name="action", value=action),
        ],
    )


def test_a_select_holder_reads_a_table_by_path(world: World):
    alice = world.clients["alice"]
    assert ok(alice, f"SELECT count(*) FROM delta.`{HOURLY}`") == [["2"]]
    assert ok(alice, f"SELECT city FROM delta.`{HOURLY}/` WHERE id = 1") == [["Oslo"]]


@pytest.mark.parametrize(
    "statement",
    [
        f"SELECT * FROM delta.`{HOURLY}`",
        f"SELECT * FROM parquet.`{HOURLY}/part-00000-0.snappy.parquet`",  # a file under it
        f"SELECT * FROM json.`{HOURLY}/_delta_log/00000000000000000000.json`",  # its log
        f"SELECT * FROM parquet.`{LAKE}/paths/weather_h*`",  # a glob that may match it
        f"SELECT * FROM read_files('{HOURLY}/*.parquet', format => 'parquet')",
        "SELECT * FROM delta.`https://devstoreaccount1.dfs.core.windows.net/lake/paths/weather_hourly`",
        f"SELECT c.* FROM {TABLE}_old AS o JOIN delta.`{HOURLY}` AS c ON o.id = c.id",
        f"INSERT INTO {TABLE}_old SELECT * FROM delta.`{HOURLY}`",
    ],
)
def test_without_select_the_tables_files_are_refused(world: World, statement: str):
    message = failed(world.clients["bob"], statement, "INSUFFICIENT_PERMISSIONS")
    assert f"User does not have SELECT on Table '{TABLE}'" in message and "SQLSTATE: 42501" in message


def test_read_files_of_a_parameter_is_the_path_it_names(world: World):
    answer = run(
        world.clients["bob"],
        "SELECT * FROM read_files(:p)",
        parameters=[StatementParameterListItem(name="p", value=f"{HOURLY}/_delta_log")],
    )
    assert answer.status.state == StatementState.FAILED, answer.status
    assert answer.status.error.message.startswith("[INSUFFICIENT_PERMISSIONS]"), answer.status.error


def test_writes_by_path_need_modify(world: World):
    for who in ("alice", "bob"):  # SELECT alone, or nothing
        for statement in (
            f"INSERT INTO delta.`{HOURLY}` VALUES (9, 'Nuuk')",
            f"DELETE FROM delta.`{HOURLY}` WHERE id = 1",
            f"MERGE INTO delta.`{HOURLY}` AS t USING (SELECT 1 AS id) AS s ON t.id = s.id "
            "WHEN MATCHED THEN DELETE",
        ):
            message = failed(world.clients[who], statement, "INSUFFICIENT_PERMISSIONS")
            assert f"User does not have MODIFY on Table '{TABLE}'" in message, message
    carol = world.clients["carol"]  # MODIFY: writes by path are allowed (Sail 0.7.2 runs no INSERT by path)
    ok(world.admin, f"INSERT INTO {TABLE} VALUES (3, 'Nuuk')")
    deletion = f"DELETE FROM delta.`{HOURLY}` WHERE id = 3"
    for statement in (f"INSERT INTO delta.`{HOURLY}` VALUES (4, 'Suva')", deletion):
        answer = run(carol, statement)
        error = answer.status.error.message if answer.status.error else ""
        assert "INSUFFICIENT_PERMISSIONS" not in error, error
        allowed = ok(
            world.admin,
            "SELECT request_params['table_full_name'], request_params['operation'] FROM system.access.audit "
            "WHERE request_id = :id AND action_name = 'generateTemporaryTableCredential' "
            "AND response.status_code = 200",
            parameters=[StatementParameterListItem(name="id", value=answer.statement_id)],
        )
        assert allowed == [[TABLE, "READ_WRITE"]], allowed
    assert ok(world.admin, f"SELECT count(*) FROM {TABLE}") == [["2"]]
    failed(carol, f"SELECT * FROM delta.`{HOURLY}`", "INSUFFICIENT_PERMISSIONS")


def test_the_denied_attempts_are_audited(world: World):
    answer = run(world.clients["bob"], f"SELECT * FROM delta.`{HOURLY}/_delta_log`")
    assert answer.status.state == StatementState.FAILED
    assert [TABLE, "READ", answer.statement_id] in denied(world, "bob", "generateTemporaryTableCredential")
    answer = run(world.clients["alice"], f"DELETE FROM delta.`{HOURLY}`")
    assert answer.status.state == StatementState.FAILED
    rows = denied(world, "alice", "generateTemporaryTableCredential")
    assert [TABLE, "READ_WRITE", answer.statement_id] in rows


def test_a_masked_table_is_refused_by_path_for_everyone(world: World):
    expected = (
        "[UNAUTHORIZED_ACCESS] Unauthorized access: PERMISSION_DENIED: Path-based access to table "
        f"{MASKED} with row filter or column mask not supported. SQLSTATE: 42501"
    )
    admin, alice = world.admin, world.clients["alice"]  # the owner and metastore admin; a SELECT holder
    for client in (admin, alice):
        assert ok(client, f"SELECT city FROM {MASKED} ORDER BY id") == [["***"], ["***"]]  # by name
        for statement in (
            f"SELECT * FROM delta.`{PEOPLE}`",
            f"SELECT * FROM parquet.`{PEOPLE}/*.parquet`",
            f"SELECT * FROM read_files('{PEOPLE}')",
            f"INSERT INTO delta.`{PEOPLE}` VALUES (3, 'Nuuk')",
        ):
            assert failed(client, statement, "UNAUTHORIZED_ACCESS") == expected
    me = admin.current_user.me().user_name
    for who in (me, "alice"):
        rows = denied(world, who, "generateTemporaryPathCredential")
        assert [r[:2] for r in rows] == [[MASKED, "READ"]] * 3 + [[MASKED, "READ_WRITE"]], rows
    assert ok(admin, f"SELECT count(*) FROM {MASKED}") == [["2"]]  # nothing was written


def test_a_sibling_folder_is_not_the_table(world: World):
    """bob holds SELECT on ``…_old`` only: its path is read, ``…/weather_hourly`` beside it is not."""
    bob = world.clients["bob"]
    assert ok(bob, f"SELECT count(*) FROM delta.`{OLD}`") == [["2"]]
    failed(bob, f"SELECT count(*) FROM delta.`{HOURLY}`", "INSUFFICIENT_PERMISSIONS")


def test_a_table_over_another_tables_files_overlaps(world: World):
    ok(world.admin, f"GRANT CREATE TABLE ON SCHEMA {SCHEMA} TO `{world.names['bob']}`")
    for client in (world.clients["bob"], world.admin):
        for location in (HOURLY, f"{HOURLY}/city=Oslo", f"{LAKE}/paths"):
            statement = f"CREATE TABLE {SCHEMA}.mine_{uuid.uuid4().hex[:6]} USING DELTA LOCATION '{location}'"
            message = failed(client, statement, "INVALID_PARAMETER_VALUE.LOCATION_OVERLAP")
            assert f"Input path url '{location}' overlaps with other external tables" in message
    ok(world.admin, f"CREATE TABLE IF NOT EXISTS {TABLE} USING DELTA LOCATION '{HOURLY}'")  # a no-op


def test_files_in_an_external_location_need_read_files(world: World):
    """alice holds READ FILES on ``landing``, bob nothing: the raw file is read by alice only."""
    statement = f"SELECT id, city FROM json.`{LANDING}/readings.json` ORDER BY id"
    assert ok(world.clients["alice"], statement) == [["1", "Oslo"], ["2", "Lima"]]
    message = failed(world.clients["bob"], statement, "INSUFFICIENT_PERMISSIONS")
    assert "User does not have READ FILES on External Location 'landing'." in message, message
    failed(world.clients["bob"], f"SELECT * FROM read_files('{LANDING}/*.json')", "INSUFFICIENT_PERMISSIONS")
    message = failed(
        world.clients["alice"], f"INSERT INTO delta.`{LANDING}/out` VALUES (1)", "INSUFFICIENT_PERMISSIONS"
    )
    assert "User does not have WRITE FILES on External Location 'landing'." in message, message
    rows = denied(world, "bob", "generateTemporaryPathCredential")
    assert rows and all(r[0] is None for r in rows), rows  # a path decision names no table


def test_a_path_in_no_external_location_is_refused(world: World):
    statement = f"SELECT * FROM json.`{LAKE}/elsewhere/readings.json`"
    for who in ("alice", "bob"):
        message = failed(world.clients[who], statement, "NO_PARENT_EXTERNAL_LOCATION_FOR_PATH")
        assert f"No parent external location was found for path '{LAKE}/elsewhere/readings.json'" in message
    answer = run(world.admin, statement)  # a metastore admin is not decided (the engine answers)
    error = answer.status.error.message if answer.status.error else ""
    assert "NO_PARENT_EXTERNAL_LOCATION_FOR_PATH" not in error, error
