"""The product's own principals hold what the bundle grants them, and act as themselves (issue 16, item 6).

On the session's local stack (Azurite, Sail, the stand-ins, the gateway under gunicorn), deployed and
ingested by ``climatelake`` code: the gateway and function app call the workspace with their own service
principals' tokens, the jobs run as theirs, and nothing but the operator is a metastore admin. Checked with
unmodified databricks-sdk (``w.grants.get_effective``, ``w.tables.get``, temporary table credentials, the
SQL statements API) as each principal.
"""

from __future__ import annotations

import pytest
from databricks.sdk import WorkspaceClient
from databricks.sdk.errors import PermissionDenied
from databricks.sdk.service.catalog import PathOperation, TableOperation

from climatelake import bundle
from emulators.stack import FUNCTIONS_SP, GATEWAY_SP, JOBS_SP, LOCAL_USER, Stack
from tests.helpers.people import audit_rows
from tests.helpers.sail_workspace import failed, ok

pytestmark = pytest.mark.stack

CATALOG = "climatelake"
#: one table of each layer the bootstrap's ingest made
TABLES = {
    "bronze": f"{CATALOG}.bronze.weather_hourly_raw",
    "silver": f"{CATALOG}.silver.weather_hourly",
    "gold": f"{CATALOG}.gold.weather_daily",
}


def _application_id(w: WorkspaceClient, display_name: str) -> str:
    found = [p for p in w.service_principals.list(filter=f'displayName eq "{display_name}"')]
    assert len(found) == 1, found
    return found[0].application_id


def _effective(w: WorkspaceClient, table: str, principal: str) -> set[str]:
    listing = w.grants.get_effective("table", table, principal=principal)
    return {
        p.privilege.value
        for a in listing.privilege_assignments or []
        for p in a.privileges or []
        if p.privilege is not None
    }


@pytest.fixture(scope="module")
def stack(local_stack) -> Stack:
    return local_stack.stack


@pytest.fixture(scope="module")
def admin(stack: Stack) -> WorkspaceClient:
    return stack.workspace_client()


def test_each_part_calls_the_workspace_as_its_own_service_principal(stack: Stack, admin: WorkspaceClient):
    for token, name in ((stack.gateway_token, GATEWAY_SP), (stack.functions_token, FUNCTIONS_SP)):
        me = stack.workspace_client(token).current_user.me()
        assert me.display_name == name and me.user_name == _application_id(admin, name)
    assert admin.current_user.me().user_name == LOCAL_USER
    jobs_sp = _application_id(admin, JOBS_SP)
    for job in admin.jobs.list():
        assert job.settings.run_as.service_principal_name == jobs_sp, job.settings.name
        assert admin.jobs.get(job.job_id).run_as_user_name == jobs_sp
    # the bootstrap's ingest ran as the jobs' principal: its tasks' plan checks are audited under its name
    ingest = bundle.job_id_by_name(admin, "climatelake_weather_ingest")
    checked = ok(
        admin,
        "SELECT count(*) FROM system.access.audit "
        f"WHERE user_identity.email = '{jobs_sp}' AND request_params['job_id'] = '{ingest}'",
    )
    assert int(checked[0][0]) > 0
    # and its lineage names it (system.access.table_lineage's created_by: who the run acted as)
    actors = ok(
        admin,
        "SELECT DISTINCT created_by FROM system.access.table_lineage "
        f"WHERE entity_type = 'JOB' AND entity_id = '{ingest}'",
    )
    assert actors == [[jobs_sp]]
    # the table printed by `make run` names each of them
    named = {principal for _, principal, _ in stack.token_table()}
    assert {LOCAL_USER, GATEWAY_SP, FUNCTIONS_SP, JOBS_SP} <= named


def test_only_the_jobs_get_path_credentials_for_the_raw_files(stack: Stack, admin: WorkspaceClient):
    """The deploy made the raw container an external location owned by the operator, the jobs hold what their
    path credentials need on it (and nothing else does), and the bootstrap's ingest got its listing's
    PATH_READ as the jobs' principal."""
    jobs_sp = _application_id(admin, JOBS_SP)
    assert admin.external_locations.get("climatelake_raw").owner == LOCAL_USER
    listing = admin.grants.get("external_location", "climatelake_raw").privilege_assignments or []
    held = {a.principal: {p.value for p in a.privileges or []} for a in listing}
    assert held == {jobs_sp: {"EXTERNAL_USE_LOCATION", "READ_FILES", "WRITE_FILES"}}
    vended = audit_rows(
        admin, action_name="generateTemporaryPathCredential", email=jobs_sp, status_code="200"
    )
    raw = f"abfss://raw@{stack.settings().storage_account}.dfs.core.windows.net/weather"
    assert any(
        r["request_params"] == {**r["request_params"], "url": raw, "operation": "PATH_READ"} for r in vended
    )
    for token in (stack.gateway_token, stack.functions_token):
        with pytest.raises(
            PermissionDenied, match="EXTERNAL USE LOCATION on External Location 'climatelake_raw'"
        ):
            stack.workspace_client(token).temporary_path_credentials.generate_temporary_path_credentials(
                url=raw, operation=PathOperation.PATH_READ
            )


