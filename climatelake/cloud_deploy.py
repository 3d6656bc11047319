"""``climatelake deploy --target azure``: Unity Catalog set-up and the bundle, from ``azd provision`` outputs.

After ``azd provision`` (infra/main.bicep) the resources exist but the workspace knows nothing of them. This
creates or updates, idempotently and through databricks-sdk:

0. the product's principals (``databricks/principals.yml``, :func:`ensure_principals`): the gateway's and
   the function app's managed identities added as service principals by their client IDs (azd outputs
   ``AZURE_GATEWAY_IDENTITY_CLIENT_ID``, ``AZURE_FUNCTION_APP_IDENTITY_CLIENT_ID``; each app signs in as
   its identity, :mod:`climatelake.databricks_auth`), the jobs' ``run_as`` as a Databricks-managed service
   principal ``climatelake-jobs``; the groups must exist as account groups (checked first, before any write:
   a workspace-local group cannot hold Unity Catalog privileges, and a workspace's SCIM API makes only
   those, so an account admin makes them);
1. the storage credential of the Access Connector (``AZURE_ACCESS_CONNECTOR_ID``; its managed identity holds
   Storage Blob Data Contributor on the lake account);
2. an external location per container the jobs read or write (lake, raw, results):
   ``abfss://<container>@<account>.dfs.core.windows.net/``;
3. the catalog with its managed location (``abfss://lake@<account>…/unity``) and the schemas the product
   uses (bronze, silver, gold, results);
4. the Key Vault-backed secret scope ``climatelake`` (the PII keys; ``AZURE_KEY_VAULT_RESOURCE_ID`` and
   ``AZURE_KEY_VAULT_URI``). Databricks creates a Key Vault-backed scope only for a caller signed in with a
   Microsoft Entra ID token — ``az login`` and the SDK's azure-cli authentication, not a personal access
   token;
5. the notification destination ``climatelake-job-events``: a webhook to the function app's ``job_events``
   function (``<AZURE_FUNCTION_APP_URL>/api/job-events?code=<function key>``; the key comes from
   ``CLIMATELAKE_JOB_EVENTS_KEY``, e.g. ``az functionapp function keys list -g <group> -n <app>
   --function-name job_events --query default -o tsv``);
6. the metastore's external data access turned on (the jobs' temporary path credentials need it; a
   metastore admin's step — anyone else gets a message saying so,
   :func:`climatelake.bundle_access.ensure_external_access`), then the bundle's grants on the catalog and
   schemas and the scope's ACLs (``resources/unity_catalog.yml``, :func:`climatelake.bundle.apply_access`),
   to the principals of step 0 by application ID;
7. the bundle: its wheel built (``databricks.yml`` artifacts), its files and the wheel uploaded where
   ``databricks bundle deploy`` puts them (``~/.bundle/climatelake/<target>/files`` and ``…/artifacts``,
   :mod:`climatelake.workspace_sync`) and its jobs created or reset (:func:`climatelake.bundle.deploy_jobs`),
   with the variables from the outputs (storage account, blob endpoint, catalog, the destination's id, the
   service principals' application IDs: every job runs as ``climatelake-jobs``).

An object that exists and matches is left alone, so a second run writes nothing. Two cannot be compared:
a catalog's managed location cannot be moved (a different one is reported, not changed), and a webhook's URL
is write-only (an existing destination is kept; ``--update-webhook`` writes its URL again, e.g. after the
function key was rotated).

``--plan`` makes no call: it runs the same steps against a recorder that takes the workspace as empty and
prints each call the SDK would send (the SDK method, HTTP method, path and JSON body; secrets redacted).
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlsplit

from databricks.sdk.errors import NotFound
from databricks.sdk.mixins.workspace import WorkspaceExt
from databricks.sdk.service import catalog as uc
from databricks.sdk.service import iam, jobs, settings, workspace

from climatelake import bundle, bundle_access
from climatelake.settings import Settings

#: the outputs of infra/main.bicep this reads (``azd env get-values``)
REQUIRED_OUTPUTS = (
    "AZURE_STORAGE_ACCOUNT_NAME",
    "AZURE_DATABRICKS_WORKSPACE_URL",
    "AZURE_ACCESS_CONNECTOR_ID",
    "AZURE_KEY_VAULT_URI",
    "AZURE_KEY_VAULT_RESOURCE_ID",
    "AZURE_FUNCTION_APP_URL",
    "AZURE_GATEWAY_IDENTITY_CLIENT_ID",
    "AZURE_FUNCTION_APP_IDENTITY_CLIENT_ID",
)
#: service principal (databricks/principals.yml) → the azd output naming its managed identity's client ID;
#: a principal not named here is Databricks-managed (the jobs' run_as needs no credential of its own)
IDENTITY_OUTPUTS = {
    "climatelake-gateway": "AZURE_GATEWAY_IDENTITY_CLIENT_ID",
    "climatelake-functions": "AZURE_FUNCTION_APP_IDENTITY_CLIENT_ID",
}
CREDENTIAL = "climatelake_access_connector"
#: the containers the jobs read and write through Unity Catalog (climatelake.settings.Settings)
LOCATION_CONTAINERS = (Settings.lake_container, Settings.raw_container, Settings.results_container)
#: every schema the jobs and the gateway use: the bundle's ``schemas`` resources (resources/unity_catalog.yml)
SCHEMAS = bundle.schema_names()
SECRET_SCOPE = "climatelake"  # climatelake.pii: CLIMATELAKE_PII_SECRET_SCOPE's default
DESTINATION = "climatelake-job-events"
#: functions/job_events.py's route under the Functions host's default ``api`` prefix (host.json sets none)
JOB_EVENTS_PATH = "/api/job-events"
COMMENT = "climatelake (climatelake deploy --target azure)"


def parse_env(text: str) -> dict[str, str]:
    """``azd env get-values`` output (a .env file): ``KEY="value"`` lines; ``#`` comments, blank lines."""
    values: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.removeprefix("export ").partition("=")
        if not sep or not key.strip():
            raise ValueError(f"line {number} of the azd outputs is not KEY=value: {line[:40]!r}")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        elif len(value) >= 2 and value[0] == value[-1] == "'":
            value = value[1:-1]
        values[key.strip()] = value
    return values


