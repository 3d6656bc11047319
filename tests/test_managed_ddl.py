"""Which SQL ``CREATE TABLE`` forms the workspace stand-in makes itself as plain managed Delta
(``emulators/workspace/managed_ddl.py``), and which it leaves to the engine: no engine needed here."""

from __future__ import annotations

import pytest

from emulators.workspace.managed_ddl import _CREATE, _balanced

PLAIN = [
    "CREATE TABLE t (id BIGINT, v STRING)",
    "create table if not exists c.s.t (id BIGINT, v STRING) USING delta",
    "CREATE TABLE `c`.`s`.`t` (id BIGINT COMMENT 'the (id)', d DECIMAL(10,2)) USING DELTA COMMENT 'x';",
]
TO_THE_ENGINE = [
    "CREATE TABLE t AS SELECT 1 AS id",
    "CREATE TABLE t (id BIGINT) USING delta LOCATION 'abfss://lake@a.dfs.core.windows.net/x'",
    "CREATE TABLE t (id BIGINT) PARTITIONED BY (id)",
    "CREATE TABLE t (id BIGINT) TBLPROPERTIES ('delta.feature.catalogManaged' = 'supported')",
    "CREATE OR REPLACE TABLE t (id BIGINT)",
    "CREATE TABLE t (id BIGINT) USING parquet",
    "CREATE TABLE t USING delta",
]


@pytest.mark.parametrize("statement", PLAIN)
def test_plain_managed_creates_are_made_by_the_stand_in(statement):
    match = _CREATE.match(statement)
    assert match is not None and _balanced(match["columns"])


@pytest.mark.parametrize("statement", TO_THE_ENGINE)
def test_every_other_create_goes_to_the_engine(statement):
    match = _CREATE.match(statement)
    assert match is None or not _balanced(match["columns"])
