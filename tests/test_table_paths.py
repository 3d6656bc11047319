"""A path at or under a catalog table's storage location is that table (issue 16, ``table_paths.py``): the
matcher alone, and what a job's plan check (``PlanRecorder.touched``) makes of plans that read and write
by path — no engine, protos built as pyspark's Spark Connect client sends them."""

from __future__ import annotations

import pytest
from pyspark.sql.connect import proto

from emulators.workspace.connect_proxy import PlanRecorder
from emulators.workspace.table_paths import (
    is_local_path,
    reaches,
    statement_paths,
    storage_key,
    tables_reached,
    text_paths,
)

LAKE = "abfss://lake@devstoreaccount1.dfs.core.windows.net"
HOURLY = f"{LAKE}/silver/weather_hourly"
LOCATIONS = [(HOURLY, "c.silver.weather_hourly"), (f"{LAKE}/gold/weather_daily", "c.gold.weather_daily")]


@pytest.mark.parametrize(
    "path",
    [
        HOURLY,
        HOURLY + "/",
        f"{HOURLY}/part-0001.parquet",
        f"{HOURLY}/_delta_log/00000000000000000000.json",
        f"{HOURLY}/city_id=1",
        f"{HOURLY}/city_id=1/part-0.snappy.parquet",
        f"{LAKE}/silver//weather_hourly/./city_id=1",  # empty and "." segments
        f"{LAKE}/gold/../silver/weather_hourly/x",  # ".." climbs
        f"{LAKE}/silver/weather%5Fhourly/x",  # a percent-escape
        "abfss://LAKE@DevStoreAccount1.dfs.core.windows.net/silver/weather_hourly",  # container/account case
        "abfs://lake@devstoreaccount1.dfs.core.windows.net/silver/weather_hourly/x",
        "wasbs://lake@devstoreaccount1.blob.core.windows.net/silver/weather_hourly/x",
        "az://lake/silver/weather_hourly/x",  # no account named: any
        "https://devstoreaccount1.dfs.core.windows.net/lake/silver/weather_hourly/x",
        "https://devstoreaccount1.blob.core.windows.net/lake/silver/weather_hourly/x",
        "http://127.0.0.1:10000/devstoreaccount1/lake/silver/weather_hourly/x",  # Azurite, path-style
        f"{LAKE}/silver/weather_h*/x",  # a glob that may match it
        f"{LAKE}/silver/{{gold,weather_hourly}}",
        f"{LAKE}/silver/weather_hour?y/x",  # "?" is a glob character in a Hadoop path, not a query
        f"{LAKE}/silver",  # a folder that holds it
        LAKE + "/",
    ],
)
def test_paths_that_reach_a_table(path: str) -> None:
    assert reaches(path, HOURLY), path


@pytest.mark.parametrize(
    "path",
    [
        f"{LAKE}/silver/weather_hourly_old",  # beside it, sharing a prefix
        f"{LAKE}/silver/weather_hourly_old/part-0.parquet",
        f"{LAKE}/silver/weather_hour",
        f"{LAKE}/silver/Weather_hourly",  # blob paths are case-sensitive
        f"{LAKE}/gold/weather_hourly",
        "abfss://lake@otheraccount.dfs.core.windows.net/silver/weather_hourly",
        "abfss://raw@devstoreaccount1.dfs.core.windows.net/silver/weather_hourly",
        "/silver/weather_hourly",
        f"{LAKE}/silver/weather_daily*",
        "",
    ],
)
def test_paths_that_do_not(path: str) -> None:
    assert not reaches(path, HOURLY), path


def test_spellings_are_one_key() -> None:
    keys = {
        storage_key(url)
        for url in (
            HOURLY,
            HOURLY + "/",
            "wasbs://lake@devstoreaccount1.blob.core.windows.net/silver/weather_hourly",
            "https://devstoreaccount1.dfs.core.windows.net/lake/silver/weather_hourly/",
        )
    }
    assert len(keys) == 1, keys