def read_outputs(path: Path | None) -> dict[str, str]:
    """The azd outputs from ``path``, or from ``azd env get-values`` when none is given."""
    if path is not None:
        return parse_env(Path(path).read_text())
    try:
        done = subprocess.run(["azd", "env", "get-values"], capture_output=True, text=True, check=True)
    except FileNotFoundError:
        raise RuntimeError("azd is not installed: pass --azd-env FILE (azd env get-values > FILE)") from None
    except subprocess.CalledProcessError as error:
        raise RuntimeError(f"azd env get-values failed: {error.stderr.strip()[:200]}") from None
    return parse_env(done.stdout)


@dataclass(frozen=True)
class AzureTarget:
    """What the deployment needs, derived from azd's outputs and the environment."""

    outputs: dict[str, str]
    catalog: str = "climatelake"
    job_events_key: str = ""
    sql_warehouse_id: str = ""
    #: write an existing job-events destination's URL again (it cannot be read back to compare)
    update_webhook: bool = False

    @classmethod
    def from_outputs(cls, outputs: dict[str, str], environ: dict[str, str] | None = None) -> AzureTarget:
        missing = [name for name in REQUIRED_OUTPUTS if not outputs.get(name)]
        if missing:
            raise ValueError(f"the azd outputs lack {', '.join(missing)} (run azd provision first)")
        env = os.environ if environ is None else environ

        def setting(name: str) -> str:  # the environment, else a value `azd env set` put in azd's env
            return env.get(name) or outputs.get(name) or ""

        return cls(
            outputs=outputs,
            catalog=setting("CLIMATELAKE_CATALOG") or "climatelake",
            job_events_key=setting("CLIMATELAKE_JOB_EVENTS_KEY"),
            sql_warehouse_id=setting("CLIMATELAKE_SQL_WAREHOUSE_ID"),
        )

    @property
    def workspace_url(self) -> str:
        url = self.outputs["AZURE_DATABRICKS_WORKSPACE_URL"].rstrip("/")
        return url if "://" in url else f"https://{url}"  # the workspace's workspaceUrl has no scheme

    @property
    def storage_account(self) -> str:
        return self.outputs["AZURE_STORAGE_ACCOUNT_NAME"]

    @property
    def dfs_host(self) -> str:
        endpoint = self.outputs.get("AZURE_STORAGE_DFS_ENDPOINT", "")
        return urlsplit(endpoint).netloc or f"{self.storage_account}.dfs.core.windows.net"

    def location_url(self, container: str) -> str:
        return f"abfss://{container}@{self.dfs_host}/"

    @property
    def managed_location(self) -> str:
        return f"abfss://{Settings.lake_container}@{self.dfs_host}/unity"

    @property
    def webhook_url(self) -> str:
        url = self.outputs["AZURE_FUNCTION_APP_URL"].rstrip("/") + JOB_EVENTS_PATH
        return f"{url}?code={self.job_events_key}" if self.job_events_key else url

    def bundle_overrides(self, destination_id: str) -> dict[str, str]:
        overrides = {
            "storage_account": self.storage_account,
            "catalog": self.catalog,
            "completion_destination_id": destination_id,
        }
        if self.outputs.get("AZURE_STORAGE_BLOB_ENDPOINT"):
            overrides["blob_endpoint"] = self.outputs["AZURE_STORAGE_BLOB_ENDPOINT"].rstrip("/")
        if self.sql_warehouse_id:
            overrides["sql_warehouse_id"] = self.sql_warehouse_id
        return overrides


