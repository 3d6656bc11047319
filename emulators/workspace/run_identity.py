"""Who a job run acts as (issue 16): the job's ``run_as`` principal, its short-lived run token, and the Unity
Catalog checks of the plans its Spark session sends (state and behaviour; no HTTP, no gRPC).

``run_as`` (Jobs API 2.2 ``JobRunAs``, databricks-sdk's ``service/jobs.py``): ``{"user_name": <email>}`` or
``{"service_principal_name": <applicationId>}``; without it a job runs as its creator ("If not specified,
the job runs as the user who created the job"). ``run_as_user_name`` of jobs/get shows the principal either
way. Who may set it (:func:`resolve_run_as`), as documented:

- ``user_name``: "Non-admin users can only set this field to their own email" — a workspace admin may name
  any active user ("Restrict workspace admins": "Workspace admins can change the job run as setting to
  service principals they have the Service Principal User role on or to any user in their workspace");
- ``service_principal_name``: "Setting this field requires the ``servicePrincipal/user`` role". The
  stand-in keeps no service principal roles (they are account-level on Databricks), so the choice here is:
  a workspace admin holds the role on every service principal (as account admins hold Service Principal
  Manager on all of them), and a service principal may name itself; any other caller is refused 403
  ``PERMISSION_DENIED``;
- ``group_name`` is not supported (400 ``INVALID_PARAMETER_VALUE``); so is a ``run_as`` naming none or two.

A name that is no active user / service principal answers 400 ``INVALID_PARAMETER_VALUE`` ``Principal:
UserName(<name>) does not exist`` (``ServicePrincipalName(…)``), the wording Databricks gives.

The run's credentials (:class:`RunIdentity`): on Databricks a task gets short-lived credentials of the run's
identity, never its creator's token. Here each task run gets a token of the ``run_as`` principal minted
through the directory (``principals.py``; lifetime the job's ``timeout_seconds`` plus a minute, else a day)
in ``DATABRICKS_TOKEN``, revoked when the task ends, so every REST call the task makes with databricks-sdk
is checked as that principal by the routes' existing checks.

The Spark session (:class:`PlanAccess`): Sail reaches the catalog with one server-wide token, so the checks
are made where a Databricks cluster makes them for its session user — on the task's Spark Connect channel
(``connect_proxy.py``), before an ``ExecutePlanRequest`` is forwarded: each catalog table it reads needs
``SELECT``, each it writes ``MODIFY``, a table it creates ``CREATE TABLE`` on the schema, all with
``USE CATALOG`` + ``USE SCHEMA`` (``Access.decide_tables``, the decision SQL statements get too), each
decision an audit row of the ``run_as`` principal (``generateTemporaryTableCredential`` / ``createTable``
with ``job_id``/``run_id``). A refusal is ``[INSUFFICIENT_PERMISSIONS] Insufficient privileges: User does
not have SELECT on Table '…'. SQLSTATE: 42501`` (what Databricks says for a statement). Metastore admins
by name pass without a decision, as in ``statement_access.py``.

Paths are tables too: a path at or under a catalog table's storage location is that table
(``table_paths.py``, after Databricks' "External tables" and "Path rules" pages), whatever its spelling
(``abfss``/``wasbs``/``az``/``https``, trailing slashes, ``..``). Reading a table's files by path — a
Parquet file in its folder, its ``_delta_log``, a partition folder ``<location>/city_id=1``, through
``spark.read…load(url)`` or SQL ``parquet.`url``` — needs what reading the table needs, writing into its
folder ``MODIFY``, with the same refusal and audit rows as by name. A folder holding tables, or a glob
that may match them, reaches each of them (choice: fail closed). ``…/weather_hourly_old`` beside
``…/weather_hourly`` is not that table.

A table with a column mask (or row filter) is never read or written by path, whoever asks — owner and
metastore admin too (Databricks KB: "[UNAUTHORIZED_ACCESS] Unauthorized access: PERMISSION_DENIED:
Path-based access to table <name> with row filter or column mask not supported."; it names no exemption):
pyspark's ``AnalysisException`` with that error class, an audit row ``generateTemporaryPathCredential``
(``access: path``) each (``Access.refuse_masked_paths``). By name the engine applies the policies.

Paths that reach no catalog table (raw CSV files, a staging or scratch folder; ``Touched.files``) are
decided as SQL statements decide them, by the same ``Access.decide_files``: reading needs ``READ FILES``,
writing ``READ FILES`` + ``WRITE FILES`` on the external location holding the path, each decision an audit
row ``generateTemporaryPathCredential`` (``url``, ``operation`` PATH_READ / PATH_READ_WRITE,
``external_location_name``, ``job_id``/``run_id``); a missing privilege is ``[INSUFFICIENT_PERMISSIONS]
Insufficient privileges: User does not have READ FILES on External Location '…'. SQLSTATE: 42501``, a path
in no external location ``[NO_PARENT_EXTERNAL_LOCATION_FOR_PATH] No parent external location was found for
path '…'. … SQLSTATE: 22KD1`` (the class and SQLSTATE statements give). Scope (choice, in
``Access.decide_files``): cloud storage URLs are decided — every Azure spelling ``table_paths.storage_key``
makes one place, and any other scheme, which no location here holds, refused; paths on the engine's own
disk (``file:`` URLs, paths with no scheme: a dedicated cluster's driver-local storage, which Unity Catalog
does not govern) are left alone. Metastore admins by name are not decided.

LIMITATIONS: ``ExecutePlan`` and ``AnalyzePlan`` (a DataFrame's schema, ``explain``; its reads) are
checked; catalog listings through the Spark session are answered by Sail with its own token. Names not in
the catalog are left alone (temporary views stand for the tables and paths they read; an unknown name the
engine answers). ``CREATE TABLE … LOCATION`` is not checked for ``CREATE EXTERNAL TABLE`` on the location,
as statements are not (``statement_access.py``). SQL text is read with sqlglot
(``statement_access.tables_touched``; its paths, ``read_files(…)`` too, ``table_paths.statement_paths``);
SQL it cannot read is refused for non-admins, as statements are.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from emulators.workspace.access import Access, MaskedPathAccess, NoParentLocation, Touched
from emulators.workspace.audit import Caller
from emulators.workspace.errors import ApiError, invalid, permission_denied
from emulators.workspace.principals import Directory

log = logging.getLogger("workspace.run_identity")

#: a day: a task without ``timeout_seconds`` still gets a token that ends (revoked at the task's end anyway)
_DEFAULT_TOKEN_SECONDS = 24 * 3600


def resolve_run_as(
    settings: dict[str, Any],
    caller: str,
    directory: Directory | None,
    is_workspace_admin: Callable[[str], bool],
) -> str:
    """The principal a job with ``settings`` runs as when ``caller`` creates or changes it (see above)."""
    run_as = settings.get("run_as")
    if not run_as:
        return caller
    if not isinstance(run_as, dict):
        raise invalid("run_as must be an object with user_name or service_principal_name.")
    given = {k: v for k, v in run_as.items() if v}
    if "group_name" in given:
        raise invalid("run_as.group_name is not supported by the local workspace.")
    if len(given) != 1 or next(iter(given)) not in ("user_name", "service_principal_name"):
        raise invalid("Exactly one of run_as.user_name and run_as.service_principal_name must be set.")
    field_name, name = next(iter(given.items()))
    kind, label = (
        ("user", "UserName") if field_name == "user_name" else ("service_principal", "ServicePrincipalName")
    )
    record = directory.find(str(name), kind) if directory is not None else None
    if directory is not None and (record is None or record.get("active") is False):
        raise invalid(f"Principal: {label}({name}) does not exist")
    principal = Directory.name_of(record) if record is not None else str(name)
    if principal.lower() == caller.lower() or is_workspace_admin(caller):
        return principal
    if kind == "user":
        raise permission_denied(
            f"Non-admin users can only set run_as.user_name to their own email ({caller})."
        )
    raise permission_denied(
        f"{caller} does not have the servicePrincipal/user role on service principal {principal}."
    )


@dataclass
class RunToken:
    principal: str
    value: str
    token_id: str


class RunIdentity:
    """Run tokens and plan checks for job runs (the runner's way into the directory and the privileges)."""

    def __init__(self, directory: Directory, access: Access) -> None:
        self.directory = directory
        self.access = access

    def mint(self, principal: str, run: dict[str, Any], task_key: str) -> RunToken:
        """A token of ``principal`` for one task run; ApiError if the principal no longer exists."""
        timeout = run["job_settings"].get("timeout_seconds")
        lifetime = int(timeout) + 60 if timeout else _DEFAULT_TOKEN_SECONDS
        made = self.directory.create_token(
            principal, f"job run {run['run_id']} task {task_key}", lifetime, created_by="jobs"
        )
        return RunToken(principal, made["token_value"], made["token_info"]["token_id"])

    def revoke(self, token: RunToken) -> None:
        try:
            self.directory.delete_token(None, token.token_id)
        except ApiError:  # already gone
            pass

    def plan_access(self, principal: str, run: dict[str, Any], task_key: str) -> PlanAccess:
        return PlanAccess(self.access, principal, {"job_id": run.get("job_id"), "run_id": run["run_id"]})


class Refused(Exception):
    """A plan the run's principal may not execute: ``message`` in Databricks' words, for the client, with
    the error class and SQLSTATE pyspark's ``AnalysisException`` carries."""

    def __init__(
        self, message: str, error_class: str = "INSUFFICIENT_PERMISSIONS", sql_state: str = "42501"
    ) -> None:
        super().__init__(message)
        self.message = message
        self.error_class = error_class
        self.sql_state = sql_state


class PlanAccess:
    """Decides the tables one task's plans use, for the run's principal; raises :class:`Refused`."""

    def __init__(self, access: Access, principal: str, params: dict[str, Any]) -> None:
        self.access = access
        self.privileges = access.privileges
        self.principal = principal
        self.caller = Caller(principal, user_agent="job-run")
        self.params = {k: v for k, v in params.items() if v is not None}

    @property
    def exempt(self) -> bool:
        """A metastore admin by name: no privilege decision (``statement_access.py`` does the same); only
        path access to a masked table is refused to it too (``Access.refuse_masked_paths``)."""
        return self.principal.lower() in self.privileges.admins

    def check(self, touched: Touched) -> Callable[[], None] | None:
        """Allow the plan's tables and the paths of it that are no table's (``touched.files``: the external
        location's READ FILES / WRITE FILES, driver-local paths left alone; audit rows with the job and run
        ids), or raise :class:`Refused`.
        Returns what to do once the engine has run the plan: the tables it made are owned by the run's
        principal, as Databricks makes a table's creator its owner ("Manage Unity Catalog object
        ownership") — locally the engine registers them with its own server-wide catalog token."""
        new = {n for n in touched.creates | touched.created if self._missing(n)}
        try:
            if self.exempt:
                self.access.refuse_masked_paths(self.caller, touched, self.params)
            else:
                self.access.decide_tables(self.caller, touched, self.params, _refused)
                self.access.decide_files(self.caller, touched.files, self.params, _refused, driver_disk=True)
        except MaskedPathAccess as masked:
            raise Refused(masked.message, masked.error_class, masked.sql_state) from None
        except NoParentLocation as nowhere:
            message = f"{nowhere.message} SQLSTATE: {nowhere.sql_state}"
            raise Refused(message, nowhere.error_class, nowhere.sql_state) from None
        return (lambda: self._own(new)) if new else None

    def _missing(self, name: str) -> bool:
        try:
            self.privileges.resolve("TABLE", name)
            return False
        except ApiError:
            return True

    def _own(self, names: set[str]) -> None:
        store = self.privileges.store
        with store.lock:
            for name in sorted(names):
                body = store.get("table", name)
                if body is not None and (body.get("owner") or "").lower() != self.principal.lower():
                    body["owner"] = self.principal
                    store.put("table", name, body)


def _refused(message: str) -> Refused:
    """``message`` (``Insufficient privileges: …``) framed as Databricks frames a statement's error."""
    return Refused(f"[INSUFFICIENT_PERMISSIONS] {message} SQLSTATE: 42501")