def test_the_jobs_files_by_path_are_decided_and_allowed(stack: Stack, admin: WorkspaceClient):
    """The bundle grants the jobs exactly what their Spark sessions' paths that are no table's need (issue
    16): READ FILES on raw (the ingest's CSV files), READ FILES + WRITE FILES on the lake (silver's staging
    folder, a table's first write; CREATE EXTERNAL TABLE there too) and on results (the request exports).
    The bootstrap's ingest ran with each such path decided for the jobs' principal and none refused."""
    jobs_sp = _application_id(admin, JOBS_SP)

    def held(name: str) -> dict[str, set[str]]:
        listing = admin.grants.get("external_location", name).privilege_assignments or []
        return {a.principal: {p.value for p in a.privileges or []} for a in listing}

    assert held("climatelake_lake") == {jobs_sp: {"READ_FILES", "WRITE_FILES", "CREATE_EXTERNAL_TABLE"}}
    assert held("climatelake_results") == {jobs_sp: {"READ_FILES", "WRITE_FILES"}}
    rows = ok(
        admin,
        "SELECT request_params['url'], request_params['operation'], response.status_code, "
        "request_params['external_location_name'] FROM system.access.audit "
        f"WHERE user_identity.email = '{jobs_sp}' AND action_name = 'generateTemporaryPathCredential' "
        "AND request_params['run_id'] IS NOT NULL",
    )
    assert rows and {r[2] for r in rows} == {"200"}, [r for r in rows if r[2] != "200"]
    account = stack.settings().storage_account
    raw, lake = f"abfss://raw@{account}.dfs.core.windows.net/", f"abfss://lake@{account}.dfs.core.windows.net"
    read_raw = [u for u, o, _, where in rows if o == "PATH_READ" and where == "climatelake_raw"]
    assert read_raw and all(u.startswith(raw) for u in read_raw), rows
    staging = f"{lake}/_staging/silver_weather_batch"
    assert [staging, "PATH_READ_WRITE", "200", "climatelake_lake"] in rows, rows
    assert [staging, "PATH_READ", "200", "climatelake_lake"] in rows, rows


def test_principal_by_layer_matrix(admin: WorkspaceClient):
    """Effective privileges, inherited from the bundle's schema grants (and USE CATALOG on the catalog)."""
    jobs, gateway, functions = (_application_id(admin, n) for n in (JOBS_SP, GATEWAY_SP, FUNCTIONS_SP))
    expected = {
        (jobs, "bronze"): {"SELECT", "MODIFY"},
        (jobs, "silver"): {"SELECT", "MODIFY"},
        (jobs, "gold"): {"SELECT", "MODIFY"},
        (gateway, "bronze"): set(),
        (gateway, "silver"): {"SELECT"},
        (gateway, "gold"): {"SELECT"},
        (functions, "bronze"): set(),
        (functions, "silver"): set(),
        (functions, "gold"): set(),
        ("analysts", "bronze"): set(),
        ("analysts", "silver"): set(),
        ("analysts", "gold"): {"SELECT"},
        ("engineers", "bronze"): {"SELECT"},
        ("engineers", "gold"): {"SELECT"},
    }
    for (principal, layer), wanted in expected.items():
        held = _effective(admin, TABLES[layer], principal) & {"SELECT", "MODIFY"}
        assert held == wanted, (principal, layer, held)


def test_the_gateways_token_reaches_what_it_serves_and_not_bronze(stack: Stack):
    gateway = stack.workspace_client(stack.gateway_token)
    for layer in ("silver", "gold"):
        assert gateway.tables.get(TABLES[layer]).full_name == TABLES[layer]
    with pytest.raises(PermissionDenied):
        gateway.tables.get(TABLES["bronze"])
    gold = gateway.tables.get(TABLES["gold"])
    read = gateway.temporary_table_credentials.generate_temporary_table_credentials(
        operation=TableOperation.READ, table_id=gold.table_id
    )
    assert read.azure_user_delegation_sas or read.url
    with pytest.raises(PermissionDenied):  # it reads gold, it never writes it
        gateway.temporary_table_credentials.generate_temporary_table_credentials(
            operation=TableOperation.READ_WRITE, table_id=gold.table_id
        )
    listed = {t.name for t in gateway.tables.list(catalog_name=CATALOG, schema_name="bronze")}
    assert listed == set()  # a list shows only what the caller may see