Report = Callable[[str], None]


def deploy(
    w: Any, target: AzureTarget, bundle_target: str = "dev", report: Report = print, planning: bool = False
) -> dict[str, int]:
    """Every step, in order; ``report`` gets one line per object (created, updated, unchanged, kept).
    Returns the bundle's job name → job id. ``planning``: nothing is built (:func:`plan`)."""
    if not target.job_events_key and not planning:
        raise ValueError(
            "CLIMATELAKE_JOB_EVENTS_KEY is not set: the job_events function needs its function key "
            "(az functionapp function keys list -g <group> -n <app> --function-name job_events)"
        )
    principals = ensure_principals(w, target, report, planning)
    ensure_credential(w, target, report)
    for container in LOCATION_CONTAINERS:
        ensure_location(w, f"climatelake_{container}", target.location_url(container), report)
    ensure_catalog(w, target, report)
    ensure_scope(w, target, report)
    access = bundle.apply_access(w, bundle_target, {**target.bundle_overrides(""), **principals}, None, False)
    for line in access:
        report(f"grant {line}")
    report(f"grants and secret scope ACLs: {len(access)} changed")
    destination_id = ensure_destination(w, target, report)
    if not planning:
        for wheel in bundle.build_artifacts(bundle_target):
            report(f"artifact {wheel.name}: ready (built when older than its sources)")
    overrides = {**target.bundle_overrides(destination_id), **principals}
    deployed = bundle.deploy_jobs(w, bundle_target, overrides)
    for name, job_id in deployed.items():
        report(f"job {name}: {job_id}")
    return deployed


