"""``climatelake deploy --target azure``: the plan against a fake azd output file makes no call; the same
code against the workspace stand-in creates the Unity Catalog objects, the secret scope, the notification
destination, the bundle's workspace files and the jobs (checked through databricks-sdk), and a second run
writes nothing."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from databricks.sdk.service import workspace as ws_service

from climatelake import bundle, cli, cloud_deploy
from emulators.workspace.testing import PRINCIPAL, TOKEN, InProcessWorkspace

SUBSCRIPTION = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-climatelake/providers"
CONNECTOR = f"{SUBSCRIPTION}/Microsoft.Databricks/accessConnectors/ac-climatelake"
VAULT = f"{SUBSCRIPTION}/Microsoft.KeyVault/vaults/kv-climatelake"
FUNCTION_KEY = "function-key-for-the-test"
# the client IDs of the apps' user-assigned managed identities (infra/main.bicep outputs)
GATEWAY_IDENTITY = "0f3c2b1a-9d8e-4f70-a6b5-c4d3e2f1a0b9"
FUNCTIONS_IDENTITY = "7a6b5c4d-3e2f-4a1b-9c8d-7e6f5a4b3c2d"
GROUPS = ("pii_readers", "analysts", "engineers")


def _azd_env(path: Path, workspace_url: str) -> Path:
    """A file as `azd env get-values > FILE` writes it, with the outputs infra/main.bicep declares."""
    outputs = {
        "AZURE_RESOURCE_GROUP": "rg-climatelake",
        "AZURE_STORAGE_ACCOUNT_NAME": "stclimatelake",
        "AZURE_STORAGE_BLOB_ENDPOINT": "https://stclimatelake.blob.core.windows.net/",
        "AZURE_STORAGE_DFS_ENDPOINT": "https://stclimatelake.dfs.core.windows.net/",
        "AZURE_DATABRICKS_WORKSPACE_URL": workspace_url,
        "AZURE_DATABRICKS_WORKSPACE_ID": "1234567890123456",
        "AZURE_ACCESS_CONNECTOR_ID": CONNECTOR,
        "AZURE_KEY_VAULT_URI": "https://kv-climatelake.vault.azure.net/",
        "AZURE_KEY_VAULT_RESOURCE_ID": VAULT,
        "AZURE_EVENTGRID_TOPIC_ENDPOINT": "https://egt-climatelake.westeurope-1.eventgrid.azure.net/api/events",
        "AZURE_FUNCTION_APP_NAME": "func-climatelake",
        "AZURE_FUNCTION_APP_URL": "https://func-climatelake.azurewebsites.net",
        "AZURE_CONTAINER_APP_URL": "https://ca-climatelake.example.azurecontainerapps.io",
        "AZURE_GATEWAY_IDENTITY_CLIENT_ID": GATEWAY_IDENTITY,
        "AZURE_FUNCTION_APP_IDENTITY_CLIENT_ID": FUNCTIONS_IDENTITY,
    }
    path.write_text("".join(f'{k}="{v}"\n' for k, v in outputs.items()))
    return path


class Requests:
    """Every request the stand-in receives (a WSGI wrapper)."""

    def __init__(self, ws: InProcessWorkspace) -> None:
        self.seen: list[tuple[str, str]] = []
        inner = ws.app.wsgi_app

        def record(environ, start_response):
            self.seen.append((environ["REQUEST_METHOD"], environ["PATH_INFO"]))
            return inner(environ, start_response)

        ws.app.wsgi_app = record

    def writes(self, since: int = 0) -> list[tuple[str, str]]:
        return [r for r in self.seen[since:] if r[0] != "GET"]


@pytest.fixture()
def ws(tmp_path: Path) -> Iterator[InProcessWorkspace]:
    workspace = InProcessWorkspace(tmp_path / "ws").start()
    yield workspace
    workspace.stop()


@pytest.fixture()
def account_groups(ws: InProcessWorkspace) -> None:
    """The groups an account admin makes before the first deploy (the deploy checks, never makes them)."""
    w = ws.client()
    for name in GROUPS:
        w.groups.create(display_name=name)


@pytest.fixture()
def azure_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The deploying user's environment: a workspace token and the function key; nothing local."""
    for name in ("DATABRICKS_HOST", "DATABRICKS_CONFIG_PROFILE", "DATABRICKS_CLIENT_ID"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("CLIMATELAKE_CATALOG", raising=False)
    monkeypatch.setenv("DATABRICKS_TOKEN", TOKEN)
    monkeypatch.setenv("CLIMATELAKE_JOB_EVENTS_KEY", FUNCTION_KEY)


def test_azd_outputs_are_read_as_azd_writes_them():
    text = '# azd env get-values\nA="x=y"\nB=\'single\'\n\nC="with \\"quotes\\""\nexport D=plain\n'
    assert cloud_deploy.parse_env(text) == {"A": "x=y", "B": "single", "C": 'with "quotes"', "D": "plain"}
    with pytest.raises(ValueError, match="line 1"):
        cloud_deploy.parse_env("not a pair\n")
    with pytest.raises(ValueError, match="AZURE_ACCESS_CONNECTOR_ID"):
        cloud_deploy.AzureTarget.from_outputs({"AZURE_STORAGE_ACCOUNT_NAME": "a"})
    # settings put with `azd env set` come back in its values; the environment wins
    outputs = {name: "x" for name in cloud_deploy.REQUIRED_OUTPUTS} | {"CLIMATELAKE_SQL_WAREHOUSE_ID": "wh1"}
    target = cloud_deploy.AzureTarget.from_outputs(outputs, {"CLIMATELAKE_CATALOG": "cl2"})
    assert (target.sql_warehouse_id, target.catalog) == ("wh1", "cl2")
    assert target.bundle_overrides("d")["sql_warehouse_id"] == "wh1"


def test_plan_prints_every_call_and_makes_none(
    ws: InProcessWorkspace, tmp_path: Path, azure_env: None, capsys: pytest.CaptureFixture
):
    requests = Requests(ws)
    env_file = _azd_env(tmp_path / "azd.env", ws.url)
    assert cli.main(["deploy", "--target", "azure", "--plan", "--azd-env", str(env_file)]) == 0
    out = capsys.readouterr().out
    assert requests.seen == []  # not a read, not a write: the plan calls nothing
    for expected in (
        "w.storage_credentials.create: POST /api/2.1/unity-catalog/storage-credentials",
        f'"access_connector_id": "{CONNECTOR}"',
        '"url": "abfss://lake@stclimatelake.dfs.core.windows.net/"',
        '"url": "abfss://raw@stclimatelake.dfs.core.windows.net/"',
        '"url": "abfss://results@stclimatelake.dfs.core.windows.net/"',
        '"storage_root": "abfss://lake@stclimatelake.dfs.core.windows.net/unity"',
        "w.secrets.create_scope: POST /api/2.0/secrets/scopes/create",
        '"scope_backend_type": "AZURE_KEYVAULT"',
        "w.notification_destinations.create: POST /api/2.0/notification-destinations",
        "https://func-climatelake.azurewebsites.net/api/job-events?code=<redacted>",
        "w.jobs.create: POST /api/2.2/jobs/create",
        '"id": "<id of the new notification destination>"',  # the jobs' webhook names the destination
        "build artifact climatelake: `python -m pip wheel",
        "w.workspace.upload: POST /api/2.0/workspace/import",
        "/.bundle/climatelake/dev/files/databricks/src/employees_pii.py",
        'w.groups.list: GET /api/2.0/preview/scim/v2/Groups?filter=displayName eq "analysts"',
        "w.service_principals.create: POST /api/2.0/preview/scim/v2/ServicePrincipals",
        f'"applicationId": "{GATEWAY_IDENTITY}"',
        "w.grants.update: PATCH /api/2.1/unity-catalog/permissions/schema/climatelake.gold",
        f'{{"add": ["SELECT", "USE_SCHEMA"], "principal": "{GATEWAY_IDENTITY}"}}',
        # the bundle's grants on the raw location the deploy made (the jobs' path credentials)
        "w.grants.update: PATCH /api/2.1/unity-catalog/permissions/external_location/climatelake_raw",
        '"add": ["EXTERNAL_USE_LOCATION", "READ_FILES", "WRITE_FILES"]',
        # the jobs' by-path files in the lake (staging, a table's first write) and the request exports
        "w.grants.update: PATCH /api/2.1/unity-catalog/permissions/external_location/climatelake_lake",
        '"add": ["CREATE_EXTERNAL_TABLE", "READ_FILES", "WRITE_FILES"]',
        "w.grants.update: PATCH /api/2.1/unity-catalog/permissions/external_location/climatelake_results",
        '"add": ["READ_FILES", "WRITE_FILES"]',
        "w.secrets.put_acl: POST /api/2.0/secrets/acls/put",
        '"service_principal_name": "<application id of climatelake-jobs>"',  # the jobs' run_as
    ):
        assert expected in out, expected
    for schema in cloud_deploy.SCHEMAS:
        assert f'"name": "{schema}"' in out
    assert FUNCTION_KEY not in out


def test_deploy_creates_the_objects_and_a_second_run_writes_nothing(
    ws: InProcessWorkspace,
    tmp_path: Path,
    azure_env: None,
    account_groups: None,
    capsys: pytest.CaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
):
    requests = Requests(ws)
    env_file = _azd_env(tmp_path / "azd.env", ws.url)
    assert cli.main(["deploy", "--target", "azure", "--azd-env", str(env_file)]) == 0, capsys.readouterr()
    first = capsys.readouterr().out
    assert "storage credential climatelake_access_connector: created" in first and FUNCTION_KEY not in first
    assert "warning: Databricks makes a Key Vault-backed scope only for a Microsoft Entra ID caller" in first

    w = ws.client()
    credential = w.storage_credentials.get(cloud_deploy.CREDENTIAL)
    assert credential.azure_managed_identity.access_connector_id == CONNECTOR
    locations = {x.name: x for x in w.external_locations.list()}
    assert {n: (x.url, x.credential_name) for n, x in locations.items()} == {
        f"climatelake_{c}": (f"abfss://{c}@stclimatelake.dfs.core.windows.net/", cloud_deploy.CREDENTIAL)
        for c in ("lake", "raw", "results")
    }
    catalog = w.catalogs.get("climatelake")
    assert catalog.storage_root == "abfss://lake@stclimatelake.dfs.core.windows.net/unity"
    assert {s.name for s in w.schemas.list("climatelake")} >= set(cloud_deploy.SCHEMAS)
    (scope,) = [s for s in w.secrets.list_scopes() if s.name == "climatelake"]
    assert scope.backend_type == ws_service.ScopeBackendType.AZURE_KEYVAULT
    assert scope.keyvault_metadata.resource_id == VAULT
    destinations = w.notification_destinations.list()
    (destination,) = [d for d in destinations if d.display_name == cloud_deploy.DESTINATION]
    hook = ws.app.extensions["workspace"].notification_destinations.webhook(destination.id)
    assert hook["url"] == f"https://func-climatelake.azurewebsites.net/api/job-events?code={FUNCTION_KEY}"
    request_job = next(w.jobs.list(name="climatelake_weather_request"))
    hooks = w.jobs.get(request_job.job_id).settings.webhook_notifications
    assert [h.id for h in hooks.on_success] == [destination.id] == [h.id for h in hooks.on_failure]
    # the bundle's files and wheel are in the workspace where `databricks bundle deploy` puts them, and the
    # jobs name them there
    root = f"/Workspace/Users/{PRINCIPAL}/.bundle/climatelake/dev"
    employees = w.jobs.get(next(w.jobs.list(name="climatelake_employees")).job_id).settings
    (wheel,) = employees.environments[0].spec.dependencies
    assert wheel.startswith(f"{root}/artifacts/.internal/climatelake-") and wheel.endswith(".whl")
    local_wheel = bundle.BUNDLE_ROOT.parent / "dist" / wheel.rsplit("/", 1)[1]
    assert w.workspace.download(wheel).read() == local_wheel.read_bytes()
    task = employees.tasks[0].spark_python_task
    assert task.python_file == f"{root}/files/databricks/src/employees_pii.py"
    source = (bundle.BUNDLE_ROOT / "src" / "employees_pii.py").read_bytes()
    assert w.workspace.download(task.python_file).read() == source
    params = task.parameters
    assert params[params.index("--masks-sql") + 1] == f"{root}/files/sql/pii_masks.sql"
    assert w.workspace.get_status(f"{root}/files/sql/pii_masks.sql").object_type.value == "FILE"
    raw_root = params[params.index("--raw-root") + 1]
    assert raw_root == "abfss://raw@stclimatelake.dfs.core.windows.net/employees"

    # the product's principals: the apps' managed identities by client ID, the jobs' run_as made here
    principals = {sp.display_name: sp.application_id for sp in w.service_principals.list()}
    assert principals["climatelake-gateway"] == GATEWAY_IDENTITY
    assert principals["climatelake-functions"] == FUNCTIONS_IDENTITY
    jobs_sp = principals["climatelake-jobs"]
    assert jobs_sp not in (GATEWAY_IDENTITY, FUNCTIONS_IDENTITY)
    for job in w.jobs.list():
        assert w.jobs.get(job.job_id).settings.run_as.service_principal_name == jobs_sp, job.settings.name

    def held(kind: str, name: str) -> dict[str, set[str]]:
        listing = w.grants.get(kind, name).privilege_assignments or []
        return {a.principal: {p.value for p in a.privileges} for a in listing}

    gold, bronze = held("schema", "climatelake.gold"), held("schema", "climatelake.bronze")
    assert gold[GATEWAY_IDENTITY] == {"USE_SCHEMA", "SELECT"} == gold["analysts"]
    assert GATEWAY_IDENTITY not in bronze and "analysts" not in bronze
    assert {"MODIFY", "CREATE_TABLE"} <= bronze[jobs_sp]
    assert held("schema", "climatelake.results")[FUNCTIONS_IDENTITY] >= {"SELECT", "MODIFY", "MANAGE"}
    assert held("catalog", "climatelake")[GATEWAY_IDENTITY] == {"USE_CATALOG"}
    # the jobs' path credentials on raw (listing, deleting ingested files) and its raw files by path; their
    # files by path in the lake (staging, a table's first write, registering it) and the request exports
    raw = held("external_location", "climatelake_raw")
    assert raw == {jobs_sp: {"EXTERNAL_USE_LOCATION", "READ_FILES", "WRITE_FILES"}}
    lake = held("external_location", "climatelake_lake")
    assert lake == {jobs_sp: {"READ_FILES", "WRITE_FILES", "CREATE_EXTERNAL_TABLE"}}
    assert held("external_location", "climatelake_results") == {jobs_sp: {"READ_FILES", "WRITE_FILES"}}
    acls = {a.principal: a.permission.value for a in w.secrets.list_acls("climatelake")}
    assert (acls[GATEWAY_IDENTITY], acls[jobs_sp]) == ("READ", "WRITE")
    assert FUNCTIONS_IDENTITY not in acls

    # unchanged sources: the wheel is not rebuilt (other sessions editing this checkout meanwhile would make
    # a new wheel, which a deploy rightly uploads)
    monkeypatch.setattr(bundle, "_sources_mtime", lambda path: 0.0)
    before = len(requests.seen)
    stamps = (credential.updated_at, catalog.updated_at, *(x.updated_at for x in locations.values()))
    assert cli.main(["deploy", "--target", "azure", "--azd-env", str(env_file)]) == 0
    second = capsys.readouterr().out
    assert requests.writes(before) == []  # idempotent: nothing created, updated or reset
    assert "created" not in second and "updated" not in second
    # the webhook's URL is write-only: rewritten on request only (a rotated function key)
    monkeypatch.setenv("CLIMATELAKE_JOB_EVENTS_KEY", "rotated-key")
    argv = ["deploy", "--target", "azure", "--azd-env", str(env_file), "--update-webhook"]
    assert cli.main(argv) == 0
    assert "notification destination climatelake-job-events: updated" in capsys.readouterr().out
    hook = ws.app.extensions["workspace"].notification_destinations.webhook(destination.id)
    assert hook["url"].endswith("?code=rotated-key")
    assert stamps == (
        w.storage_credentials.get(cloud_deploy.CREDENTIAL).updated_at,
        w.catalogs.get("climatelake").updated_at,
        *(w.external_locations.get(n).updated_at for n in locations),
    )


def test_groups_must_exist_as_account_groups_before_anything_is_written(
    ws: InProcessWorkspace, tmp_path: Path, azure_env: None, capsys: pytest.CaptureFixture
):
    """A workspace's SCIM API makes only workspace-local groups, which cannot hold Unity Catalog privileges:
    the deploy checks the groups first and stops, naming each and the account admin's command."""
    ws.client().groups.create(display_name="analysts")
    requests = Requests(ws)
    env_file = _azd_env(tmp_path / "azd.env", ws.url)
    assert cli.main(["deploy", "--target", "azure", "--azd-env", str(env_file)]) == 2
    err = capsys.readouterr().err
    assert "pii_readers (missing), engineers (missing)" in err and "analysts" not in err
    assert "databricks account groups create --display-name" in err
    assert requests.writes() == []


def test_a_real_deploy_needs_the_function_key(
    ws: InProcessWorkspace, tmp_path: Path, azure_env: None, monkeypatch: pytest.MonkeyPatch, capsys
):
    monkeypatch.delenv("CLIMATELAKE_JOB_EVENTS_KEY")
    requests = Requests(ws)
    env_file = _azd_env(tmp_path / "azd.env", ws.url)
    assert cli.main(["deploy", "--target", "azure", "--azd-env", str(env_file)]) == 2
    assert "CLIMATELAKE_JOB_EVENTS_KEY" in capsys.readouterr().err
    assert requests.writes() == []


def test_changed_outputs_update_what_can_change_and_keep_what_cannot(
    ws: InProcessWorkspace,
    tmp_path: Path,
    azure_env: None,
    account_groups: None,
    capsys: pytest.CaptureFixture,
):
    """A new access connector and a new storage account: the credential and the locations are updated in
    place; the catalog keeps its managed location (Unity Catalog cannot move it) and says so."""
    env_file = _azd_env(tmp_path / "azd.env", ws.url)
    assert cli.main(["deploy", "--target", "azure", "--azd-env", str(env_file)]) == 0
    capsys.readouterr()
    moved = env_file.read_text().replace("ac-climatelake", "ac-other").replace("stclimatelake", "stother")
    env_file.write_text(moved)
    assert cli.main(["deploy", "--target", "azure", "--azd-env", str(env_file)]) == 0
    out = capsys.readouterr().out
    assert "storage credential climatelake_access_connector: updated" in out
    assert "external location climatelake_lake: updated (abfss://lake@stother.dfs.core.windows.net/)" in out
    assert "catalog climatelake: kept; its managed location is abfss://lake@stclimatelake" in out
    w = ws.client()
    assert w.storage_credentials.get(cloud_deploy.CREDENTIAL).azure_managed_identity.access_connector_id == (
        CONNECTOR.replace("ac-climatelake", "ac-other")
    )
    assert w.external_locations.get("climatelake_raw").url == "abfss://raw@stother.dfs.core.windows.net/"


def test_without_a_file_the_outputs_come_from_azd(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.setenv("PATH", str(tmp_path))  # no azd here
    with pytest.raises(RuntimeError, match="azd is not installed: pass --azd-env FILE"):
        cloud_deploy.read_outputs(None)
    fake = tmp_path / "azd"
    fake.write_text("#!/bin/sh\necho 'AZURE_STORAGE_ACCOUNT_NAME=\"from-azd\"'\n")
    fake.chmod(0o755)
    assert cloud_deploy.read_outputs(None) == {"AZURE_STORAGE_ACCOUNT_NAME": "from-azd"}


def test_the_plan_is_what_a_run_on_an_empty_workspace_sends(
    ws: InProcessWorkspace, tmp_path: Path, azure_env: None, account_groups: None
):
    """Every call the plan prints, in order, is a request the same deployment sends to an empty workspace."""
    target = cloud_deploy.AzureTarget.from_outputs(
        cloud_deploy.read_outputs(_azd_env(tmp_path / "azd.env", ws.url))
    )
    planned = [(c["method"], c["path"]) for c in cloud_deploy.plan(target, report=lambda line: None)]
    requests = Requests(ws)
    assert cli.main(["deploy", "--target", "azure", "--azd-env", str(tmp_path / "azd.env")]) == 0
    sent = [r for r in requests.seen if r[1] != "/.well-known/databricks-config"]  # the SDK's own probe

    metastore_id = ws.client().metastores.current().metastore_id

    def job_ids_out(calls: list[tuple[str, str]]) -> list[tuple[str, str]]:  # the plan numbers new jobs 1, 2…
        return [
            (
                method,
                re.sub(r"/permissions/jobs/\d+", "/permissions/jobs/<id>", path).replace(
                    metastore_id, "<id of the workspace's metastore>"
                ),
            )
            for method, path in calls
        ]

    assert len(planned) > 40 and job_ids_out(planned) == job_ids_out(sent)
    assert ("PATCH", "/api/2.0/permissions/jobs/<id>") in job_ids_out(sent)  # the request job's permissions
    # the metastore's external data access is turned on (the jobs' path credentials need it)
    enabled = ("PATCH", "/api/2.1/unity-catalog/metastores/<id of the workspace's metastore>")
    assert enabled in job_ids_out(sent)
    assert ws.client().metastores.get(metastore_id).external_access_enabled
