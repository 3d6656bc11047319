"""OpenLineage run events from the workspace stand-in, received by a local HTTP receiver in the test.

The stack's workspace is configured with openlineage-python's HTTP transport pointing at the receiver; the
Menu/Dinner demo (SQL statements API) and job runs (Jobs API, a task whose plans the per-task Spark Connect
proxy reads) must yield START and COMPLETE/FAIL events with inputs, outputs and the ``columnLineage`` facet.

Well-formed means: openlineage-python 1.54 ships no JSON schema file (its wheel holds only the attrs classes
generated from the spec), so every received event is rebuilt with those classes — whose validators check the
event time, the run id (a UUID), the producer URI and each facet's ``_schemaURL`` — and must serialise back
to exactly what was received."""

from __future__ import annotations

import datetime as dt
import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from databricks.sdk import WorkspaceClient
from databricks.sdk.service import jobs

from climatelake.sql_runner import run_sql_file
from emulators.common.event_sink import EventSink
from emulators.stack import Stack
from emulators.workspace.lineage import Extracted
from emulators.workspace.openlineage import OpenLineageEmitter
from tests.helpers.catalog_stack import catalog_stack

ROOT = Path(__file__).resolve().parents[1]
C = "climatelake"
MENU, DINNER, APPS = f"{C}.lineagedemo.menu", f"{C}.lineagedemo.dinner", f"{C}.lineagedemo.apps"
APPS_PATH = "abfss://lake@devstoreaccount1.dfs.core.windows.net/lineagedemo/apps"

JOB_OK = f"""
from pyspark.sql import SparkSession
spark = SparkSession.builder.getOrCreate()
spark.table("{MENU}").select("recipe_id", "app").write.format("delta").mode("overwrite").save("{APPS_PATH}")
spark.sql("CREATE TABLE IF NOT EXISTS {APPS} USING DELTA LOCATION '{APPS_PATH}'")
"""
JOB_FAILS = f"""
from pyspark.sql import SparkSession
spark = SparkSession.builder.getOrCreate()
print(spark.table("{MENU}").count())
raise RuntimeError("the menu is not good enough")
"""


@pytest.fixture(scope="module")
def receiver() -> Iterator[EventSink]:
    sink = EventSink()  # a werkzeug server in a thread, POST /events, waits with timeouts
    yield sink
    sink.close()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, receiver: EventSink) -> Iterator[Stack]:
    base = receiver.url.rsplit("/", 1)[0]
    stack = Stack(
        Path(tmp_path_factory.mktemp("openlineage")),
        in_memory=True,
        openlineage={"type": "http", "url": base, "endpoint": "events"},
    )
    yield from catalog_stack(stack, C)


@pytest.fixture(scope="module")
def demo(stack: Stack) -> list:
    w = stack.workspace_client()
    return run_sql_file(w, ROOT / "sql" / "lineage_demo.sql", catalog=C, warehouse_id="x")


# well-formedness: rebuild with the client's attrs classes ----------------------------------------------
def _facet(name: str, raw: dict[str, Any], where: str) -> Any:
    from openlineage.client.facet_v2 import column_lineage_dataset as cl
    from openlineage.client.facet_v2 import error_message_run, job_type_job, sql_job, tags_job, tags_run

    fields = json.loads(json.dumps({k: v for k, v in raw.items() if not k.startswith("_")}))  # a copy
    if name == "columnLineage":
        facet = cl.ColumnLineageDatasetFacet(
            fields={
                column: cl.Fields(inputFields=[cl.InputField(**f) for f in spec.pop("inputFields")], **spec)
                for column, spec in fields.pop("fields").items()
            },
            dataset=[cl.InputField(**f) for f in fields.pop("dataset", [])],
        )
    elif name == "tags":  # the client's own version tag
        module, prefix = (tags_run, "TagsRun") if where == "run" else (tags_job, "TagsJob")
        facet = getattr(module, f"{prefix}Facet")(
            tags=[getattr(module, f"{prefix}FacetFields")(**t) for t in fields["tags"]]
        )
    else:
        kinds = {
            "sql": sql_job.SQLJobFacet,
            "jobType": job_type_job.JobTypeJobFacet,
            "errorMessage": error_message_run.ErrorMessageRunFacet,
        }
        assert name in kinds, f"unexpected facet {name}"
        facet = kinds[name](**fields)
    assert raw["_schemaURL"] == facet._schemaURL, name
    assert raw["_producer"].startswith("https://")
    facet._producer = raw["_producer"]
    return facet


def check_well_formed(raw: dict[str, Any]) -> None:
    from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
    from openlineage.client.serde import Serde

    def facets(block: dict[str, Any], where: str = "dataset") -> dict[str, Any]:
        return {k: _facet(k, v, where) for k, v in (block.get("facets") or {}).items()}

    event = RunEvent(
        eventType=RunState(raw["eventType"]),
        eventTime=raw["eventTime"],
        run=Run(runId=raw["run"]["runId"], facets=facets(raw["run"], "run")),
        job=Job(namespace=raw["job"]["namespace"], name=raw["job"]["name"], facets=facets(raw["job"], "job")),
        producer=raw["producer"],
        inputs=[
            InputDataset(namespace=d["namespace"], name=d["name"], facets=facets(d)) for d in raw["inputs"]
        ],
        outputs=[
            OutputDataset(namespace=d["namespace"], name=d["name"], facets=facets(d)) for d in raw["outputs"]
        ],
    )
    assert event.schemaURL == raw["schemaURL"]
    assert json.loads(json.dumps(Serde.to_dict(event))) == raw


