"""The governance model without an engine: tag commands and their validation, the information_schema tag
views, and the mask rewrite a statement gets for a member and a non-member of ``pii_readers``. The same
behaviour through Sail and databricks-sdk is in test_governance.py."""

from __future__ import annotations

import pytest

from emulators.common.records import RecordStore
from emulators.workspace.catalog import UnityCatalog
from emulators.workspace.governance import Governance, SqlStatementError

MEMBER, OTHER = "alice@example.com", "bob@example.com"
MASK = (
    "CREATE FUNCTION cl.hr.mask_email(email STRING) RETURNS STRING RETURN CASE WHEN "
    "is_account_group_member('pii_readers') THEN decrypt_pii(email) "
    "ELSE concat(left(email, 1), '***@', split(email, '@')[1]) END"
)


@pytest.fixture()
def governance() -> Governance:
    store = RecordStore(":memory:")
    catalog = UnityCatalog(store, "abfss://lake@devstoreaccount1.dfs.core.windows.net/unity")
    catalog.create_catalog({"name": "cl"}, MEMBER)
    catalog.create_schema({"name": "hr", "catalog_name": "cl"}, MEMBER)
    columns = [
        {"name": n, "type_name": "STRING", "type_text": "string", "position": i}
        for i, n in enumerate(["id", "name", "email"])
    ]
    catalog.create_table(
        {"name": "emp", "catalog_name": "cl", "schema_name": "hr", "columns": columns}, MEMBER
    )
    gov = Governance(store, catalog, {"pii_readers": [MEMBER.upper()]})  # principals match case-insensitively
    catalog.column_masks = gov.column_masks
    return gov


def run(gov: Governance, sql: str, who: str = MEMBER, parameters: list | None = None):
    record = {"statement": sql, "created_by": who, "row_limit": None, "parameters": parameters or []}
    defaults = lambda: ("cl", "hr")  # noqa: E731 - the statement's catalog and schema
    return gov.answer(record, defaults), gov.rewrite(record, defaults)


def rows(gov: Governance, sql: str) -> list[list[str]]:
    (_, result), _ = run(gov, sql)
    return result.get("data_array", [])


def test_tag_commands_store_tags_and_the_views_answer_them(governance):
    run(
        governance,
        "-- flag PII\nALTER TABLE emp ALTER COLUMN email SET TAGS ('pii' = 'email', \"note\" = 'a--b')",
    )
    run(governance, "alter table hr.emp change column NAME set tags ('pii' = 'name');")
    run(governance, "ALTER TABLE cl.hr.emp SET TAGS ('domain' = 'hr')")
    assert rows(
        governance, "SELECT column_name, tag_name, tag_value FROM information_schema.column_tags"
    ) == [
        ["email", "note", "a--b"],
        ["email", "pii", "email"],
        ["name", "pii", "name"],
    ]
    assert rows(governance, "SELECT table_name, tag_value FROM cl.information_schema.table_tags") == [
        ["emp", "hr"]
    ]
    run(governance, "ALTER TABLE emp ALTER COLUMN email UNSET TAGS ('note', 'absent')")
    assert rows(
        governance, "SELECT count(*) AS n FROM information_schema.column_tags WHERE tag_name = 'note'"
    ) == [["0"]]
    assert governance.answer({"statement": "ALTER TABLE emp ADD COLUMN x INT"}, lambda: ("cl", "hr")) is None


@pytest.mark.parametrize(
    ("sql", "error"),
    [
        ("ALTER TABLE emp ALTER COLUMN salary SET TAGS ('pii' = 'x')", "UNRESOLVED_COLUMN"),
        ("ALTER TABLE nope SET TAGS ('pii' = 'x')", "TABLE_OR_VIEW_NOT_FOUND"),
        ("ALTER TABLE emp SET TAGS ('a=b' = 'x')", "INVALID_TAG"),
        ("ALTER TABLE emp SET TAGS (pii = 'x')", "INVALID_TAG"),
        ("ALTER TABLE emp ALTER COLUMN email SET MASK cl.hr.missing", "ROUTINE_NOT_FOUND"),
        ("SELECT * FROM nocatalog.information_schema.column_tags", "TABLE_OR_VIEW_NOT_FOUND"),
        ("SELECT * FROM information_schema.column_tags JOIN cl.hr.emp", "UNSUPPORTED_FEATURE"),
    ],
)
def test_bad_commands_fail_with_databricks_error_classes(governance, sql, error):
    with pytest.raises(SqlStatementError, match=error) as failed:
        run(governance, sql)
    assert failed.value.getSqlState()


