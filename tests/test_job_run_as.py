"""Job runs act as their job's ``run_as`` principal (issue 16), through databricks-sdk unchanged, with
Azurite + Sail + the workspace stand-in: the task's ``DATABRICKS_TOKEN`` is a short-lived token of that
principal (``w.current_user.me()`` inside the task, revoked after the run), and its Spark session's
plans are checked on the task's Spark Connect channel: a read without ``SELECT`` or a write without
``MODIFY`` fails the run with ``[INSUFFICIENT_PERMISSIONS]`` (pyspark's AnalysisException), grants and
revokes take effect on the next run, and every denial is a row of ``system.access.audit``. A table's files
by path (a Parquet file in its folder, a partition folder) are the table; a folder beside it is not: it is
decided by the external location holding it (``READ FILES``; tests/test_job_file_paths.py).

The stand-in runs in-process on the port the stack gave Sail's catalog (tests/helpers/sail_workspace.py);
only the stack's own principal (Sail's) is a metastore admin, named explicitly."""

from __future__ import annotations

import datetime as dt
import re
import textwrap
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from azure.storage.blob import BlobServiceClient
from databricks.sdk import WorkspaceClient
from databricks.sdk.errors import BadRequest, PermissionDenied, Unauthenticated
from databricks.sdk.service.catalog import AzureManagedIdentityRequest, PermissionsChange, Privilege
from databricks.sdk.service.jobs import JobRunAs, RunResultState, SparkPythonTask, Task

from emulators.stack import Stack
from emulators.workspace.testing import InProcessWorkspace
from tests.helpers.sail_workspace import ADMIN, CATALOG, admin_options, client_of, ok, sail_workspace

pytestmark = pytest.mark.stack
P = Privilege
LAKE = "abfss://lake@devstoreaccount1.dfs.core.windows.net"
CONNECTOR = "/subscriptions/0/resourceGroups/local/providers/Microsoft.Databricks/accessConnectors/local"

TASK = textwrap.dedent(
    """
    import os, sys
    action, table = sys.argv[1], sys.argv[2]
    if action == "whoami":
        from databricks.sdk import WorkspaceClient
        print("ME=" + WorkspaceClient().current_user.me().user_name)
        print("TOKEN=" + os.environ["DATABRICKS_TOKEN"])
        sys.exit(0)
    from pyspark.sql import SparkSession
    spark = SparkSession.builder.getOrCreate()
    if action == "read":
        print("ROWS=%d" % spark.table(table).count())
    elif action == "schema":  # an AnalyzePlan, no ExecutePlan
        print("COLUMNS=" + ",".join(spark.table(table).columns))
    elif action == "write":
        spark.sql(f"INSERT INTO {table} VALUES (3, 'Rome')")
        print("WROTE")
    elif action == "read_path":  # a table's files by path (``table`` is the path)
        print("ROWS=%d" % spark.read.parquet(table).count())
    elif action == "write_path":
        spark.createDataFrame([(9,)], "id INT").write.mode("append").parquet(table)
        print("WROTE")
    elif action == "create_partitioned":  # Delta by city_id, a plain Parquet folder beside it, the table
        location = sys.argv[3]
        rows = spark.createDataFrame([(1, 1), (2, 2)], "id INT, city_id INT")
        rows.write.format("delta").partitionBy("city_id").mode("overwrite").save(location)
        rows.write.mode("overwrite").parquet(location + "_old")
        spark.sql(f"CREATE TABLE IF NOT EXISTS {table} USING DELTA LOCATION '{location}'")
        print("CREATED")
    elif action == "create":  # as the jobs register their tables: Delta at a path, then CREATE TABLE
        location = sys.argv[3]
        spark.range(2).write.format("delta").mode("overwrite").save(location)
        spark.sql(f"CREATE TABLE IF NOT EXISTS {table} USING DELTA LOCATION '{location}'")
        print("CREATED")
    """
)


@dataclass
class World:
    ws: InProcessWorkspace
    admin: WorkspaceClient
    alice: WorkspaceClient
    alice_name: str
    sp: str  # the service principal's applicationId
    table: str
    script: str
    connection_string: str