def events_of(receiver: EventSink, job_name: str, states: tuple[str, ...], timeout: float = 60) -> dict:
    found = {}
    for state in states:
        found[state] = receiver.wait_for(
            lambda e, s=state: e.get("job", {}).get("name") == job_name and e.get("eventType") == s, timeout
        )
        check_well_formed(found[state])
    return found


# the tests -----------------------------------------------------------------------------------------------
def test_menu_dinner_statement_events(stack: Stack, demo: list, receiver: EventSink) -> None:
    namespace = f"databricks://127.0.0.1:{stack.ports['workspace']}"
    found = events_of(receiver, f"sql_statement.{demo[-1].statement_id}", ("START", "COMPLETE"))
    for event in found.values():
        assert event["run"]["runId"] == found["START"]["run"]["runId"]
        assert event["job"]["namespace"] == namespace
        assert event["job"]["facets"]["sql"]["query"].startswith(f"CREATE TABLE {DINNER} AS")
        assert [(d["namespace"], d["name"]) for d in event["inputs"]] == [(namespace, MENU)]
        [output] = event["outputs"]
        assert (output["namespace"], output["name"]) == (namespace, DINNER)
        fields = output["facets"]["columnLineage"]["fields"]
        sources = {
            c: sorted(f"{f['name']}.{f['field']}" for f in spec["inputFields"]) for c, spec in fields.items()
        }
        assert sources == {
            "full_menu": [f"{MENU}.app", f"{MENU}.dessert", f"{MENU}.main"],
            "recipe_id": [f"{MENU}.recipe_id"],
        }
    assert found["START"]["eventTime"] <= found["COMPLETE"]["eventTime"]
    # statements that carry no lineage (DDL, INSERT … VALUES) emit nothing
    others = receiver.matching(lambda e: e.get("job", {}).get("name", "").startswith("sql_statement."))
    assert {e["job"]["name"] for e in others} == {f"sql_statement.{demo[-1].statement_id}"}


def _run_file(w: WorkspaceClient, tmp_path: Path, name: str, code: str) -> jobs.Run:
    path = tmp_path / f"{name}.py"
    path.write_text(code)
    job = w.jobs.create(
        name=name,
        tasks=[jobs.Task(task_key="main", spark_python_task=jobs.SparkPythonTask(python_file=str(path)))],
    )
    return w.jobs.run_now(job.job_id).result(timeout=dt.timedelta(minutes=5))


def test_job_run_events(stack: Stack, demo: list, receiver: EventSink, tmp_path: Path) -> None:
    namespace = f"databricks://127.0.0.1:{stack.ports['workspace']}"
    run = _run_file(stack.workspace_client(), tmp_path, "menu_apps", JOB_OK)
    assert run.state.result_state == jobs.RunResultState.SUCCESS, run.state
    found = events_of(receiver, "menu_apps", ("START", "COMPLETE"))
    assert found["START"]["run"]["runId"] == found["COMPLETE"]["run"]["runId"]
    assert found["START"]["job"]["facets"]["jobType"]["jobType"] == "JOB"
    complete = found["COMPLETE"]
    assert [(d["namespace"], d["name"]) for d in complete["inputs"]] == [(namespace, MENU)]
    assert [(d["namespace"], d["name"]) for d in complete["outputs"]] == [(namespace, APPS)]
    assert not receiver.matching(lambda e: e["job"]["name"] == "menu_apps" and e["eventType"] == "FAIL")


def test_failed_run_emits_fail(stack: Stack, demo: list, receiver: EventSink, tmp_path: Path) -> None:
    run = _run_file(stack.workspace_client(), tmp_path, "menu_critic", JOB_FAILS)
    assert run.state.result_state == jobs.RunResultState.FAILED
    found = events_of(receiver, "menu_critic", ("START", "FAIL"))
    assert "the menu is not good enough" in found["FAIL"]["run"]["facets"]["errorMessage"]["message"]
    assert [d["name"] for d in found["FAIL"]["inputs"]] == [MENU]
    assert found["FAIL"]["outputs"] == []


def test_receiver_down_costs_nothing(tmp_path: Path) -> None:
    """A dead receiver and a full queue: the caller never waits or fails; events are dropped, logged."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{probe.getsockname()[1]}"  # bound, never listening: connection refused
        emitter = OpenLineageEmitter({"type": "http", "url": dead}, "http://127.0.0.1:1", max_queued=3)
        record = {"statement_id": "s1", "statement": "CREATE TABLE c.s.b AS SELECT x FROM c.s.a"}
        started = time.perf_counter()
        for _ in range(20):
            emitter.statement(record, Extracted("c.s.b", {"c.s.a"}, {"x": {("c.s.a", "x")}}))
        assert time.perf_counter() - started < 0.5
        assert emitter.flush(timeout=60)
        emitter.close()


def test_file_transport(tmp_path: Path) -> None:
    path = tmp_path / "events.ndjson"
    emitter = OpenLineageEmitter({"type": "file", "log_file_path": str(path), "append": True}, "http://h:1")
    emitter.statement(
        {"statement_id": "s2", "statement": "INSERT INTO c.s.b SELECT x FROM c.s.a", "created_at": 1.7e9},
        Extracted("c.s.b", {"c.s.a"}, {"x": {("c.s.a", "x")}}),
    )
    assert emitter.flush(timeout=10)
    emitter.close()
    events = [json.loads(line) for line in path.read_text().splitlines()]
    assert [e["eventType"] for e in events] == ["START", "COMPLETE"]
    for event in events:
        check_well_formed(event)
        assert event["outputs"][0]["namespace"] == "databricks://h:1"
