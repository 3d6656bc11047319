"""Unity Catalog PII flags and masks (issue 7) as Databricks gives them, through databricks-sdk's SQL
statements against Azurite + Sail + the workspace stand-in: column and table tags served as
``information_schema.column_tags``/``table_tags``, column masks applied to every result for the caller
(two principals: one in ``pii_readers``), and both kept across a restart of the stand-in.

The stand-in runs in-process here, on the port the stack gave Sail's catalog
(tests/helpers/sail_workspace.py), because the tests need two more tokens and the group configuration the
stack's own workspace does not have."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from databricks.sdk import WorkspaceClient
from databricks.sdk.service.sql import StatementState

from emulators.stack import Stack
from emulators.workspace.testing import InProcessWorkspace
from tests.helpers.sail_workspace import ADMIN, CATALOG, ok, run, sail_options, sail_workspace

pytestmark = pytest.mark.stack
ALICE = "alice@example.com"  # in pii_readers
BOB = "bob@example.com"  # not
ALICE_TOKEN = "dapi-alice-" + uuid.uuid4().hex
BOB_TOKEN = "dapi-bob-" + uuid.uuid4().hex
EMPLOYEES = [
    ("1", "Jane Doe", "jane.doe@example.com", "555-201-1234"),
    ("2", "Omar Haddad", "omar@corp.example", "555-303-9876"),
]
EMAIL_MASK = (
    "CASE WHEN is_account_group_member('pii_readers') THEN email "
    "ELSE concat(left(email, 1), '***@', split(email, '@')[1]) END"
)
PHONE_MASK = (
    "CASE WHEN is_account_group_member('pii_readers') THEN phone ELSE concat('***-***-', right(phone, 4)) END"
)


class Workspace(InProcessWorkspace):
    """The stand-in in this process, on a fixed port (Sail's catalog URI), restartable on its data folder."""

    def __init__(self, stack: Stack, data_dir: Path) -> None:
        super().__init__(
            data_dir,
            **sail_options(stack),
            tokens={stack.workspace_token: ADMIN, ALICE_TOKEN: ALICE, BOB_TOKEN: BOB},
            groups={"pii_readers": [ALICE]},
        )

    def client(self, token: str) -> WorkspaceClient:
        return super().client(token, retry_timeout_seconds=30)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    root = Path(tmp_path_factory.mktemp("governance"))
    with sail_workspace(root, lambda stack: Workspace(stack, root / "workspace")) as (_, ws):
        ws.client(ALICE_TOKEN).catalogs.create(name=CATALOG)
        yield ws


@pytest.fixture()
def employees(workspace: Workspace) -> str:
    """A fresh schema with an employees table (made and filled through SQL statements, as a job would)."""
    w = workspace.client(ALICE_TOKEN)
    schema = f"hr_{uuid.uuid4().hex[:8]}"
    ok(w, f"CREATE SCHEMA {CATALOG}.{schema}")
    table = f"{CATALOG}.{schema}.employees"
    ok(w, f"CREATE TABLE {table} (employee_id INT, name STRING, email STRING, phone STRING)")
    values = ", ".join(f"({i}, '{n}', '{e}', '{p}')" for i, n, e, p in EMPLOYEES)
    ok(w, f"INSERT INTO {table} VALUES {values}")
    return table


def test_column_and_table_tags_are_served_in_information_schema(workspace, employees):
    w = workspace.client(ALICE_TOKEN)
    schema = employees.split(".")[1]
    ok(w, f"ALTER TABLE {employees} ALTER COLUMN email SET TAGS ('pii' = 'email', 'owner' = 'hr')")
    # names resolved with the statement's catalog and schema, as Databricks resolves them
    ok(
        w,
        "ALTER TABLE employees ALTER COLUMN phone SET TAGS ('pii' = 'phone')",
        catalog=CATALOG,
        schema=schema,
    )
    ok(
        w,
        f"ALTER TABLE {schema}.employees SET TAGS ('domain' = 'hr', 'contains_pii' = 'true')",
        catalog=CATALOG,
    )
    rows = ok(
        w,
        "SELECT catalog_name, schema_name, table_name, column_name, tag_name, tag_value "
        f"FROM {CATALOG}.information_schema.column_tags WHERE schema_name = '{schema}' "
        "ORDER BY column_name, tag_name",
    )
    assert rows == [
        [CATALOG, schema, "employees", "email", "owner", "hr"],
        [CATALOG, schema, "employees", "email", "pii", "email"],
        [CATALOG, schema, "employees", "phone", "pii", "phone"],
    ]
    pii = ok(
        w,
        "SELECT column_name FROM information_schema.column_tags "
        f"WHERE schema_name = '{schema}' AND tag_name = 'pii' ORDER BY column_name",
        catalog=CATALOG,
    )
    assert pii == [["email"], ["phone"]]
    table_tags = run(
        w,
        f"SELECT * FROM {CATALOG}.information_schema.table_tags WHERE schema_name = '{schema}' "
        "ORDER BY tag_name",
    )
    assert [c.name for c in table_tags.manifest.schema.columns] == [
        "catalog_name",
        "schema_name",
        "table_name",
        "tag_name",
        "tag_value",
    ]
    assert table_tags.result.data_array == [
        [CATALOG, schema, "employees", "contains_pii", "true"],
        [CATALOG, schema, "employees", "domain", "hr"],
    ]

    ok(w, f"ALTER TABLE {employees} ALTER COLUMN email UNSET TAGS ('owner')")
    ok(w, f"ALTER TABLE {employees} UNSET TAGS ('contains_pii', 'never_set')")
    assert ok(
        w,
        f"SELECT column_name, tag_name FROM {CATALOG}.information_schema.column_tags "
        f"WHERE schema_name = '{schema}' ORDER BY column_name",
    ) == [["email", "pii"], ["phone", "pii"]]
    assert ok(
        w, f"SELECT tag_name FROM {CATALOG}.information_schema.table_tags WHERE schema_name = '{schema}'"
    ) == [["domain"]]
    # the tags are metadata only: the data reads as before
    assert len(ok(w, f"SELECT * FROM {employees}")) == len(EMPLOYEES)


def test_tags_on_an_unknown_column_or_table_fail_as_on_databricks(workspace, employees):
    w = workspace.client(ALICE_TOKEN)
    column = run(w, f"ALTER TABLE {employees} ALTER COLUMN salary SET TAGS ('pii' = 'salary')")
    assert column.status.state == StatementState.FAILED
    assert column.status.error.error_code.value == "BAD_REQUEST"
    assert "UNRESOLVED_COLUMN" in column.status.error.message and "`salary`" in column.status.error.message
    table = run(w, f"ALTER TABLE {employees}_nope SET TAGS ('pii' = 'x')")
    assert table.status.state == StatementState.FAILED
    assert "TABLE_OR_VIEW_NOT_FOUND" in table.status.error.message
    bad_key = run(w, f"ALTER TABLE {employees} ALTER COLUMN email SET TAGS ('a.b' = 'x')")
    assert bad_key.status.state == StatementState.FAILED and "a.b" in bad_key.status.error.message
    mask = run(w, f"ALTER TABLE {employees} ALTER COLUMN email SET MASK {CATALOG}.nowhere.no_function")
    assert mask.status.state == StatementState.FAILED and "ROUTINE_NOT_FOUND" in mask.status.error.message
    assert ok(
        w,
        f"SELECT count(*) FROM {CATALOG}.information_schema.column_tags "
        f"WHERE table_name = 'employees' AND schema_name = '{employees.split('.')[1]}'",
    ) == [["0"]]


def test_column_masks_apply_per_principal_and_drop_mask_restores(workspace, employees):
    alice, bob = workspace.client(ALICE_TOKEN), workspace.client(BOB_TOKEN)
    schema = ".".join(employees.split(".")[:2])
    ok(alice, f"CREATE FUNCTION {schema}.mask_email(email STRING) RETURNS STRING RETURN {EMAIL_MASK}")
    ok(
        alice,
        f"CREATE OR REPLACE FUNCTION {schema}.mask_phone(phone STRING) RETURNS STRING RETURN {PHONE_MASK}",
    )
    function = alice.functions.get(f"{schema}.mask_email")
    assert function.routine_body.value == "SQL" and function.routine_definition == EMAIL_MASK
    assert [p.name for p in function.input_params.parameters] == ["email"]
    ok(alice, f"ALTER TABLE {employees} ALTER COLUMN email SET MASK {schema}.mask_email")
    ok(alice, f"ALTER TABLE {employees} ALTER COLUMN phone SET MASK {schema}.mask_phone")
    columns = {c.name: c for c in alice.tables.get(employees).columns}
    assert columns["email"].mask.function_name == f"{schema}.mask_email"
    assert columns["email"].mask.using_column_names == [] and columns["name"].mask is None

    query = f"SELECT employee_id, name, email, phone FROM {employees} ORDER BY employee_id"
    assert ok(alice, query) == [list(row) for row in EMPLOYEES]
    assert ok(bob, query) == [
        ["1", "Jane Doe", "j***@example.com", "***-***-1234"],
        ["2", "Omar Haddad", "o***@corp.example", "***-***-9876"],
    ]
    # masked at the table: `*`, aliases, filters and aggregates see the masked values too
    star = run(bob, f"SELECT * FROM {employees} AS e WHERE e.employee_id = 1")
    assert [c.name for c in star.manifest.schema.columns] == ["employee_id", "name", "email", "phone"]
    assert star.result.data_array == [["1", "Jane Doe", "j***@example.com", "***-***-1234"]]
    assert ok(bob, f"SELECT count(*) FROM {employees} WHERE email = 'jane.doe@example.com'") == [["0"]]
    assert ok(alice, f"SELECT count(*) FROM {employees} WHERE email = 'jane.doe@example.com'") == [["1"]]
    # a copy made by Bob holds what Bob may see
    ok(bob, f"CREATE TABLE {employees}_copy AS SELECT employee_id, email FROM {employees}")
    assert ok(alice, f"SELECT email FROM {employees}_copy ORDER BY employee_id") == [
        ["j***@example.com"],
        ["o***@corp.example"],
    ]
    # a statement that would read masked data in a way the stand-in cannot mask is refused, not run unmasked
    view = run(bob, f"CREATE VIEW {employees}_view AS SELECT * FROM {employees}")
    assert view.status.state == StatementState.FAILED and "masked table" in view.status.error.message

    ok(alice, f"ALTER TABLE {employees} ALTER COLUMN email DROP MASK")
    assert ok(bob, query) == [
        ["1", "Jane Doe", "jane.doe@example.com", "***-***-1234"],
        ["2", "Omar Haddad", "omar@corp.example", "***-***-9876"],
    ]
    ok(alice, f"ALTER TABLE {employees} ALTER COLUMN phone DROP MASK")
    assert ok(bob, query) == [list(row) for row in EMPLOYEES]


def test_a_mask_holds_for_others_when_the_readers_branch_cannot_run_here(workspace, employees):
    """The members' branch calls a decrypt function the engine does not have; non-members never reach it."""
    alice, bob = workspace.client(ALICE_TOKEN), workspace.client(BOB_TOKEN)
    schema = ".".join(employees.split(".")[:2])
    ok(
        alice,
        f"CREATE FUNCTION {schema}.mask_secret(email STRING) RETURNS STRING RETURN "
        "IF(is_account_group_member('pii_readers'), decrypt_pii(email), '[REDACTED]')",
    )
    ok(alice, f"ALTER TABLE {employees} ALTER COLUMN email SET MASK {schema}.mask_secret")
    assert ok(bob, f"SELECT email FROM {employees} ORDER BY employee_id") == [["[REDACTED]"], ["[REDACTED]"]]
    failed = run(alice, f"SELECT email FROM {employees}")
    assert failed.status.state == StatementState.FAILED  # the engine has no decrypt_pii: never plaintext


def test_tags_and_masks_survive_a_restart_of_the_workspace(workspace, employees):
    alice = workspace.client(ALICE_TOKEN)
    schema = ".".join(employees.split(".")[:2])
    ok(alice, f"ALTER TABLE {employees} ALTER COLUMN email SET TAGS ('pii' = 'email')")
    ok(alice, f"CREATE FUNCTION {schema}.mask_email(email STRING) RETURNS STRING RETURN {EMAIL_MASK}")
    ok(alice, f"ALTER TABLE {employees} ALTER COLUMN email SET MASK {schema}.mask_email")
    tags = (
        f"SELECT column_name, tag_value FROM {CATALOG}.information_schema.column_tags "
        f"WHERE tag_name = 'pii' AND schema_name = '{employees.split('.')[1]}'"
    )
    query = f"SELECT email FROM {employees} ORDER BY employee_id"
    before = ok(alice, tags)
    assert before == [["email", "email"]]

    workspace.stop()
    workspace.start()
    alice, bob = workspace.client(ALICE_TOKEN), workspace.client(BOB_TOKEN)
    assert ok(alice, tags) == before
    assert ok(bob, query) == [["j***@example.com"], ["o***@corp.example"]]
    assert ok(alice, query) == [[EMPLOYEES[0][2]], [EMPLOYEES[1][2]]]

    # a table dropped and made again under the same name starts without the old tags and masks
    ok(alice, f"DROP TABLE {employees}")
    ok(alice, f"CREATE TABLE {employees} (employee_id INT, email STRING)")
    ok(alice, f"INSERT INTO {employees} VALUES (1, 'x@example.com')")
    assert ok(bob, query) == [["x@example.com"]]
    assert ok(alice, tags) == []