def grant(w: WorkspaceClient, kind: str, name: str, principal: str, *privileges: Privilege, remove=False):
    change = PermissionsChange(principal=principal, **{"remove" if remove else "add": list(privileges)})
    w.grants.update(kind, name, changes=[change])


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = Path(tmp_path_factory.mktemp("job-run-as"))

    def make(stack: Stack) -> InProcessWorkspace:
        task_env = {
            "SPARK_REMOTE": f"sc://127.0.0.1:{stack.ports['sail']}",
            "DATABRICKS_HOST": stack.url("workspace"),
            "DATABRICKS_TOKEN": stack.workspace_token,  # what run_as replaces
        }
        return InProcessWorkspace(root / "workspace", **admin_options(stack), task_env=task_env)

    with sail_workspace(root, make) as (stack, ws):
        admin = ws.client(stack.workspace_token, retry_timeout_seconds=30)
        suffix = uuid.uuid4().hex[:6]
        sp = admin.service_principals.create(display_name=f"jobs-{suffix}").application_id
        alice_name = f"alice-{suffix}@example.com"
        admin.users.create(user_name=alice_name)
        alice = client_of(ws, admin, alice_name)
        admin.catalogs.create(name=CATALOG)
        ok(admin, f"CREATE SCHEMA {CATALOG}.gold")
        table = f"{CATALOG}.gold.daily"
        ok(admin, f"CREATE TABLE {table} (id INT, city STRING)")
        ok(admin, f"INSERT INTO {table} VALUES (1, 'Oslo'), (2, 'Lima')")
        script = root / "task.py"
        script.write_text(TASK)
        # external locations for the paths that are no table's (a new table's first write, a folder beside
        # one): their READ FILES / WRITE FILES decide those paths; the tests grant what they need
        admin.storage_credentials.create(
            "lake_cred", azure_managed_identity=AzureManagedIdentityRequest(access_connector_id=CONNECTOR)
        )
        for name in ("made", "paths"):
            admin.external_locations.create(name, f"{LAKE}/{name}", "lake_cred")
        yield World(ws, admin, alice, alice_name, sp, table, str(script), stack.connection_string)


def make_job(
    w: WorkspaceClient, world: World, action: str, run_as: JobRunAs | None = None, *arguments: str
) -> int:
    parameters = [action, *(arguments or [world.table])]
    task = Task(
        task_key="main", spark_python_task=SparkPythonTask(python_file=world.script, parameters=parameters)
    )
    return w.jobs.create(name=f"{action}-{uuid.uuid4().hex[:6]}", tasks=[task], run_as=run_as).job_id


def run(w: WorkspaceClient, job_id: int):
    """The finished run and its task's logs (the waiter returns on TERMINATED whatever the result)."""
    finished = w.jobs.run_now_and_wait(job_id, timeout=dt.timedelta(seconds=120))
    output = w.jobs.get_run_output(finished.tasks[0].run_id)
    return finished, output.logs or ""


def assert_denied(finished, needle: str) -> str:
    message = finished.state.state_message
    assert finished.state.result_state == RunResultState.FAILED, message
    assert "[INSUFFICIENT_PERMISSIONS]" in message and needle in message, message
    assert "AnalysisException" in message and "SQLSTATE: 42501" in message, message
    return message


def test_run_as_is_shown_and_checked(world: World):
    admin, alice = world.admin, world.alice
    job = make_job(admin, world, "read", JobRunAs(service_principal_name=world.sp))
    assert admin.jobs.get(job).run_as_user_name == world.sp
    assert admin.jobs.get(job).creator_user_name == ADMIN
    with pytest.raises(BadRequest, match="does not exist"):
        make_job(admin, world, "read", JobRunAs(service_principal_name=str(uuid.uuid4())))
    with pytest.raises(BadRequest, match="does not exist"):
        make_job(admin, world, "read", JobRunAs(user_name="nobody@example.com"))
    # a non-admin may name only themselves (no servicePrincipal/user role here)
    with pytest.raises(PermissionDenied):
        make_job(alice, world, "read", JobRunAs(service_principal_name=world.sp))
    with pytest.raises(PermissionDenied):
        make_job(alice, world, "read", JobRunAs(user_name=ADMIN))
    mine = make_job(alice, world, "read", JobRunAs(user_name=world.alice_name))
    assert alice.jobs.get(mine).run_as_user_name == world.alice_name


def test_task_token_is_the_run_as_principals_and_ends_with_the_run(world: World):
    job = make_job(world.admin, world, "whoami", JobRunAs(service_principal_name=world.sp))
    finished, logs = run(world.admin, job)
    assert finished.state.result_state == RunResultState.SUCCESS, finished.state
    assert f"ME={world.sp}" in logs, logs
    token = re.search(r"TOKEN=(\S+)", logs).group(1)
    with pytest.raises(Unauthenticated):
        world.ws.client(token).current_user.me()


def test_job_without_run_as_runs_as_its_creator(world: World):
    job = make_job(world.alice, world, "whoami")
    assert world.alice.jobs.get(job).run_as_user_name == world.alice_name
    finished, logs = run(world.alice, job)
    assert finished.state.result_state == RunResultState.SUCCESS, finished.state
    assert f"ME={world.alice_name}" in logs, logs
    # and its Spark session is alice's: she has no grants on the table
    reader = make_job(world.alice, world, "read")
    assert_denied(run(world.alice, reader)[0], f"on Catalog '{CATALOG}'")