def test_local_paths_and_file_urls_are_one_key() -> None:
    assert storage_key("file:///tmp/lake/t/") == storage_key("/tmp/lake/t") == storage_key("/tmp//lake/./t")
    assert reaches("/tmp/lake/t/part-0.parquet", "file:///tmp/lake/t")
    assert not reaches("/tmp/lake/t2", "file:///tmp/lake/t")


def test_tables_reached() -> None:
    assert tables_reached(f"{HOURLY}/city_id=1", LOCATIONS) == {"c.silver.weather_hourly"}
    assert tables_reached(f"{HOURLY}_old", LOCATIONS) == set()
    both = {"c.silver.weather_hourly", "c.gold.weather_daily"}
    assert tables_reached(f"{LAKE}/*/weather_*", LOCATIONS) == both
    assert tables_reached(f"{LAKE}/raw/x.csv", LOCATIONS + [("", "c.s.no_location")]) == set()


def _recorder() -> PlanRecorder:
    return PlanRecorder(defaults=lambda: ("c", "silver"), tables_at=lambda p: tables_reached(p, LOCATIONS))


def _read(path: str, fmt: str = "parquet") -> proto.ExecutePlanRequest:
    request = proto.ExecutePlanRequest()
    request.plan.root.read.data_source.format = fmt
    request.plan.root.read.data_source.paths.append(path)
    return request


def _write(path: str) -> proto.ExecutePlanRequest:
    request = proto.ExecutePlanRequest()
    op = request.plan.command.write_operation
    op.input.range.end = 3
    op.source = "parquet"
    op.path = path
    return request


def _sql(text: str) -> proto.ExecutePlanRequest:
    request = proto.ExecutePlanRequest()
    request.plan.command.sql_command.sql = text
    return request


def test_a_plan_reading_a_tables_files_reads_the_table() -> None:
    recorder = _recorder()
    for path in (f"{HOURLY}/part-0001.parquet", f"{HOURLY}/city_id=1", f"{HOURLY}/_delta_log"):
        touched = recorder.touched(_read(path))
        assert touched.reads == {"c.silver.weather_hourly"} and not touched.writes, path
    assert recorder.touched(_read(f"{HOURLY}_old")).reads == set()
    raw = "abfss://raw@devstoreaccount1.dfs.core.windows.net/weather"
    assert recorder.touched(_read(raw, "csv")).reads == set()


def test_a_plan_writing_into_a_tables_folder_writes_the_table() -> None:
    recorder = _recorder()
    assert recorder.touched(_write(f"{HOURLY}/city_id=9")).writes == {"c.silver.weather_hourly"}
    assert recorder.touched(_write(f"{HOURLY}_old")).writes == set()


def test_sql_on_a_tables_files_reads_or_writes_the_table() -> None:
    recorder = _recorder()

    def tables(names: set[str]) -> set[str]:  # sqlglot also names `parquet`.`<path>` as a table: no such one
        return {n for n in names if "://" not in n}

    read = recorder.touched(_sql(f"SELECT count(*) FROM parquet.`{HOURLY}/city_id=1`"))
    assert tables(read.reads) == {"c.silver.weather_hourly"} and not tables(read.writes)
    written = recorder.touched(_sql(f"INSERT INTO delta.`{HOURLY}` SELECT * FROM c.gold.weather_daily"))
    assert tables(written.writes) == {"c.silver.weather_hourly"}
    assert tables(written.reads) == {"c.gold.weather_daily"}
    assert tables(recorder.touched(_sql(f"SELECT * FROM parquet.`{HOURLY}_old`")).reads) == set()


def test_a_tables_folder_written_earlier_and_read_back_is_still_the_table() -> None:
    """A path the task wrote stands for what it was computed from (lineage), and is still the table's
    files: reading it back needs SELECT even when the write (MODIFY) was allowed."""
    recorder = _recorder()
    write = _write(HOURLY)
    recorder.commit_for(write)()  # the write ran
    assert recorder.touched(_read(HOURLY)).reads == {"c.silver.weather_hourly"}


