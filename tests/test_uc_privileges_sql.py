"""Unity Catalog privileges through SQL statements (issue 16, step 2), with databricks-sdk's
``statement_execution`` against Azurite + Sail + the workspace stand-in: GRANT / REVOKE / SHOW GRANTS /
ALTER … OWNER TO and ``information_schema.*_privileges`` over the same grants as ``w.grants``; SELECT and
writes of a principal that is not a metastore admin checked (denied, granted, revoked at once); the denied
statements in ``system.access.audit`` read by SQL; COMMENT ON kept in the catalog's records.

The stand-in runs in-process on the port the stack gave Sail's catalog (tests/helpers/sail_workspace.py);
only the stack's own principal (Sail's) is a metastore admin."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from databricks.sdk import WorkspaceClient
from databricks.sdk.service.catalog import PermissionsChange, Privilege
from databricks.sdk.service.iam import ComplexValue
from databricks.sdk.service.sql import StatementParameterListItem, StatementState

from emulators.workspace.testing import InProcessWorkspace
from tests.helpers.sail_workspace import CATALOG, client_of, failed, ok, run, sail_workspace

pytestmark = pytest.mark.stack


@dataclass
class World:
    ws: InProcessWorkspace
    admin: WorkspaceClient
    alice: WorkspaceClient
    bob: WorkspaceClient
    carol: WorkspaceClient
    names: dict[str, str]
    ids: dict[str, str]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with sail_workspace(Path(tmp_path_factory.mktemp("uc-privileges-sql"))) as (stack, ws):
        admin = ws.client(stack.workspace_token, retry_timeout_seconds=30)
        suffix = uuid.uuid4().hex[:6]
        names = {k: f"{k}-{suffix}@example.com" for k in ("alice", "bob", "carol")}
        ids = {k: admin.users.create(user_name=v).id for k, v in names.items()}
        names["engineers"] = f"data engineers {suffix}"
        engineers = admin.groups.create(
            display_name=names["engineers"], members=[ComplexValue(value=ids["bob"])]
        )
        ids["engineers"] = engineers.id
        alice, bob, carol = (client_of(ws, admin, names[k]) for k in ("alice", "bob", "carol"))
        admin.catalogs.create(name=CATALOG)
        yield World(ws, admin, alice, bob, carol, names, ids)


@pytest.fixture()
def table(world: World) -> str:
    """A fresh schema with a filled table, made by the admin through SQL statements."""
    schema = f"s_{uuid.uuid4().hex[:8]}"
    ok(world.admin, f"CREATE SCHEMA {CATALOG}.{schema}")
    full_name = f"{CATALOG}.{schema}.readings"
    ok(world.admin, f"CREATE TABLE {full_name} (id INT, city STRING)")
    ok(world.admin, f"INSERT INTO {full_name} VALUES (1, 'Oslo'), (2, 'Lima')")
    return full_name


def _path(world: World, table: str, who: str) -> None:
    """USE CATALOG and USE SCHEMA for ``who`` (SQL)."""
    schema = table.rsplit(".", 1)[0]
    ok(world.admin, f"GRANT USE CATALOG ON CATALOG {CATALOG} TO `{world.names[who]}`")
    ok(world.admin, f"GRANT USE SCHEMA ON SCHEMA {schema} TO `{world.names[who]}`")


def test_sql_grants_are_the_rest_grants(world: World, table: str):
    schema = table.rsplit(".", 1)[0]
    alice, engineers = world.names["alice"], world.names["engineers"]
    ok(world.admin, f"GRANT SELECT, MODIFY ON TABLE {table} TO `{alice}`")
    rest = {a.principal: a.privileges for a in world.admin.grants.get("table", table).privilege_assignments}
    assert set(rest[alice]) == {Privilege.MODIFY, Privilege.SELECT}
    # the other way: granted through REST, shown by SQL with what the table inherits from its schema
    world.admin.grants.update(
        "schema", schema, changes=[PermissionsChange(principal=engineers, add=[Privilege.USE_SCHEMA])]
    )
    rows = ok(world.admin, f"SHOW GRANTS ON TABLE {table}")
    assert [alice, "MODIFY", "TABLE", table] in rows and [alice, "SELECT", "TABLE", table] in rows
    assert [engineers, "USE SCHEMA", "SCHEMA", schema] in rows
    answer = run(world.admin, f"SHOW GRANTS `{alice}` ON TABLE {table}")
    columns = [c.name for c in answer.manifest.schema.columns]
    assert columns == ["principal", "actionType", "objectType", "objectKey"]
    assert {r[0] for r in answer.result.data_array} == {alice}
    ok(world.admin, f"REVOKE MODIFY ON TABLE {table} FROM `{alice}`")
    rest = {a.principal: a.privileges for a in world.admin.grants.get("table", table).privilege_assignments}
    assert rest[alice] == [Privilege.SELECT]
    # names resolved with the statement's catalog and schema; DATABASE is SCHEMA
    ok(
        world.admin,
        f"GRANT CREATE TABLE ON DATABASE {schema.split('.')[1]} TO `{engineers}`",
        catalog=CATALOG,
    )
    effective = world.admin.grants.get_effective("schema", schema, principal=engineers)
    assert {p.privilege for a in effective.privilege_assignments for p in a.privileges} == {
        Privilege.USE_SCHEMA,
        Privilege.CREATE_TABLE,
    }


def test_information_schema_privileges(world: World, table: str):
    catalog, schema, name = table.split(".")
    alice = world.names["alice"]
    ok(world.admin, f"GRANT USE CATALOG ON CATALOG {CATALOG} TO `{alice}`")
    ok(world.admin, f"GRANT SELECT ON SCHEMA {catalog}.{schema} TO `{alice}`")
    rows = ok(
        world.admin,
        "SELECT grantee, table_catalog, table_schema, table_name, privilege_type, is_grantable, "
        "inherited_from "
        f"FROM {CATALOG}.information_schema.table_privileges WHERE table_schema = '{schema}'",
    )
    assert rows == [[alice, catalog, schema, name, "SELECT", "NO", "SCHEMA"]]
    rows = ok(
        world.admin,
        "SELECT grantee, catalog_name, schema_name, privilege_type, inherited_from "
        f"FROM information_schema.schema_privileges WHERE schema_name = '{schema}' AND grantee = '{alice}' "
        "ORDER BY privilege_type",
        catalog=CATALOG,
    )
    assert rows == [[alice, catalog, schema, "SELECT", "NONE"]]  # a catalog's USE CATALOG: no schema row
    rows = ok(
        world.admin,
        f"SELECT privilege_type FROM {CATALOG}.information_schema.catalog_privileges "
        f"WHERE grantee = '{alice}'",
    )
    assert rows == [["USE CATALOG"]]
    # rows only of what the caller may see: carol has no grant anywhere
    for view in ("tables", "columns", "table_privileges", "schemata"):
        assert ok(world.carol, f"SELECT count(*) FROM {CATALOG}.information_schema.{view}") == [["0"]]
    mine = f"SELECT count(*) FROM {CATALOG}.information_schema.tables WHERE table_schema = '{schema}'"
    assert ok(world.alice, mine) == [["0"]]  # SELECT on the schema, but no USE SCHEMA: the path is shut
    ok(world.admin, f"GRANT USE SCHEMA ON SCHEMA {catalog}.{schema} TO `{alice}`")
    assert ok(world.alice, mine) == [["1"]]


def test_select_denied_granted_then_revoked_at_once(world: World, table: str):
    query = f"SELECT id, city FROM {table} ORDER BY id"
    ok(world.admin, f"REVOKE USE CATALOG ON CATALOG {CATALOG} FROM `{world.names['alice']}`")
    message = failed(world.alice, query, "INSUFFICIENT_PERMISSIONS")
    assert f"User does not have USE CATALOG on Catalog '{CATALOG}'" in message
    assert run(world.alice, query).status.sql_state == "42501"
    _path(world, table, "alice")
    message = failed(world.alice, query, "INSUFFICIENT_PERMISSIONS")
    assert f"User does not have SELECT on Table '{table}'" in message
    ok(world.admin, f"GRANT SELECT ON TABLE {table} TO `{world.names['alice']}`")
    assert ok(world.alice, query) == [["1", "Oslo"], ["2", "Lima"]]
    # a join, a CTE and a subquery read the same table: all checked
    assert ok(world.alice, f"WITH r AS (SELECT * FROM {table}) SELECT count(*) FROM r") == [["2"]]
    ok(world.admin, f"REVOKE SELECT ON TABLE {table} FROM `{world.names['alice']}`")
    failed(world.alice, query, "INSUFFICIENT_PERMISSIONS")
    failed(world.alice, f"SELECT * FROM (SELECT id FROM {table}) AS t", "INSUFFICIENT_PERMISSIONS")
    # through a group (bob ∈ data engineers), granted on the schema
    schema = table.rsplit(".", 1)[0]
    ok(world.admin, f"GRANT USE CATALOG ON CATALOG {CATALOG} TO `{world.names['engineers']}`")
    ok(world.admin, f"GRANT USE SCHEMA, SELECT ON SCHEMA {schema} TO `{world.names['engineers']}`")
    assert ok(world.bob, f"SELECT count(*) FROM {table}") == [["2"]]


def test_writes_need_modify(world: World, table: str):
    _path(world, table, "alice")
    alice = world.names["alice"]
    ok(world.admin, f"GRANT SELECT ON TABLE {table} TO `{alice}`")
    insert = f"INSERT INTO {table} VALUES (3, 'Pune')"
    assert f"User does not have MODIFY on Table '{table}'" in failed(
        world.alice, insert, "INSUFFICIENT_PERMISSIONS"
    )
    ok(world.admin, f"GRANT MODIFY ON TABLE {table} TO `{alice}`")
    ok(world.alice, insert)
    assert ok(world.alice, f"SELECT count(*) FROM {table}") == [["3"]]
    # a CTAS reads with SELECT and needs CREATE TABLE on the schema
    schema = table.rsplit(".", 1)[0]
    ctas = f"CREATE TABLE {schema}.copy AS SELECT * FROM {table}"
    assert "CREATE TABLE on Schema" in failed(world.alice, ctas, "INSUFFICIENT_PERMISSIONS")
    failed(world.alice, f"DROP TABLE {table}", "INSUFFICIENT_PERMISSIONS")


def test_owner_transfer_through_sql(world: World, table: str):
    alice, bob = world.names["alice"], world.names["bob"]
    grant = f"GRANT SELECT ON TABLE {table} TO `{bob}`"
    assert "MANAGE on Table" in failed(world.alice, grant, "PERMISSION_DENIED")
    failed(world.alice, f"ALTER TABLE {table} OWNER TO `{alice}`", "PERMISSION_DENIED")
    ok(world.admin, f"ALTER TABLE {table} OWNER TO `{alice}`")
    assert world.admin.tables.get(table).owner == alice
    ok(world.alice, grant)  # the new owner grants on it
    assert [bob, "SELECT", "TABLE", table] in ok(world.alice, f"SHOW GRANTS ON TABLE {table}")
    # ALTER SCHEMA … SET OWNER TO, a group with a space in its name
    schema = table.rsplit(".", 1)[0]
    ok(world.admin, f"ALTER SCHEMA {schema} SET OWNER TO `{world.names['engineers']}`")
    assert world.admin.schemas.get(schema).owner == world.names["engineers"]
    failed(world.admin, f"ALTER TABLE {table} OWNER TO `nobody@example.com`", "PRINCIPAL_DOES_NOT_EXIST")
    failed(world.admin, f"GRANT SELECT ON TABLE {table} TO `nobody@example.com`", "PRINCIPAL_DOES_NOT_EXIST")
    failed(world.admin, f"GRANT SELECT ON TABLE {table}", "PARSE_SYNTAX_ERROR")
    failed(world.admin, f"GRANT CREATE CATALOG ON TABLE {table} TO `{bob}`", "INVALID_PARAMETER_VALUE")


def test_denied_statements_are_in_system_access_audit(world: World, table: str):
    alice = world.names["alice"]
    ok(world.admin, f"REVOKE USE CATALOG ON CATALOG {CATALOG} FROM `{alice}`")
    failed(world.alice, f"SELECT * FROM {table}", "INSUFFICIENT_PERMISSIONS")
    rows = ok(
        world.admin,
        "SELECT user_identity.email, service_name, request_params['table_full_name'], "
        "request_params['operation'], response.status_code, response.error_message "
        "FROM system.access.audit WHERE action_name = 'generateTemporaryTableCredential' "
        "AND response.status_code = 403 AND user_identity.email = :who ORDER BY event_time DESC LIMIT 1",
        parameters=[StatementParameterListItem(name="who", value=alice)],
    )
    assert rows == [
        [
            alice,
            "unityCatalog",
            table,
            "READ",
            "403",
            f"User does not have USE CATALOG on Catalog '{CATALOG}'.",
        ]
    ]
    grants = ok(
        world.admin,
        "SELECT count(*) FROM system.access.audit a WHERE a.action_name = 'updatePermissions' "
        "AND a.response.status_code = 200",
    )
    assert int(grants[0][0]) >= 1
    latest = ok(world.admin, "SELECT max(event_time), max(event_date) FROM system.access.audit")[0]
    moment = dt.datetime.fromisoformat(latest[0].replace("Z", "+00:00"))
    assert abs((dt.datetime.now(dt.UTC) - moment).total_seconds()) < 300  # in UTC, as Databricks shows it
    assert latest[1] == moment.date().isoformat()
    failed(world.alice, "SELECT * FROM system.access.audit", "INSUFFICIENT_PERMISSIONS")
    everything = ok(world.admin, "SELECT to_json(struct(*)) FROM system.access.audit")
    assert everything and not any("dapi" in row[0] for row in everything)  # no token in the log


def test_comments_round_trip(world: World, table: str):
    catalog, schema, name = table.split(".")
    ok(world.admin, f"COMMENT ON TABLE {table} IS 'Hourly readings per city (°C).'")
    ok(world.admin, f"COMMENT ON COLUMN {table}.city IS 'City name; not PII.'")
    ok(world.admin, f"ALTER TABLE {table} ALTER COLUMN id COMMENT 'Reading id'")
    ok(world.admin, f"COMMENT ON SCHEMA {catalog}.{schema} IS 'A test schema'")
    ok(world.admin, f"COMMENT ON CATALOG {catalog} IS 'The lake'")
    info = world.admin.tables.get(table)
    assert info.comment == "Hourly readings per city (°C)."
    assert {c.name: c.comment for c in info.columns} == {"id": "Reading id", "city": "City name; not PII."}
    assert world.admin.schemas.get(f"{catalog}.{schema}").comment == "A test schema"
    assert world.admin.catalogs.get(catalog).comment == "The lake"
    assert ok(
        world.admin,
        f"SELECT comment FROM {catalog}.information_schema.tables WHERE table_schema = '{schema}'",
    ) == [["Hourly readings per city (°C)."]]
    assert ok(
        world.admin,
        "SELECT column_name, comment FROM information_schema.columns "
        f"WHERE table_schema = '{schema}' AND table_name = '{name}' ORDER BY ordinal_position",
        catalog=catalog,
    ) == [["id", "Reading id"], ["city", "City name; not PII."]]
    assert ok(world.admin, f"DESCRIBE TABLE {table}") == [
        ["id", "int", "Reading id"],
        ["city", "string", "City name; not PII."],
    ]
    ok(world.admin, f"COMMENT ON TABLE {table} IS NULL")
    assert world.admin.tables.get(table).comment is None
    # a principal without MODIFY nor ownership may not comment; with MODIFY it may (tables)
    _path(world, table, "alice")
    failed(world.alice, f"COMMENT ON TABLE {table} IS 'x'", "PERMISSION_DENIED")
    ok(world.admin, f"GRANT MODIFY ON TABLE {table} TO `{world.names['alice']}`")
    ok(world.alice, f"COMMENT ON TABLE {table} IS 'by alice'")
    assert world.admin.tables.get(table).comment == "by alice"
    missing = run(world.alice, f"DESCRIBE TABLE {catalog}.{schema}.nope_{name}").status
    assert missing.state == StatementState.FAILED and "TABLE_OR_VIEW_NOT_FOUND" in missing.error.message


def test_matrix_principal_securable_action(world: World, table: str):
    """principal × statement → allowed or denied: grants on the schema reach its tables (inheritance), a
    group inside a group holds what the outer one is granted, and every refusal is a row of
    system.access.audit whose request_id is the statement's id."""
    catalog, schema, _ = table.split(".")
    schema_full = f"{catalog}.{schema}"
    platform = f"platform {uuid.uuid4().hex[:6]}"  # ⊃ data engineers ∋ bob
    world.admin.groups.create(display_name=platform, members=[ComplexValue(value=world.ids["engineers"])])
    alice = world.names["alice"]
    for statement in (
        f"GRANT USE CATALOG ON CATALOG {catalog} TO `{platform}`",
        f"GRANT USE SCHEMA, SELECT ON SCHEMA {schema_full} TO `{platform}`",
        f"GRANT USE CATALOG ON CATALOG {catalog} TO `{alice}`",
        f"GRANT USE SCHEMA ON SCHEMA {schema_full} TO `{alice}`",
        f"GRANT MODIFY ON TABLE {table} TO `{alice}`",
    ):
        ok(world.admin, statement)
    matrix = [
        ("alice", f"SELECT * FROM {table}", False),  # MODIFY is no SELECT
        ("alice", f"INSERT INTO {table} VALUES (9, 'Baku')", True),
        ("alice", f"DELETE FROM {table} WHERE id = 9", True),
        ("alice", f"DESCRIBE TABLE {table}", True),
        ("bob", f"SELECT * FROM {table}", True),  # platform ⊃ data engineers, granted on the schema
        ("bob", f"SELECT count(*) FROM {table} a JOIN {table} b ON a.id = b.id", True),
        ("bob", f"INSERT INTO {table} VALUES (8, 'Rome')", False),
        ("bob", f"CREATE TABLE {schema_full}.bobs AS SELECT * FROM {table}", False),  # no CREATE TABLE
        ("carol", f"SELECT * FROM {table}", False),
        ("carol", f"DESCRIBE TABLE {table}", False),
        ("carol", f"UPDATE {table} SET city = 'X'", False),
        ("carol", f"SHOW GRANTS ON TABLE {table}", False),
    ]
    clients = {"alice": world.alice, "bob": world.bob, "carol": world.carol}
    denied = set()
    for who, statement, allowed in matrix:
        answer = run(clients[who], statement)
        if allowed:
            assert answer.status.state == StatementState.SUCCEEDED, (who, statement, answer.status)
        else:
            assert answer.status.state == StatementState.FAILED, (who, statement)
            assert answer.status.error.message.split("]")[0] in (
                "[INSUFFICIENT_PERMISSIONS",
                "[PERMISSION_DENIED",
            ), (who, statement, answer.status.error.message)
            denied.add(answer.statement_id)
    # SHOW GRANTS of one's own (group's) privileges needs no MANAGE; on the metastore too
    assert [platform, "SELECT", "SCHEMA", schema_full] in ok(
        world.bob, f"SHOW GRANTS `{platform}` ON TABLE {table}"
    )
    ok(world.admin, f"GRANT CREATE CATALOG ON METASTORE TO `{alice}`")
    assert [alice, "CREATE CATALOG", "METASTORE"] in [
        r[:3] for r in ok(world.admin, "SHOW GRANTS ON METASTORE")
    ]
    logged = ok(
        world.admin,
        "SELECT DISTINCT request_id FROM system.access.audit WHERE response.status_code = 403",
    )
    assert denied <= {row[0] for row in logged}


def test_tags_need_apply_tag_and_masks_ownership(world: World, table: str):
    _path(world, table, "alice")
    tag = f"ALTER TABLE {table} ALTER COLUMN city SET TAGS ('pii' = 'none')"
    assert f"User does not have APPLY TAG on Table '{table}'" in failed(
        world.alice, tag, "INSUFFICIENT_PERMISSIONS"
    )
    ok(world.admin, f"GRANT APPLY TAG ON TABLE {table} TO `{world.names['alice']}`")
    ok(world.alice, tag)
    ok(world.alice, f"ALTER TABLE {table} UNSET TAGS ('nothing')")
    failed(world.alice, f"ALTER TABLE {table} ALTER COLUMN city DROP MASK", "INSUFFICIENT_PERMISSIONS")
    ok(world.admin, f"ALTER TABLE {table} OWNER TO `{world.names['alice']}`")
    ok(world.alice, f"ALTER TABLE {table} ALTER COLUMN city DROP MASK")