def test_an_analyst_reads_gold_and_nothing_else(stack: Stack, admin: WorkspaceClient):
    """A person added to the bundle's analysts group, through SQL: gold answers, silver is refused, and the
    refusal is in the audit table."""
    name = "ana.lyst@climatelake.dev"
    user = next(iter(admin.users.list(filter=f'userName eq "{name}"')), None) or admin.users.create(
        user_name=name
    )
    group = next(iter(admin.groups.list(filter='displayName eq "analysts"')))
    admin.api_client.do(
        "PATCH",
        f"/api/2.0/preview/scim/v2/Groups/{group.id}",
        body={
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "add", "path": "members", "value": [{"value": user.id}]}],
        },
    )
    token = admin.api_client.do("POST", "/api/2.0/local/tokens", body={"principal": name})["token_value"]
    analyst = stack.workspace_client(token)
    assert ok(analyst, f"SELECT count(*) FROM {TABLES['gold']}")[0][0] != "0"
    failed(analyst, f"SELECT count(*) FROM {TABLES['silver']}", "INSUFFICIENT_PERMISSIONS")
    denied = ok(
        admin,
        "SELECT action_name, response.status_code FROM system.access.audit "
        f"WHERE user_identity.email = '{name}' AND response.status_code = 403",
    )
    assert denied, "the analyst's refused read is not in system.access.audit"


def test_a_deploy_restores_what_the_bundle_declares_and_keeps_other_grants(admin: WorkspaceClient):
    """Authoritative per declared principal: a privilege taken from the jobs' principal comes back, one
    given to a person the bundle does not name stays, and a deploy with nothing to do writes nothing."""
    from databricks.sdk.service.catalog import PermissionsChange, Privilege

    jobs = _application_id(admin, JOBS_SP)
    schema = f"{CATALOG}.gold"
    admin.grants.update(
        "schema",
        schema,
        changes=[
            PermissionsChange(principal=jobs, remove=[Privilege.MODIFY]),
            PermissionsChange(principal=LOCAL_USER, add=[Privilege.APPLY_TAG]),
        ],
    )
    assert "MODIFY" not in _effective(admin, TABLES["gold"], jobs)
    changed = bundle.ensure_access(admin)
    assert changed == [f"schema {schema}: {jobs} +['MODIFY'] -[]"]
    assert "MODIFY" in _effective(admin, TABLES["gold"], jobs)
    kept = admin.grants.get("schema", schema, principal=LOCAL_USER).privilege_assignments or []
    assert {p.value for a in kept for p in a.privileges or []} == {"APPLY_TAG"}
    assert bundle.ensure_access(admin) == []
    admin.grants.update(
        "schema", schema, changes=[PermissionsChange(principal=LOCAL_USER, remove=[Privilege.APPLY_TAG])]
    )


def test_job_permissions_are_what_each_part_does_with_the_jobs(stack: Stack, admin: WorkspaceClient):
    """The request job's bundle permissions: the function app starts and reads its runs, the gateway reads
    them and finds the job; neither may run, or even see, the other jobs (job visibility control), and the
    gateway may not start a run."""
    functions = stack.workspace_client(stack.functions_token)
    gateway = stack.workspace_client(stack.gateway_token)
    request_job = bundle.job_id_by_name(admin, "climatelake_weather_request")
    ingest = bundle.job_id_by_name(admin, "climatelake_weather_ingest")
    assert (
        {j.job_id for j in functions.jobs.list()} == {request_job} == {j.job_id for j in gateway.jobs.list()}
    )
    with pytest.raises(PermissionDenied, match="does not have Manage Run or Owner or Admin permissions"):
        gateway.jobs.run_now(request_job)
    with pytest.raises(PermissionDenied, match="does not have Manage Run or Owner or Admin permissions"):
        functions.jobs.run_now(ingest)
    with pytest.raises(PermissionDenied, match="does not have Manage or Owner or Admin permissions"):
        functions.jobs.reset(request_job, new_settings=admin.jobs.get(request_job).settings)
    levels = {
        (e.service_principal_name or e.user_name or e.group_name): [
            p.permission_level.value for p in e.all_permissions
        ]
        for e in admin.jobs.get_permissions(str(request_job)).access_control_list
    }
    assert levels[_application_id(admin, FUNCTIONS_SP)] == ["CAN_MANAGE_RUN"]
    assert levels[_application_id(admin, GATEWAY_SP)] == ["CAN_VIEW"]
    assert levels[LOCAL_USER] == ["IS_OWNER"]  # the deployer