def test_an_insert_with_columns_into_a_tables_files_writes_it() -> None:
    touched = _recorder().touched(_sql(f"INSERT INTO delta.`{HOURLY}` (id) SELECT 1"))
    assert "c.silver.weather_hourly" in touched.writes
    assert "c.silver.weather_hourly" not in touched.reads


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        (f"SELECT * FROM delta.`{HOURLY}`", {HOURLY: False}),
        (f"INSERT INTO delta.`{HOURLY}` SELECT * FROM delta.`{HOURLY}`", {HOURLY: True}),  # read and written
        (f"INSERT INTO delta.`{HOURLY}` (id) VALUES (1)", {HOURLY: True}),
        (f"DELETE FROM delta.`{HOURLY}` WHERE id = 1", {HOURLY: True}),
        (
            f"MERGE INTO delta.`{HOURLY}` t USING json.`{LAKE}/raw` s ON t.id = s.id "
            "WHEN MATCHED THEN DELETE",
            {HOURLY: True, f"{LAKE}/raw": False},
        ),
        (f"SELECT * FROM read_files('{HOURLY}/*.json', format => 'json')", {f"{HOURLY}/*.json": False}),
        (f"SELECT * FROM read_files(path => '{HOURLY}')", {HOURLY: False}),
        ("SELECT * FROM read_files(:p)", {"/from/param": False}),
        ("SELECT * FROM read_files(concat('a', 'b'))", None),  # cannot be told
        ("SELECT * FROM c.s.read_files('x')", {}),  # a schema's function, not the built-in
        (f"COPY INTO c.s.t FROM '{LAKE}/raw' FILEFORMAT = JSON", {f"{LAKE}/raw": False}),
        (f"VACUUM delta.`{HOURLY}`", {HOURLY: True}),
        (f"SHOW COLUMNS IN delta.`{HOURLY}`", {HOURLY: False}),
        ("SELECT * FROM c.s.t", {}),
    ],
)
def test_statement_paths(sql: str, expected: dict[str, bool] | None) -> None:
    import sqlglot

    tree = sqlglot.parse_one(sql, dialect="databricks")
    assert statement_paths(tree, {"p": "/from/param"}) == expected


def test_text_paths_of_sql_sqlglot_cannot_parse() -> None:
    assert text_paths(f"RESTORE TABLE delta.`{HOURLY}` TO VERSION AS OF 1") == {HOURLY: True}
    assert text_paths(f"DESCRIBE HISTORY delta.`{HOURLY}` LIMIT 1") == {HOURLY: False}


def test_a_plans_paths_that_reach_no_table_are_files() -> None:
    """``Touched.files``: path → written, for the access check's external-location decision (issue 16); a
    table's files are the table, never a file path."""
    recorder = _recorder()
    raw = "abfss://raw@devstoreaccount1.dfs.core.windows.net/weather/2024/01.csv"
    assert recorder.touched(_read(raw, "csv")).files == {raw: False}
    staging = "abfss://lake@devstoreaccount1.dfs.core.windows.net/_staging/batch"
    assert recorder.touched(_write(staging)).files == {staging: True}
    assert recorder.touched(_read(f"{HOURLY}/city_id=1")).files == {}
    assert recorder.touched(_sql(f"SELECT * FROM csv.`{raw}`")).files == {raw: False}
    assert recorder.touched(_sql(f"INSERT INTO delta.`{staging}` SELECT 1")).files == {staging: True}
    recorder.commit_for(_write(staging))()  # written earlier in the task, read back: still a file path
    assert recorder.touched(_read(staging)).files == {staging: False}


@pytest.mark.parametrize(
    ("path", "local"),
    [
        ("/tmp/x.csv", True),
        ("spark-warehouse/t", True),
        ("file:/tmp/x.csv", True),
        ("file:///tmp/x.csv", True),
        ("FILE:/tmp/x", True),
        (f"{HOURLY}/x", False),
        ("wasbs://raw@acct.blob.core.windows.net/x", False),
        ("https://acct.blob.core.windows.net/raw/x", False),
        ("az://raw/x", False),
        ("dbfs:/tmp/x", False),
        ("s3://bucket/x", False),
    ],
)
def test_local_paths_are_the_engines_own_disk(path: str, local: bool) -> None:
    assert is_local_path(path) is local
