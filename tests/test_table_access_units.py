"""The table decisions SQL statements and job plans share (``Access.decide_tables``, issue 16), pinned
without an engine: for each, which questions are asked in which order (the audit rows, with their
parameters and status), and the message a refusal gives — statements as a failed statement
(``SqlStatementError``), plans as ``Refused`` with Databricks' framing. The expected rows are what the two
separate loops wrote before they were made one."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from emulators.common.records import RecordStore
from emulators.workspace.access import Access
from emulators.workspace.audit import AuditLog
from emulators.workspace.catalog import UnityCatalog
from emulators.workspace.governance import SqlStatementError
from emulators.workspace.privileges import Privileges
from emulators.workspace.run_identity import PlanAccess, Refused, Touched
from emulators.workspace.statement_access import StatementAccess

ADMIN = "admin@example.com"
ALICE = "alice@example.com"
C = "lake"
UNREADABLE = (
    "Insufficient privileges: the local workspace cannot tell which tables this statement uses, so it is not "
    "run for a principal that is not a metastore admin."
)


def framed(reason: str) -> str:
    """A refusal as both a failed statement and a refused plan say it (Databricks' statement errors)."""
    return f"[INSUFFICIENT_PERMISSIONS] Insufficient privileges: {reason} SQLSTATE: 42501"


@dataclass
class Env:
    access: Access
    privileges: Privileges

    def grant(self, kind: str, name: str, *privileges: str) -> None:
        securable = self.privileges.resolve(kind, name)
        self.privileges.update(securable, [{"principal": ALICE, "add": list(privileges)}])

    def rows(self) -> list[tuple[str, dict[str, str], int]]:
        """(action, params, status) of every audit row, oldest first."""
        return [
            (r["action_name"], r["request_params"], r["response"]["status_code"])
            for r in self.access.audit.rows()
        ]


@pytest.fixture()
def env() -> Iterator[Env]:
    store = RecordStore(":memory:")
    catalog = UnityCatalog(store, "abfss://lake@example.dfs.core.windows.net/unity")
    catalog.create_catalog({"name": C}, ADMIN)
    for schema in ("gold", "silver"):
        catalog.create_schema({"catalog_name": C, "name": schema}, ADMIN)
    for table in ("gold.daily", "gold.cities", "silver.hourly"):
        schema, name = table.split(".")
        catalog.create_table({"catalog_name": C, "schema_name": schema, "name": name}, ADMIN)
    privileges = Privileges(store, lambda name: frozenset([name.lower()]), [ADMIN])
    audit = AuditLog(RecordStore(":memory:"))
    try:
        yield Env(Access(privileges, audit), privileges)
    finally:
        audit.close()


def _statement(env: Env, sql: str) -> None:
    record = {"created_by": ALICE, "statement": sql, "statement_id": "st-1"}
    StatementAccess(env.access).check(record, lambda: (C, "gold"))


def test_statement_decisions_in_order_then_the_first_refusal(env: Env):
    env.grant("CATALOG", C, "USE_CATALOG")
    env.grant("SCHEMA", f"{C}.gold", "USE_SCHEMA", "CREATE_TABLE")
    env.grant("SCHEMA", f"{C}.silver", "USE_SCHEMA")
    env.grant("TABLE", f"{C}.silver.hourly", "SELECT")
    env.grant("TABLE", f"{C}.gold.cities", "SELECT")
    with pytest.raises(SqlStatementError) as refused:
        _statement(
            env,
            f"INSERT INTO {C}.gold.daily SELECT h.* FROM {C}.silver.hourly h JOIN cities c ON h.id = c.id",
        )
    assert refused.value.message == framed(f"User does not have MODIFY on Table '{C}.gold.daily'.")
    statement = {"statement_id": "st-1"}
    cred = "generateTemporaryTableCredential"
    assert env.rows() == [
        (cred, {"table_full_name": f"{C}.gold.cities", "operation": "READ", **statement}, 200),
        (cred, {"table_full_name": f"{C}.silver.hourly", "operation": "READ", **statement}, 200),
        (cred, {"table_full_name": f"{C}.gold.daily", "operation": "READ_WRITE", **statement}, 403),
    ]


def test_statement_create_drop_describe_and_the_audit_table(env: Env):
    env.grant("CATALOG", C, "USE_CATALOG")
    env.grant("SCHEMA", f"{C}.gold", "USE_SCHEMA", "CREATE_TABLE")
    _statement(env, f"CREATE TABLE {C}.gold.fresh AS SELECT 1 AS one")
    _statement(env, "DESCRIBE TABLE nowhere")  # not in the catalog: the engine answers
    with pytest.raises(SqlStatementError) as describe:
        _statement(env, "DESCRIBE TABLE daily")
    assert describe.value.message == framed(f"User does not have SELECT on Table '{C}.gold.daily'.")
    with pytest.raises(SqlStatementError) as drop:
        _statement(env, f"DROP TABLE {C}.gold.daily")
    assert drop.value.message == framed(f"User does not have MANAGE on Table '{C}.gold.daily'.")
    with pytest.raises(SqlStatementError) as audit:
        _statement(env, "SELECT * FROM system.access.audit")
    assert audit.value.message == framed("User does not have SELECT on Table 'system.access.audit'.")
    with pytest.raises(SqlStatementError) as unreadable:
        _statement(env, "SELECT FROM WHERE (")
    assert unreadable.value.message == f"[INSUFFICIENT_PERMISSIONS] {UNREADABLE} SQLSTATE: 42501"
    statement = {"statement_id": "st-1"}
    assert env.rows() == [
        ("createTable", statement, 200),
        ("getTable", {"full_name_arg": f"{C}.gold.daily"}, 403),  # a metadata read: no statement id
        ("deleteTable", {"full_name_arg": f"{C}.gold.daily", **statement}, 403),
        (
            "generateTemporaryTableCredential",
            {"table_full_name": "system.access.audit", "operation": "READ", **statement},
            403,
        ),
    ]


def test_plan_decisions_in_order_then_the_first_refusal(env: Env):
    env.grant("CATALOG", C, "USE_CATALOG")
    env.grant("SCHEMA", f"{C}.gold", "USE_SCHEMA", "CREATE_TABLE")
    env.grant("SCHEMA", f"{C}.silver", "USE_SCHEMA")
    env.grant("TABLE", f"{C}.silver.hourly", "SELECT")
    plans = PlanAccess(env.access, ALICE, {"job_id": 7, "run_id": 9, "task": None})
    touched = Touched(
        reads={f"{C}.silver.hourly", f"{C}.silver.nowhere", "system.information_schema.tables"},
        creates={f"{C}.gold.new_one", f"{C}.gold.daily"},  # the first is made, the second exists
        creates_in_schema={f"{C}.silver"},
    )
    with pytest.raises(Refused) as refused:
        plans.check(touched)
    assert refused.value.message == framed(f"User does not have CREATE TABLE on Schema '{C}.silver'.")
    run = {"job_id": "7", "run_id": "9"}
    assert env.rows() == [("createTable", run, 403)]
    env.grant("SCHEMA", f"{C}.silver", "CREATE_TABLE")
    touched.creates_in_schema = set()
    with pytest.raises(Refused) as modify:
        plans.check(touched)
    assert modify.value.message == framed(f"User does not have MODIFY on Table '{C}.gold.daily'.")
    assert f"{C}.gold.daily" in touched.writes  # an existing table a plan "creates" is written
    cred = "generateTemporaryTableCredential"
    assert env.rows()[1:] == [
        ("createTable", run, 200),
        (cred, {"table_full_name": f"{C}.silver.hourly", "operation": "READ", **run}, 200),
        (cred, {"table_full_name": f"{C}.gold.daily", "operation": "READ_WRITE", **run}, 403),
    ]
    with pytest.raises(Refused) as drop:
        plans.check(Touched(drops={f"{C}.gold.cities"}, reads={f"{C}.silver.hourly"}))
    assert drop.value.message == framed(f"User does not have MANAGE on Table '{C}.gold.cities'.")
    assert env.rows()[4:] == [("deleteTable", {"full_name_arg": f"{C}.gold.cities", **run}, 403)]
    with pytest.raises(Refused) as unreadable:
        plans.check(Touched(unreadable=True))
    assert unreadable.value.message == f"[INSUFFICIENT_PERMISSIONS] {UNREADABLE} SQLSTATE: 42501"