def ensure_principals(w: Any, target: AzureTarget, report: Report, planning: bool = False) -> dict[str, str]:
    """Step 0; returns the bundle's service-principal variables (``jobs_service_principal``, …) → application
    ID, so grants and ``run_as`` name exactly these principals (no lookup by display name, which two
    principals may share after an identity was re-created)."""
    declared = bundle_access.read_principals(bundle.BUNDLE_ROOT)
    unusable = []
    for name in declared.get("groups") or {}:
        found = next(iter(w.groups.list(filter=f'displayName eq "{name}"')), None)
        kind = found.meta.resource_type if found is not None and found.meta else None
        if found is None or kind == "WorkspaceGroup":
            unusable.append(f"{name} ({'workspace-local' if found is not None else 'missing'})")
        else:
            report(f"group {name}: found")
    if unusable and not planning:
        raise RuntimeError(
            f"groups {', '.join(unusable)}: Unity Catalog grants need account groups. An account admin makes "
            "each (`databricks account groups create --display-name <name>`) and assigns it to the workspace "
            "(account console → Workspaces → Permissions); then deploy again"
        )
    application_ids: dict[str, str] = {}
    for name in declared.get("service_principals") or {}:
        output = IDENTITY_OUTPUTS.get(name)
        if output is None:  # Databricks-managed: found by display name, else made
            found = bundle_access.service_principal(w, name)
            if found is None:
                found = w.service_principals.create(display_name=name)
                report(f"service principal {name}: created (Databricks-managed)")
            else:
                report(f"service principal {name}: unchanged")
            application_ids[name] = found.application_id or ""
            continue
        application_id = target.outputs[output]
        listing = w.service_principals.list(filter=f'applicationId eq "{application_id}"')
        found = next(iter(listing), None)
        if found is None:
            w.service_principals.create(application_id=application_id, display_name=name)
            report(f"service principal {name}: added (managed identity {application_id})")
        else:
            report(f"service principal {name}: unchanged ({application_id})")
        application_ids[name] = application_id
    variables = bundle.principal_variables()
    return {var: application_ids[name] for var, name in variables.items() if name in application_ids}


def ensure_credential(w: Any, target: AzureTarget, report: Report) -> None:
    connector = target.outputs["AZURE_ACCESS_CONNECTOR_ID"]
    try:
        current = w.storage_credentials.get(CREDENTIAL)
    except NotFound:
        w.storage_credentials.create(
            CREDENTIAL,
            azure_managed_identity=uc.AzureManagedIdentityRequest(access_connector_id=connector),
            comment=COMMENT,
        )
        report(f"storage credential {CREDENTIAL}: created")
        return
    if current.azure_managed_identity and current.azure_managed_identity.access_connector_id == connector:
        report(f"storage credential {CREDENTIAL}: unchanged")
        return
    w.storage_credentials.update(
        CREDENTIAL, azure_managed_identity=uc.AzureManagedIdentityResponse(access_connector_id=connector)
    )
    report(f"storage credential {CREDENTIAL}: updated (access connector)")


def ensure_location(w: Any, name: str, url: str, report: Report) -> None:
    try:
        current = w.external_locations.get(name)
    except NotFound:
        w.external_locations.create(name, url, CREDENTIAL, comment=COMMENT)
        report(f"external location {name}: created ({url})")
        return
    if (current.url or "").rstrip("/") == url.rstrip("/") and current.credential_name == CREDENTIAL:
        report(f"external location {name}: unchanged")
        return
    w.external_locations.update(name, url=url, credential_name=CREDENTIAL)
    report(f"external location {name}: updated ({url})")


def ensure_catalog(w: Any, target: AzureTarget, report: Report) -> None:
    try:
        current = w.catalogs.get(target.catalog)
    except NotFound:
        w.catalogs.create(target.catalog, storage_root=target.managed_location, comment=COMMENT)
        report(f"catalog {target.catalog}: created (managed location {target.managed_location})")
    else:
        if (current.storage_root or "").rstrip("/") == target.managed_location:
            report(f"catalog {target.catalog}: unchanged")
        else:  # Unity Catalog cannot move a catalog's managed storage
            root = current.storage_root or "the metastore's"
            report(
                f"catalog {target.catalog}: kept; its managed location is {root}, not "
                f"{target.managed_location} (a catalog's managed location cannot move)"
            )
    for schema in SCHEMAS:
        try:
            w.schemas.get(f"{target.catalog}.{schema}")
            report(f"schema {target.catalog}.{schema}: unchanged")
        except NotFound:
            w.schemas.create(schema, target.catalog, comment=COMMENT)
            report(f"schema {target.catalog}.{schema}: created")