def test_masks_rewrite_reads_per_principal_and_drop_the_branch_not_taken(governance):
    run(governance, MASK)
    run(governance, "ALTER TABLE emp ALTER COLUMN email SET MASK mask_email")
    assert governance.catalog.get_table("cl.hr.emp")["columns"][2]["mask"] == {
        "function_name": "cl.hr.mask_email",
        "using_column_names": [],
    }
    _, other = run(governance, "SELECT e.email FROM emp AS e WHERE email LIKE :p", OTHER, [{"name": "p"}])
    assert other == (
        "SELECT e.email FROM (SELECT `id`, `name`, CONCAT(LEFT(`email`, 1), '***@', SPLIT(`email`, '@')[1]) "
        "AS `email` FROM emp) AS e WHERE email LIKE :p"
    )
    assert "DECRYPT_PII" not in other and "is_account_group_member" not in other.lower()
    _, member = run(governance, "SELECT * FROM cl.hr.emp", MEMBER)
    assert (
        member == "SELECT * FROM (SELECT `id`, `name`, DECRYPT_PII(`email`) AS `email` FROM cl.hr.emp) AS emp"
    )
    _, ctas = run(governance, "CREATE TABLE copy AS WITH e AS (SELECT * FROM emp) SELECT * FROM e", OTHER)
    assert "CONCAT(LEFT(`email`, 1)" in ctas and ctas.startswith("CREATE TABLE copy AS WITH e AS (SELECT")
    assert run(governance, "SELECT 1 AS emp_count", OTHER) == (None, None)
    for refused in (
        "CREATE VIEW v AS SELECT * FROM emp",
        "MERGE INTO t USING emp ON t.id = emp.id WHEN MATCHED THEN DELETE",
    ):
        with pytest.raises(SqlStatementError, match="masked table"):
            run(governance, refused, OTHER)
    run(governance, "ALTER TABLE emp ALTER COLUMN email DROP MASK")
    assert run(governance, "SELECT * FROM emp", OTHER) == (None, None)
    assert "mask" not in governance.catalog.get_table("cl.hr.emp")["columns"][2]


def test_create_function_honours_or_replace_and_if_not_exists(governance):
    run(governance, MASK)
    with pytest.raises(SqlStatementError, match="ROUTINE_ALREADY_EXISTS"):
        run(governance, MASK)
    run(governance, MASK.replace("CREATE FUNCTION", "CREATE FUNCTION IF NOT EXISTS"))
    run(governance, MASK.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION").replace("'***@'", "'#@'"))
    assert "'#@'" in governance.catalog.get_function("cl.hr.mask_email")["routine_definition"]
    run(governance, "DROP FUNCTION cl.hr.mask_email")
    run(governance, "DROP FUNCTION IF EXISTS cl.hr.mask_email")
    with pytest.raises(SqlStatementError, match="ROUTINE_NOT_FOUND"):
        run(governance, "DROP FUNCTION mask_email")


def test_a_dropped_and_recreated_table_starts_without_tags_or_masks(governance):
    run(governance, MASK)
    run(governance, "ALTER TABLE emp ALTER COLUMN email SET TAGS ('pii' = 'email')")
    run(governance, "ALTER TABLE emp ALTER COLUMN email SET MASK mask_email")
    table = governance.catalog.get_table("cl.hr.emp")
    governance.catalog.delete_table("cl.hr.emp")
    governance.catalog.create_table(
        {"name": "emp", "catalog_name": "cl", "schema_name": "hr", "columns": table["columns"]}, MEMBER
    )
    assert rows(governance, "SELECT * FROM information_schema.column_tags") == []
    assert run(governance, "SELECT email FROM emp", OTHER) == (None, None)


def test_using_columns_bind_the_further_parameters_in_order(governance):
    run(
        governance,
        "CREATE FUNCTION cl.hr.mask_keyed(value STRING, owner STRING) RETURNS STRING "
        "RETURN IF(NOT is_member('pii_readers') AND owner <> current_user(), '***', value)",
    )
    with pytest.raises(SqlStatementError, match="MASK_FUNCTION_ARITY"):
        run(governance, "ALTER TABLE emp ALTER COLUMN email SET MASK mask_keyed")
    run(governance, "ALTER TABLE emp ALTER COLUMN email SET MASK mask_keyed USING COLUMNS (name)")
    _, other = run(governance, "SELECT email FROM emp", OTHER)
    assert "IF(NOT FALSE AND `name` <> 'bob@example.com', '***', `email`) AS `email`" in other
    _, member = run(governance, "SELECT email FROM emp", MEMBER)
    assert "IF(NOT TRUE AND `name` <> 'alice@example.com', '***', `email`) AS `email`" in member
