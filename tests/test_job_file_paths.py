"""A job's Spark session reaching files that are no table's by path (raw CSV files, a staging folder) is
decided as SQL statements decide them (issue 16, ``access.Access.decide_files``, one decision for both):
reading needs ``READ FILES`` on the external location holding the path, writing ``READ FILES`` + ``WRITE
FILES``; a path in no external location is refused (``[NO_PARENT_EXTERNAL_LOCATION_FOR_PATH]``, SQLSTATE
22KD1); a metastore admin's run is not decided; files on the engine's own disk (``file:`` paths) are left
alone. Each decision is an audit row ``generateTemporaryPathCredential`` with the job's and run's ids.

Through databricks-sdk unchanged with Azurite + Sail + the workspace stand-in in-process
(tests/helpers/sail_workspace.py): the run fails with the refusal (pyspark's ``AnalysisException`` in the
task), never crashes. On the code before, every path here that is no table's was left to the engine: the
refused runs succeeded."""

from __future__ import annotations

import datetime as dt
import textwrap
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from azure.storage.blob import BlobServiceClient
from databricks.sdk import WorkspaceClient
from databricks.sdk.service.catalog import AzureManagedIdentityRequest, PermissionsChange, Privilege
from databricks.sdk.service.jobs import JobRunAs, RunResultState, SparkPythonTask, Task

from emulators.stack import Stack
from emulators.workspace.testing import InProcessWorkspace
from tests.helpers.sail_workspace import admin_options, ok, sail_workspace

pytestmark = pytest.mark.stack
LAKE = "abfss://lake@devstoreaccount1.dfs.core.windows.net"
LANDING = f"{LAKE}/landing"  # the external location ``landing``: raw files, no table
READINGS = f"{LANDING}/readings.csv"
ELSEWHERE = f"{LAKE}/elsewhere/readings.csv"  # in no external location
CONNECTOR = "/subscriptions/0/resourceGroups/local/providers/Microsoft.Databricks/accessConnectors/local"
CSV = b"id,city\n1,Oslo\n2,Lima\n"

TASK = textwrap.dedent(
    """
    import sys
    from pyspark.sql import SparkSession
    action, path = sys.argv[1], sys.argv[2]
    spark = SparkSession.builder.getOrCreate()
    if action == "read_csv":  # as bronze reads a raw file
        print("ROWS=%d" % spark.read.option("header", True).csv(path).count())
    elif action == "sql_csv":  # SQL on the file (no header option: the header is a row too)
        print("ROWS=%d" % (spark.sql(f"SELECT * FROM csv.`{path}`").count() - 1))
    elif action == "stage":  # as silver stages a batch: written by path, read back
        spark.createDataFrame([(1, "Oslo")], "id INT, city STRING").write.mode("overwrite").parquet(path)
        print("ROWS=%d" % spark.read.parquet(path).count())
    """
)


@dataclass
class World:
    admin: WorkspaceClient
    sp: str  # a service principal's applicationId: no grants until a test gives them
    script: str
    local_csv: Path


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = Path(tmp_path_factory.mktemp("job-file-paths"))

    def make(stack: Stack) -> InProcessWorkspace:
        task_env = {
            "SPARK_REMOTE": f"sc://127.0.0.1:{stack.ports['sail']}",
            "DATABRICKS_HOST": stack.url("workspace"),
            "DATABRICKS_TOKEN": stack.workspace_token,
        }
        return InProcessWorkspace(root / "workspace", **admin_options(stack), task_env=task_env)

    with sail_workspace(root, make) as (stack, ws):
        admin = ws.client(stack.workspace_token, retry_timeout_seconds=30)
        sp = admin.service_principals.create(display_name=f"jobs-{uuid.uuid4().hex[:6]}").application_id
        admin.storage_credentials.create(
            "files_cred", azure_managed_identity=AzureManagedIdentityRequest(access_connector_id=CONNECTOR)
        )
        admin.external_locations.create("landing", LANDING, "files_cred")
        lake = BlobServiceClient.from_connection_string(stack.connection_string).get_container_client("lake")
        lake.upload_blob("landing/readings.csv", CSV)
        lake.upload_blob("elsewhere/readings.csv", CSV)
        script = root / "task.py"
        script.write_text(TASK)
        local_csv = root / "local.csv"
        local_csv.write_bytes(CSV)
        yield World(admin, sp, str(script), local_csv)


def grant(world: World, *privileges: Privilege, remove: bool = False) -> None:
    change = PermissionsChange(principal=world.sp, **{"remove" if remove else "add": list(privileges)})
    world.admin.grants.update("external_location", "landing", changes=[change])


