"""A table with a column mask (or row filter) cannot be read or written by path (issue 16), through
databricks-sdk unchanged with Azurite + Sail + the workspace stand-in: a job run whose principal holds
``SELECT`` and ``MODIFY`` on the table reads it by name, but reading its folder or a file in it, or writing
into it, fails the run with Databricks' ``[UNAUTHORIZED_ACCESS] … Path-based access to table … with row
filter or column mask not supported.`` — for the table's owner and a metastore admin too — each refusal an
audit row; once the mask is dropped the same path read succeeds (``access.py``, ``refuse_masked_paths``)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from databricks.sdk.service.catalog import Privilege
from databricks.sdk.service.jobs import JobRunAs, RunResultState

from emulators.stack import Stack
from emulators.workspace.testing import InProcessWorkspace
from tests.helpers.sail_workspace import CATALOG, admin_options, ok, sail_workspace
from tests.test_job_run_as import TASK, World, grant, make_job, run

pytestmark = pytest.mark.stack
P = Privilege
LOCATION = "abfss://lake@devstoreaccount1.dfs.core.windows.net/masked/people"


@pytest.fixture(scope="module")
def masked(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """A Delta table ``silver.people`` made by the admin's job, with a column mask on ``id``; a service
    principal holding USE CATALOG, USE SCHEMA, SELECT and MODIFY on it."""
    root = Path(tmp_path_factory.mktemp("masked-paths"))

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
        admin.catalogs.create(name=CATALOG)
        ok(admin, f"CREATE SCHEMA {CATALOG}.silver")
        table = f"{CATALOG}.silver.people"
        script = root / "task.py"
        script.write_text(TASK)
        world = World(ws, admin, admin, "", sp, table, str(script), stack.connection_string)
        finished, logs = run(admin, make_job(admin, world, "create", None, table, LOCATION))
        assert finished.state.result_state == RunResultState.SUCCESS, (finished.state, logs)
        ok(admin, f"CREATE FUNCTION {CATALOG}.silver.hide_id(id BIGINT) RETURNS BIGINT RETURN 0")
        ok(admin, f"ALTER TABLE {table} ALTER COLUMN id SET MASK {CATALOG}.silver.hide_id")
        grant(admin, "catalog", CATALOG, sp, P.USE_CATALOG)
        grant(admin, "schema", f"{CATALOG}.silver", sp, P.USE_SCHEMA)
        grant(admin, "table", table, sp, P.SELECT, P.MODIFY)
        yield world


def assert_path_refused(finished, table: str) -> None:
    message = finished.state.state_message
    assert finished.state.result_state == RunResultState.FAILED, message
    expected = (
        "[UNAUTHORIZED_ACCESS] Unauthorized access: PERMISSION_DENIED: Path-based access to table "
        f"{table} with row filter or column mask not supported."
    )
    assert expected in message and "AnalysisException" in message, message


def refusals(world: World, principal: str) -> dict[str, int]:
    rows = ok(
        world.admin,
        "SELECT request_params['operation'], count(*) FROM system.access.audit "
        f"WHERE user_identity.email = '{principal}' AND action_name = 'generateTemporaryPathCredential' "
        f"AND request_params['table_full_name'] = '{world.table}' AND response.status_code = 403 "
        "AND response.error_message LIKE '%Path-based access to table%' "
        "AND request_params['run_id'] IS NOT NULL GROUP BY 1",
    )
    return {r[0]: int(r[1]) for r in rows}


def test_a_masked_table_is_read_by_name(masked: World):
    """The allowed case: SELECT by name (the engine applies the policies there)."""
    job = make_job(masked.admin, masked, "read", JobRunAs(service_principal_name=masked.sp))
    finished, logs = run(masked.admin, job)
    assert finished.state.result_state == RunResultState.SUCCESS, (finished.state, logs)
    assert "ROWS=2" in logs, logs


def test_a_masked_tables_files_by_path_are_refused(masked: World):
    """Its folder, a file pattern in it and a write into it fail though the principal holds SELECT and
    MODIFY; one audit row each (READ, READ, READ_WRITE). Passes on the code before: the reads succeed."""
    admin, sp, table = masked.admin, masked.sp, masked.table
    as_sp = JobRunAs(service_principal_name=sp)
    for path in (LOCATION, f"{LOCATION}/*.parquet"):
        assert_path_refused(run(admin, make_job(admin, masked, "read_path", as_sp, path))[0], table)
    writer = make_job(admin, masked, "write_path", as_sp, f"{LOCATION}/extra")
    assert_path_refused(run(admin, writer)[0], table)
    assert refusals(masked, sp) == {"READ": 2, "READ_WRITE": 1}


def test_the_owner_and_metastore_admin_is_refused_too(masked: World):
    """The admin's job (the table's owner, a metastore admin) cannot read it by path either: Databricks
    names no exemption, the path bypasses the mask for everyone."""
    admin = masked.admin
    finished, _ = run(admin, make_job(admin, masked, "read_path", None, LOCATION))
    assert_path_refused(finished, masked.table)
    me = admin.current_user.me().user_name
    assert refusals(masked, me) == {"READ": 1}


def test_without_the_mask_the_path_is_the_table_again(masked: World):
    """Once the mask is dropped, the path read is decided by SELECT alone, and succeeds."""
    admin, table = masked.admin, masked.table
    ok(admin, f"ALTER TABLE {table} ALTER COLUMN id DROP MASK")
    try:
        job = make_job(admin, masked, "read_path", JobRunAs(service_principal_name=masked.sp), LOCATION)
        finished, logs = run(admin, job)
        assert finished.state.result_state == RunResultState.SUCCESS, (finished.state, logs)
        assert "ROWS=2" in logs, logs
    finally:
        ok(admin, f"ALTER TABLE {table} ALTER COLUMN id SET MASK {CATALOG}.silver.hide_id")