def ensure_scope(w: Any, target: AzureTarget, report: Report) -> None:
    vault = workspace.AzureKeyVaultSecretScopeMetadata(
        resource_id=target.outputs["AZURE_KEY_VAULT_RESOURCE_ID"],
        dns_name=target.outputs["AZURE_KEY_VAULT_URI"],
    )
    current = next((s for s in w.secrets.list_scopes() if s.name == SECRET_SCOPE), None)
    if current is None:
        if getattr(getattr(w, "config", None), "auth_type", None) == "pat":
            report(
                "warning: Databricks makes a Key Vault-backed scope only for a Microsoft Entra ID caller; "
                "with a personal access token it refuses (unset DATABRICKS_TOKEN and `az login`)"
            )
        w.secrets.create_scope(
            SECRET_SCOPE,
            scope_backend_type=workspace.ScopeBackendType.AZURE_KEYVAULT,
            backend_azure_keyvault=vault,
        )
        report(f"secret scope {SECRET_SCOPE}: created (Key Vault {vault.dns_name})")
    elif current.keyvault_metadata and current.keyvault_metadata.resource_id == vault.resource_id:
        report(f"secret scope {SECRET_SCOPE}: unchanged")
    else:  # deleting a scope is the user's decision: its secrets or its vault may still be in use
        backend = current.backend_type.value if current.backend_type else "unknown"
        report(f"secret scope {SECRET_SCOPE}: kept; it is {backend}-backed, not this Key Vault")


def ensure_destination(w: Any, target: AzureTarget, report: Report) -> str:
    """The job-events destination's id (jobs name it in their webhook_notifications)."""
    config = settings.Config(generic_webhook=settings.GenericWebhookConfig(url=target.webhook_url))
    for existing in w.notification_destinations.list():
        if existing.display_name == DESTINATION:
            if target.update_webhook:  # e.g. after the function key was rotated
                w.notification_destinations.update(existing.id, config=config)
                report(f"notification destination {DESTINATION}: updated ({_redact(target.webhook_url)})")
            else:
                report(
                    f"notification destination {DESTINATION}: kept (a webhook's URL is write-only; "
                    "--update-webhook writes it again)"
                )
            return existing.id
    created = w.notification_destinations.create(display_name=DESTINATION, config=config)
    report(f"notification destination {DESTINATION}: created ({_redact(target.webhook_url)})")
    return created.id


# --plan -----------------------------------------------------------------------------------------------
#: GET paths that list (a plan answers them empty); any other GET reads one object (a plan answers 404)
_LISTS = ("/list", "/notification-destinations", "/scim/v2/Groups", "/scim/v2/ServicePrincipals")


