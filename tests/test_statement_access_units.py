"""What a SQL statement reads, writes, creates, drops and governs, as the workspace stand-in's checks of
statements find it (``emulators/workspace/statement_access.tables_touched``, issue 16): no engine needed."""

from __future__ import annotations

import pytest

from emulators.workspace.statement_access import tables_touched


def _defaults() -> tuple[str, str]:
    return "main", "default"


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SELECT * FROM c.s.t", {"reads": {"c.s.t"}}),
        ("SELECT * FROM t JOIN s2.u ON t.id = u.id", {"reads": {"main.default.t", "main.s2.u"}}),
        ("WITH t AS (SELECT * FROM c.s.src) SELECT * FROM t", {"reads": {"c.s.src"}}),
        (
            "SELECT * FROM (SELECT id FROM c.s.t) AS x WHERE id IN (SELECT id FROM c.s.u)",
            {"reads": {"c.s.t", "c.s.u"}},
        ),
        ("INSERT INTO c.s.t VALUES (1)", {"writes": {"c.s.t"}}),
        ("INSERT INTO c.s.t (a) SELECT a FROM c.s.u", {"writes": {"c.s.t"}, "reads": {"c.s.u"}}),
        ("UPDATE c.s.t SET a = 1 WHERE b = 2", {"writes": {"c.s.t"}}),
        ("DELETE FROM t WHERE 1 = 1", {"writes": {"main.default.t"}}),
        (
            "MERGE INTO c.s.t USING c.s.u ON t.id = u.id WHEN MATCHED THEN DELETE",
            {"writes": {"c.s.t"}, "reads": {"c.s.u"}},
        ),
        ("CREATE TABLE c.s.n AS SELECT * FROM c.s.t", {"creates_in_schema": {"c.s"}, "reads": {"c.s.t"}}),
        ("CREATE TABLE c.s.n (id INT)", {"creates_in_schema": {"c.s"}}),
        ("CREATE VIEW c.s.v AS SELECT * FROM c.s.t", {"creates_in_schema": {"c.s"}, "reads": {"c.s.t"}}),
        ("CREATE SCHEMA c.x", {"creates_in_catalog": {"c"}}),
        ("CREATE SCHEMA x", {"creates_in_catalog": {"main"}}),
        ("DROP TABLE c.s.t", {"drops": {"c.s.t"}}),
        ("DESCRIBE TABLE c.s.t", {"describes": {"c.s.t"}}),
        ("REPAIR TABLE c.s.t SYNC METADATA", {"writes": {"c.s.t"}}),
        ("MSCK REPAIR TABLE `t` SYNC METADATA;", {"writes": {"main.default.t"}}),
        ("ALTER TABLE t ALTER COLUMN email SET TAGS ('pii' = 'email')", {"tags": {"main.default.t"}}),
        ("ALTER TABLE c.s.t UNSET TAGS ('pii')", {"tags": {"c.s.t"}}),
        ("ALTER TABLE c.s.t ALTER COLUMN e SET MASK c.s.f", {"masks": {"c.s.t"}}),
        ("SELECT * FROM system.access.audit", {"reads": {"system.access.audit"}}),
        ("COPY INTO c.s.t FROM '/raw' FILEFORMAT = JSON", {"writes": {"c.s.t"}}),
        ("INSERT INTO delta.`/lake/t` SELECT * FROM parquet.`/lake/u`", {}),  # paths: statement_paths
        ("SELECT * FROM read_files('/lake/t')", {}),
        ("GRANT SELECT ON TABLE c.s.t TO `a b`", {}),
        ("SET spark.sql.ansi.enabled = true", {}),
    ],
)
def test_tables_touched(sql: str, expected: dict[str, set[str]]):
    found = tables_touched(sql, _defaults)
    assert found is not None
    for field in (
        "reads",
        "writes",
        "creates_in_schema",
        "creates_in_catalog",
        "drops",
        "describes",
        "tags",
        "masks",
    ):
        assert getattr(found, field) == expected.get(field, set()), field


def test_what_sqlglot_cannot_read_is_none():
    assert tables_touched("SELECT FROM WHERE (", _defaults) is None
    assert tables_touched("SELECT 1; SELECT 2", _defaults) is None