def test_read_denied_granted_and_revoked(world: World):
    admin, sp, table = world.admin, world.sp, world.table
    job = make_job(admin, world, "read", JobRunAs(service_principal_name=sp))
    assert_denied(run(admin, job)[0], f"USE CATALOG on Catalog '{CATALOG}'")
    grant(admin, "catalog", CATALOG, sp, P.USE_CATALOG)
    grant(admin, "schema", f"{CATALOG}.gold", sp, P.USE_SCHEMA)
    assert_denied(run(admin, job)[0], f"User does not have SELECT on Table '{table}'")
    grant(admin, "table", table, sp, P.SELECT)
    finished, logs = run(admin, job)
    assert finished.state.result_state == RunResultState.SUCCESS, finished.state
    assert "ROWS=" in logs, logs
    grant(admin, "table", table, sp, P.SELECT, remove=True)
    assert_denied(run(admin, job)[0], f"SELECT on Table '{table}'")


def test_write_needs_modify(world: World):
    admin, sp, table = world.admin, world.sp, world.table
    grant(admin, "catalog", CATALOG, sp, P.USE_CATALOG)
    grant(admin, "schema", f"{CATALOG}.gold", sp, P.USE_SCHEMA)
    grant(admin, "table", table, sp, P.SELECT)
    job = make_job(admin, world, "write", JobRunAs(service_principal_name=sp))
    assert_denied(run(admin, job)[0], f"User does not have MODIFY on Table '{table}'")
    assert ok(admin, f"SELECT count(*) FROM {table} WHERE id = 3") == [["0"]]
    grant(admin, "table", table, sp, P.MODIFY)
    finished, logs = run(admin, job)
    assert finished.state.result_state == RunResultState.SUCCESS, finished.state
    assert ok(admin, f"SELECT count(*) FROM {table} WHERE id = 3") == [["1"]]
    grant(admin, "table", table, sp, P.MODIFY, P.SELECT, remove=True)


def test_denials_are_in_system_access_audit(world: World):
    rows = ok(
        world.admin,
        "SELECT action_name, request_params['table_full_name'], request_params['operation'], "
        "response.status_code, response.error_message FROM system.access.audit "
        f"WHERE user_identity.email = '{world.sp}' AND response.status_code = 403 "
        "AND request_params['job_id'] IS NOT NULL",
    )
    found = {(r[0], r[1], r[2], r[3]) for r in rows}
    read = ("generateTemporaryTableCredential", world.table, "READ", "403")
    write = ("generateTemporaryTableCredential", world.table, "READ_WRITE", "403")
    assert {read, write} <= found, rows
    assert any("SELECT on Table" in r[4] for r in rows) and any("MODIFY on Table" in r[4] for r in rows)


def test_a_table_the_run_creates_is_owned_by_its_run_as(world: World):
    """Databricks makes a table's creator its owner; locally the engine registers it with its own catalog
    token, so the plan check hands it to the run's principal once the engine has made it."""
    admin, sp = world.admin, world.sp
    schema = f"{CATALOG}.made"
    ok(admin, f"CREATE SCHEMA IF NOT EXISTS {schema}")
    grant(admin, "catalog", CATALOG, sp, P.USE_CATALOG)
    grant(admin, "schema", schema, sp, P.USE_SCHEMA, P.CREATE_TABLE)
    # the first write goes to a folder that is no table's yet: the location's files privileges
    grant(admin, "external_location", "made", sp, P.READ_FILES, P.WRITE_FILES)
    table = f"{schema}.by_job_{uuid.uuid4().hex[:6]}"
    location = f"{LAKE}/made/{table.rsplit('.', 1)[1]}"
    job = make_job(admin, world, "create", JobRunAs(service_principal_name=sp), table, location)
    finished, logs = run(admin, job)
    assert finished.state.result_state == RunResultState.SUCCESS, (finished.state, logs)
    assert admin.tables.get(table).owner == sp
    # as its owner it reads it with no SELECT granted (a get needs a privilege on the table, or ownership)
    assert client_of(world.ws, admin, sp).tables.get(table).full_name == table
    grant(admin, "schema", schema, sp, P.USE_SCHEMA, P.CREATE_TABLE, remove=True)
    grant(admin, "external_location", "made", sp, P.READ_FILES, P.WRITE_FILES, remove=True)