class PlanRecorder:
    """Stands in for databricks-sdk's ApiClient: records each request, sends none. The workspace is taken as
    empty: a list is empty, an object is missing (404), a create answers what it was given (a new
    notification destination's id and a new service principal's application ID are placeholders, new jobs
    are numbered 1, 2, … in the order they are made)."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.sdk_call = ""
        self.jobs_created = 0
        self._cfg = SimpleNamespace(workspace_id=None)  # what the SDK's services read for headers

    def do(
        self,
        method: str,
        path: str,
        query: dict | None = None,
        body: dict | None = None,
        data: dict | None = None,
        files: dict | None = None,
        **_: Any,
    ):
        if files:  # a workspace upload (a multipart form): the fields, and the content's size
            body = {**(data or {}), **{k: f"<{len(v)} bytes>" for k, v in files.items()}}
        self.calls.append(
            {"sdk": self.sdk_call, "method": method, "path": path, "query": query or None, "body": body}
        )
        if method == "GET":
            if path.endswith("/Me"):
                return {"userName": "<you>"}
            if path.endswith("/current-metastore-assignment"):
                return {"metastore_id": "<id of the workspace's metastore>", "workspace_id": 0}
            if "/unity-catalog/metastores/" in path:  # a new metastore: external data access off
                return {"metastore_id": path.rsplit("/", 1)[-1], "external_access_enabled": False}
            if path.endswith(_LISTS) or "/permissions/" in path:  # grants, job permissions: none yet
                return {}
            raise NotFound(f"plan: {path} is taken as missing")
        answer = dict(body or {})
        if path == "/api/2.0/notification-destinations":
            answer["id"] = "<id of the new notification destination>"
        if path.endswith("/jobs/create"):  # job ids are numbers: the plan numbers new jobs 1, 2, …
            self.jobs_created += 1
            answer = {"job_id": self.jobs_created}
        if path.endswith("/scim/v2/ServicePrincipals"):
            answer.setdefault("applicationId", f"<application id of {answer.get('displayName')}>")
        return answer


class _Recorded:
    """A service whose calls name themselves to the recorder (``w.catalogs.create``)."""

    def __init__(self, service: Any, name: str, recorder: PlanRecorder) -> None:
        self._service, self._name, self._recorder = service, name, recorder

    def __getattr__(self, attribute: str) -> Any:
        method = getattr(self._service, attribute)

        def call(*args: Any, **kwargs: Any) -> Any:
            self._recorder.sdk_call = f"w.{self._name}.{attribute}"
            return method(*args, **kwargs)

        return call


def plan_workspace(recorder: PlanRecorder) -> Any:
    """A stand-in for ``WorkspaceClient`` with the services the deployment uses, wired to ``recorder``."""
    services = {
        "storage_credentials": uc.StorageCredentialsAPI,
        "external_locations": uc.ExternalLocationsAPI,
        "catalogs": uc.CatalogsAPI,
        "schemas": uc.SchemasAPI,
        "secrets": workspace.SecretsAPI,
        "notification_destinations": settings.NotificationDestinationsAPI,
        "jobs": jobs.JobsAPI,
        "workspace": WorkspaceExt,
        "current_user": iam.CurrentUserAPI,
        "groups": iam.GroupsAPI,
        "service_principals": iam.ServicePrincipalsAPI,
        "grants": uc.GrantsAPI,
        "metastores": uc.MetastoresAPI,
    }
    return SimpleNamespace(**{k: _Recorded(cls(recorder), k, recorder) for k, cls in services.items()})


def plan(target: AzureTarget, bundle_target: str = "dev", report: Report = print) -> list[dict[str, Any]]:
    """Print every call a deployment to an empty workspace would make; make none."""
    recorder = PlanRecorder()
    report(f"plan: the calls to {target.workspace_url} (taken as empty); nothing is sent or built")
    groups = ", ".join(bundle_access.read_principals(bundle.BUNDLE_ROOT).get("groups") or {})
    report(f"plan: the account groups {groups} must exist (a run checks them first and stops if not)")
    deploy(plan_workspace(recorder), target, bundle_target, report=lambda line: None, planning=True)
    for artifact, spec in bundle.artifacts(bundle_target).items():
        report(f"build artifact {artifact}: `{spec.get('build')}` in {spec['path']}")
    for number, call in enumerate(recorder.calls, 1):
        query = f"?{'&'.join(f'{k}={v}' for k, v in call['query'].items())}" if call["query"] else ""
        body = f" {_redact(json.dumps(call['body'], sort_keys=True))}" if call["body"] is not None else ""
        report(f"{number:3}. {call['sdk']}: {call['method']} {call['path']}{query}{body}")
    return recorder.calls


def _redact(text: str) -> str:
    """A function key in a URL never printed."""
    return re.sub(r"(code=)[^&\"\s]+", r"\1<redacted>", text)


def run(args: Any) -> None:
    """The CLI's ``deploy --target azure``: ``--plan``, ``--azd-env FILE``, ``--bundle-target``,
    ``--update-webhook``."""
    target = AzureTarget.from_outputs(read_outputs(args.azd_env))
    if args.update_webhook:
        target = dataclasses.replace(target, update_webhook=True)
    if args.plan:
        plan(target, args.bundle_target)
        return
    from databricks.sdk import WorkspaceClient

    deploy(WorkspaceClient(host=target.workspace_url), target, args.bundle_target)