def run(world: World, action: str, path: str, as_sp: bool = True):
    """Run the task as the service principal (or as the admin, its creator); the finished run and logs."""
    python = SparkPythonTask(python_file=world.script, parameters=[action, path])
    task = Task(task_key="main", spark_python_task=python)
    run_as = JobRunAs(service_principal_name=world.sp) if as_sp else None
    job = world.admin.jobs.create(name=f"{action}-{uuid.uuid4().hex[:6]}", tasks=[task], run_as=run_as)
    finished = world.admin.jobs.run_now_and_wait(job.job_id, timeout=dt.timedelta(seconds=120))
    logs = world.admin.jobs.get_run_output(finished.tasks[0].run_id).logs or ""
    return finished, logs


def assert_succeeded(finished, logs: str, rows: int) -> None:
    assert finished.state.result_state == RunResultState.SUCCESS, (finished.state, logs)
    assert f"ROWS={rows}" in logs, logs


def assert_refused(finished, error_class: str, needle: str, sql_state: str) -> None:
    """The run FAILED with the refusal as the task's AnalysisException (a refusal, not a crash)."""
    message = finished.state.state_message
    assert finished.state.result_state == RunResultState.FAILED, message
    assert f"[{error_class}]" in message and needle in message, message
    assert "AnalysisException" in message and f"SQLSTATE: {sql_state}" in message, message


def path_rows(world: World, who: str, url: str) -> list[tuple[str, str, str]]:
    """(operation, status, location) of the run-time path decisions for ``url`` by ``who``."""
    rows = ok(
        world.admin,
        "SELECT request_params['operation'], response.status_code, request_params['external_location_name'] "
        "FROM system.access.audit WHERE action_name = 'generateTemporaryPathCredential' "
        f"AND user_identity.email = '{who}' AND request_params['url'] = '{url}' "
        "AND request_params['job_id'] IS NOT NULL AND request_params['run_id'] IS NOT NULL "
        "ORDER BY event_time",
    )
    return [(r[0], r[1], r[2]) for r in rows]


def test_reading_raw_files_needs_read_files_on_their_location(world: World):
    """Without READ FILES the raw file is refused (DataFrame and SQL alike); after the GRANT it is read; after
    the REVOKE refused again. Each decision is an audit row of the run's principal."""
    for action in ("read_csv", "sql_csv"):
        finished, _ = run(world, action, READINGS)
        expected = "User does not have READ FILES on External Location 'landing'."
        assert_refused(finished, "INSUFFICIENT_PERMISSIONS", expected, "42501")
    grant(world, Privilege.READ_FILES)
    try:
        for action in ("read_csv", "sql_csv"):
            assert_succeeded(*run(world, action, READINGS), rows=2)
    finally:
        grant(world, Privilege.READ_FILES, remove=True)
    assert_refused(run(world, "read_csv", READINGS)[0], "INSUFFICIENT_PERMISSIONS", "READ FILES", "42501")
    decisions = path_rows(world, world.sp, READINGS)
    assert ("PATH_READ", "403", "landing") in decisions and ("PATH_READ", "200", "landing") in decisions
    assert [d[1] for d in decisions].count("200") >= 2, decisions


def test_writing_files_needs_write_files_too(world: World):
    """Staging a batch by path (written, then read back) needs READ FILES + WRITE FILES."""
    staging = f"{LANDING}/_staging/batch"
    grant(world, Privilege.READ_FILES)
    try:
        finished, _ = run(world, "stage", staging)
        expected = "User does not have WRITE FILES on External Location 'landing'."
        assert_refused(finished, "INSUFFICIENT_PERMISSIONS", expected, "42501")
        grant(world, Privilege.WRITE_FILES)
        assert_succeeded(*run(world, "stage", staging), rows=1)
    finally:
        grant(world, Privilege.READ_FILES, Privilege.WRITE_FILES, remove=True)
    decisions = path_rows(world, world.sp, staging)
    assert ("PATH_READ_WRITE", "403", "landing") in decisions, decisions
    assert ("PATH_READ_WRITE", "200", "landing") in decisions and ("PATH_READ", "200", "landing") in decisions


def test_a_path_in_no_external_location_is_refused(world: World):
    finished, _ = run(world, "read_csv", ELSEWHERE)
    expected = f"No parent external location was found for path '{ELSEWHERE}'"
    assert_refused(finished, "NO_PARENT_EXTERNAL_LOCATION_FOR_PATH", expected, "22KD1")
    assert ("PATH_READ", "400", None) in path_rows(world, world.sp, ELSEWHERE)


def test_a_metastore_admins_run_is_not_decided(world: World):
    """The admin (the jobs' creator, run as itself) reads both, with no privilege and no decision."""
    me = world.admin.current_user.me().user_name
    for path in (READINGS, ELSEWHERE):
        assert_succeeded(*run(world, "read_csv", path, as_sp=False), rows=2)
        assert path_rows(world, me, path) == []


def test_files_on_the_engines_own_disk_are_left_alone(world: World):
    """A ``file:`` path (a dedicated cluster's driver-local storage, which Unity Catalog does not govern) is
    read by a principal with no privilege at all, undecided."""
    url = f"file://{world.local_csv}"
    assert_succeeded(*run(world, "read_csv", url), rows=2)
    assert path_rows(world, world.sp, url) == []
