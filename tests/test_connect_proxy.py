"""The per-task Spark Connect proxy: a real Sail server behind it and the real PySpark client in front.

Relaying must be invisible to the client (same rows, same errors, streams of many batches, artifacts), and
the plans it sees must give the lineage of what the session wrote: by path then registered with
``CREATE TABLE … LOCATION`` (the climatelake jobs' way), through temporary views, SQL CTAS/INSERT/MERGE."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from pysail.spark import SparkConnectServer
from pyspark.errors import AnalysisException
from pyspark.sql import SparkSession

from emulators.workspace.connect_proxy import ConnectProxy, PlanRecorder, proxied_remote, split_remote


@pytest.fixture(scope="module")
def sail() -> Iterator[str]:
    server = SparkConnectServer(ip="127.0.0.1", port=0)
    server.start(background=True)
    host, port = server.listening_address
    yield f"{host}:{port}"
    server.stop()


def _session(address: str) -> SparkSession:
    return SparkSession.builder.remote(f"sc://{address}").create()


def _outcome(action) -> tuple[str, object]:
    try:
        return "ok", action()
    except Exception as exc:  # the client's exception class and the engine's message
        return type(exc).__name__, str(exc).splitlines()[0]


def test_relay_is_invisible_to_the_client(sail: str, tmp_path: Path) -> None:
    direct = _session(sail)
    with ConnectProxy(sail) as proxy:
        proxied = _session(f"127.0.0.1:{proxy.port}")
        try:
            for spark in (direct, proxied):  # many Arrow batches through the ExecutePlan stream
                rows = spark.range(300_000).selectExpr("id", "id % 7 AS m").where("m = 3").collect()
                assert len(rows) == 300_000 // 7 + (1 if 300_000 % 7 > 3 else 0)
            query = "SELECT m, count(*) AS n FROM range(1000) AS r(m) GROUP BY m % 3 ORDER BY 1"
            expected = _outcome(lambda: direct.sql(query).collect())
            assert _outcome(lambda: proxied.sql(query).collect()) == expected
            # errors carry the engine's class and message (trailing metadata relayed)
            missing = _outcome(lambda: proxied.table("no_such_table").collect())
            assert missing[0] == "AnalysisException"
            assert missing == _outcome(lambda: direct.table("no_such_table").collect())
            # AddArtifacts is a client stream: whatever the engine answers directly, it answers through us
            module = tmp_path / "helper_mod.py"
            module.write_text("VALUE = 42\n")
            assert _outcome(lambda: proxied.addArtifacts(str(module), pyfile=True)) == _outcome(
                lambda: direct.addArtifacts(str(module), pyfile=True)
            )
            zone = "spark.sql.session.timeZone"
            assert proxied.conf.get(zone) == direct.conf.get(zone)
        finally:
            proxied.stop()
            direct.stop()
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", proxy.port), timeout=1):
        pass  # stopped: nothing listens any more


def test_plans_give_the_sessions_lineage(sail: str, tmp_path: Path) -> None:
    recorder = PlanRecorder(defaults=lambda: ("sail", "default"))
    with ConnectProxy(sail, recorder) as proxy:
        spark = _session(f"127.0.0.1:{proxy.port}")
        try:
            raw, staged, out = tmp_path / "raw", tmp_path / "staged", tmp_path / "out"
            spark.range(50).selectExpr("id", "id * 2 AS v").write.format("parquet").save(str(raw))
            spark.sql(f"CREATE TABLE src USING parquet LOCATION '{raw}'")
            # path → staging path → table: the staging folder stands for what it was computed from
            spark.table("src").where("id > 5").write.format("parquet").save(str(staged))
            spark.read.format("parquet").load(str(staged)).write.format("parquet").save(str(out))
            spark.sql(f"CREATE TABLE mid USING parquet LOCATION '{out}'")
            spark.table("src").createOrReplaceTempView("batch")
            sink = tmp_path / "sink"  # a location: nothing lands in the working folder's spark-warehouse
            spark.sql(f"CREATE TABLE sink USING parquet LOCATION '{sink}' AS SELECT id, v FROM batch")
            spark.sql("INSERT INTO sink SELECT id, v FROM mid")
            assert spark.table("sink").count() == 94
            with pytest.raises(AnalysisException):  # a failed write makes no lineage
                spark.sql("INSERT INTO mid SELECT nope FROM sink")
        finally:
            spark.stop()
    found = recorder.result()
    writes = {w.target: w for w in found.writes}
    assert set(writes) == {"sail.default.mid", "sail.default.sink"}
    assert writes["sail.default.mid"].sources == {"sail.default.src"}
    assert writes["sail.default.sink"].sources == {"sail.default.src", "sail.default.mid"}
    assert writes["sail.default.sink"].columns["v"] >= {("sail.default.mid", "v")}
    assert found.reads >= {"sail.default.src", "sail.default.mid", "sail.default.sink"}


def test_remote_addresses() -> None:
    assert split_remote("sc://127.0.0.1:50051") == ("127.0.0.1:50051", "")
    assert split_remote("sc://host/;user_id=x") == ("host:15002", ";user_id=x")
    assert split_remote("sc://host:1/;use_ssl=true;token=t") is None
    assert proxied_remote("sc://host:1/;user_id=x", 7) == "sc://127.0.0.1:7/;user_id=x"