def test_a_tables_schema_needs_select_too(world: World):
    """``df.columns`` is an AnalyzePlan, not an ExecutePlan: checked the same, as Databricks refuses
    resolving a table the principal may not read at analysis already."""
    admin, sp, table = world.admin, world.sp, world.table
    grant(admin, "catalog", CATALOG, sp, P.USE_CATALOG)
    grant(admin, "schema", f"{CATALOG}.gold", sp, P.USE_SCHEMA)
    job = make_job(admin, world, "schema", JobRunAs(service_principal_name=sp))
    assert_denied(run(admin, job)[0], f"User does not have SELECT on Table '{table}'")
    grant(admin, "table", table, sp, P.SELECT)
    finished, logs = run(admin, job)
    assert finished.state.result_state == RunResultState.SUCCESS, finished.state
    assert "COLUMNS=id,city" in logs
    grant(admin, "table", table, sp, P.SELECT, remove=True)


@pytest.fixture(scope="module")
def by_city(world: World) -> tuple[str, str]:
    """A Delta table partitioned by ``city_id`` (made by the admin's job, as the jobs make theirs) and a
    Parquet folder beside it whose name starts with the table folder's: (table, location)."""
    table = f"{CATALOG}.gold.by_city"
    location = "abfss://lake@devstoreaccount1.dfs.core.windows.net/paths/by_city"
    job = make_job(world.admin, world, "create_partitioned", None, table, location)
    finished, logs = run(world.admin, job)
    assert finished.state.result_state == RunResultState.SUCCESS, (finished.state, logs)
    return table, location


def _a_data_file(world: World, location: str) -> str:
    """A Parquet file of the table's first partition, as the engine wrote it."""
    container = BlobServiceClient.from_connection_string(world.connection_string).get_container_client("lake")
    folder = location.split(".net/", 1)[1] + "/city_id=1/"
    names = [b.name for b in container.list_blobs(name_starts_with=folder) if b.name.endswith(".parquet")]
    assert names, folder
    return f"{location}/city_id=1/{names[0][len(folder) :]}"


def test_a_tables_files_by_path_need_select(world: World, by_city: tuple[str, str]):
    """A Parquet file inside the table's folder and a partition folder are the table's data: reading them
    by path needs SELECT on the table, as reading the table does (``table_paths.py``); writing into the
    folder needs MODIFY. Each refusal is an audit row of the run's principal."""
    admin, sp = world.admin, world.sp
    table, location = by_city
    grant(admin, "catalog", CATALOG, sp, P.USE_CATALOG)
    grant(admin, "schema", f"{CATALOG}.gold", sp, P.USE_SCHEMA)
    data_file = _a_data_file(world, location)
    readers = [
        make_job(admin, world, "read_path", JobRunAs(service_principal_name=sp), path)
        for path in (data_file, f"{location}/city_id=1", f"{location}/")
    ]
    for job in readers:
        assert_denied(run(admin, job)[0], f"User does not have SELECT on Table '{table}'")
    as_sp = JobRunAs(service_principal_name=sp)
    writer = make_job(admin, world, "write_path", as_sp, f"{location}/city_id=9")
    assert_denied(run(admin, writer)[0], f"User does not have MODIFY on Table '{table}'")
    rows = ok(
        admin,
        "SELECT request_params['operation'], count(*) FROM system.access.audit "
        f"WHERE user_identity.email = '{sp}' AND action_name = 'generateTemporaryTableCredential' "
        f"AND request_params['table_full_name'] = '{table}' AND response.status_code = 403 "
        "AND request_params['run_id'] IS NOT NULL GROUP BY 1",
    )
    assert dict((r[0], int(r[1])) for r in rows) == {"READ": 3, "READ_WRITE": 1}, rows
    grant(admin, "table", table, sp, P.SELECT)
    try:
        for job in readers[:2]:  # the file and the partition folder: one row each
            finished, logs = run(admin, job)
            assert finished.state.result_state == RunResultState.SUCCESS, (finished.state, logs)
            assert "ROWS=1" in logs, logs
    finally:
        grant(admin, "table", table, sp, P.SELECT, remove=True)


def test_a_folder_beside_a_table_is_not_the_table(world: World, by_city: tuple[str, str]):
    """``…/by_city_old`` starts with the table folder's name but is not under it: a principal with no
    privilege on the table reads it with READ FILES on the location holding it (a path that is no table's)."""
    admin, sp = world.admin, world.sp
    _, location = by_city
    grant(admin, "external_location", "paths", sp, P.READ_FILES)
    try:
        job = make_job(admin, world, "read_path", JobRunAs(service_principal_name=sp), location + "_old")
        finished, logs = run(admin, job)
        assert finished.state.result_state == RunResultState.SUCCESS, (finished.state, logs)
        assert "ROWS=2" in logs, logs
    finally:
        grant(admin, "external_location", "paths", sp, P.READ_FILES, remove=True)
