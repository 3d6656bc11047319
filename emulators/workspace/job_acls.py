"""Job permissions (state and decisions; no HTTP): Databricks' ``/api/2.0/permissions/jobs/{job_id}`` (GET,
PATCH, PUT; databricks-sdk ``w.jobs.get_permissions``, ``update_permissions``, ``set_permissions``,
``get_permission_levels``) and the checks of every Jobs API call by a principal (issue 16).

Semantics, from Databricks' "Job ACLs" (docs.databricks.com/security/auth/access-control#jobs) and the
Permissions API reference:
- levels ``CAN_VIEW`` < ``CAN_MANAGE_RUN`` < ``CAN_MANAGE`` < ``IS_OWNER``; a principal uses the most
  powerful level it holds itself or through a group (groups of groups included, the directory's membership);
- ``CAN_VIEW``: the job's settings (``jobs/get``), its runs and their output; ``CAN_MANAGE_RUN``: also
  ``run-now`` and cancelling runs; ``CAN_MANAGE``: also editing (``reset``, ``update``), deleting and
  changing the permissions; ``IS_OWNER``: all of that. The creator is the owner; a job has exactly one,
  a user or a service principal (not a group); giving ``IS_OWNER`` to another principal moves it;
- workspace admins hold ``CAN_MANAGE`` on every job, inherited from the root object ``/jobs/`` (the shape
  GET answers, databrickslabs/migrate#168 shows it) — and may change an owner;
- job visibility control (on by default): ``jobs/list`` lists only the jobs the caller can view;
- a refusal is 403 ``PERMISSION_DENIED``: ``User "<name>" does not have Manage Run or Owner or Admin
  permissions on job <id>`` (a real workspace's answer to ``run-now``); for viewing ``… does not have View
  permissions on job <id>``; for editing ``… does not have Manage or Owner or Admin permissions on job
  <id>`` (the same pattern; its exact wording is an assumption).

Choices where the reference is silent: ``PATCH`` sets each named principal's direct level (one per
principal); ``PUT`` replaces every direct entry but the owner's, and moves ownership only when it names an
``IS_OWNER``. One-time runs (``runs/submit``, no job) are visible to their submitter and admins. Every
refusal and every permission change is a ``system.access.audit`` row (service ``jobs``: ``runNow``,
``changeJobAcl``, …).
"""

from __future__ import annotations

from typing import Any

from emulators.common.records import RecordStore
from emulators.workspace.access import Access
from emulators.workspace.audit import Caller
from emulators.workspace.errors import invalid, permission_denied
from emulators.workspace.principals import ADMINS, Directory

LEVELS = {"CAN_VIEW": 1, "CAN_MANAGE_RUN": 2, "CAN_MANAGE": 3, "IS_OWNER": 4}
DESCRIPTIONS = {
    "CAN_VIEW": "Can view the job and its runs",
    "CAN_MANAGE_RUN": "Can view, trigger and cancel runs of the job",
    "CAN_MANAGE": "Can view, run, edit and delete the job and change its permissions",
    "IS_OWNER": "Owns the job: everything CAN_MANAGE allows",
}
#: what a refusal names for each level asked
_WORDS = {
    "CAN_VIEW": "View",
    "CAN_MANAGE_RUN": "Manage Run or Owner or Admin",
    "CAN_MANAGE": "Manage or Owner or Admin",
}
KIND = "job-acl"
SERVICE = "jobs"
#: the field an access control entry names its principal with, by directory kind
_FIELDS = {"user": "user_name", "group": "group_name", "service_principal": "service_principal_name"}


class JobAcls:
    def __init__(self, store: RecordStore, access: Access, directory: Directory) -> None:
        self.store = store
        self.access = access
        self.directory = directory

    # state --------------------------------------------------------------------------------------
    @staticmethod
    def _prefix(job_id: int) -> str:
        return f"{int(job_id):012d}/"

    def _entries(self, job_id: int) -> dict[str, dict[str, str]]:
        """Direct entries by lower-case principal (the owner's included once it was moved)."""
        return {key.split("/", 1)[1]: r for key, r in self.store.scan(KIND, self._prefix(job_id))}

    def owner(self, job: dict[str, Any]) -> str:
        for record in self._entries(job["job_id"]).values():
            if record["level"] == "IS_OWNER":
                return record["principal"]
        return job.get("creator_user_name") or ""

    def on_delete(self, job_id: int) -> None:
        for key, _ in list(self.store.scan(KIND, self._prefix(job_id))):
            self.store.delete(KIND, key)

    def _kind(self, principal: str) -> str:
        for kind in ("user", "service_principal", "group"):
            if self.directory.find(principal, kind) is not None:
                return kind
        raise invalid(f"Principal {principal} does not exist.")

    def view(self, job: dict[str, Any]) -> dict[str, Any]:
        """The job's permissions as GET answers them: the owner, the direct entries, the admins' inherited."""
        owner = self.owner(job)
        records = self._entries(job["job_id"])
        kinds = {r["principal"].lower(): r.get("kind") for r in records.values()}
        entries = [(owner, "IS_OWNER")] if owner else []
        entries += [
            (r["principal"], r["level"])
            for r in records.values()
            if r["level"] != "IS_OWNER" and r["principal"].lower() != owner.lower()
        ]
        acl = [
            {
                _FIELDS[self._shown_kind(p, kinds.get(p.lower()))]: p,
                "all_permissions": [{"permission_level": level, "inherited": False}],
            }
            for p, level in entries
        ]
        acl.append(
            {
                "group_name": ADMINS,
                "all_permissions": [
                    {"permission_level": "CAN_MANAGE", "inherited": True, "inherited_from_object": ["/jobs/"]}
                ],
            }
        )
        return {"object_id": f"/jobs/{job['job_id']}", "object_type": "job", "access_control_list": acl}

    def _shown_kind(self, principal: str, recorded: str | None) -> str:
        """The kind an entry is shown as: the directory's, else the one recorded with the entry (its
        principal was deleted since: the entry stays, as the permission stays on Databricks until changed,
        but grants nothing — choice), else ``user`` (a creator is a user or a service principal)."""
        for kind in ("user", "service_principal", "group"):
            if self.directory.find(principal, kind) is not None:
                return kind
        return recorded or "user"

    def change(self, caller: Caller, job: dict[str, Any], entries: Any, replace: bool) -> dict[str, Any]:
        """PATCH (``replace`` False) or PUT the entries; the caller needs CAN_MANAGE."""
        self.require(caller, job, "CAN_MANAGE", "changeJobAcl")
        wanted = [self._entry(e) for e in entries or []]
        owners = [p for p, level in wanted if level == "IS_OWNER"]
        if len(owners) > 1:
            raise invalid("A job can have only one owner.")
        job_id = job["job_id"]
        if replace:
            for key, record in list(self.store.scan(KIND, self._prefix(job_id))):
                if record["level"] != "IS_OWNER":
                    self.store.delete(KIND, key)
        for principal, level in wanted:
            if level == "IS_OWNER":
                if self._kind(principal) == "group":
                    raise invalid(f"Group {principal} cannot be the owner of job {job_id}.")
                for key, record in list(self.store.scan(KIND, self._prefix(job_id))):
                    if record["level"] == "IS_OWNER":
                        self.store.delete(KIND, key)
            key = f"{self._prefix(job_id)}{principal.lower()}"
            self.store.put(KIND, key, {"principal": principal, "level": level, "kind": self._kind(principal)})
        params = {"job_id": str(job_id), "acl": [{"principal": p, "level": v} for p, v in wanted]}
        self.access.audit.record(caller, "changeJobAcl", params, service_name=SERVICE)
        return self.view(job)

    def _entry(self, entry: Any) -> tuple[str, str]:
        if not isinstance(entry, dict):
            raise invalid("Each access control entry must be an object.")
        principal = entry.get("user_name") or entry.get("group_name") or entry.get("service_principal_name")
        level = str(entry.get("permission_level") or "").upper()
        if not principal:
            raise invalid("An access control entry needs user_name, group_name or service_principal_name.")
        if level not in LEVELS:
            raise invalid(f"Invalid permission level {level!r}: {', '.join(LEVELS)}.")
        self._kind(principal)  # exists
        return principal, level

    # decisions ----------------------------------------------------------------------------------
    def level(self, principal: str, job: dict[str, Any]) -> int:
        """The most powerful level ``principal`` holds on ``job`` (0: none)."""
        if self.owner(job).lower() == principal.lower():
            return LEVELS["IS_OWNER"]
        if self.access.is_workspace_admin(principal):
            return LEVELS["CAN_MANAGE"]
        identities = self.access.privileges.identities(principal)
        return max(
            (LEVELS[r["level"]] for who, r in self._entries(job["job_id"]).items() if who in identities),
            default=0,
        )

    def can_view(self, principal: str, job: dict[str, Any]) -> bool:
        return self.level(principal, job) >= LEVELS["CAN_VIEW"]

    def require(self, caller: Caller, job: dict[str, Any], needed: str, action: str) -> None:
        """Raise 403 (after its audit row) unless the caller holds ``needed`` on ``job``."""
        if self.level(caller.principal, job) < LEVELS[needed]:
            self._refuse(caller, action, f"{_WORDS[needed]} permissions on job", "job_id", job["job_id"])

    def can_see_run(self, principal: str, run: dict[str, Any], job: dict[str, Any] | None) -> bool:
        """A run without a job (one-time, or its job deleted): its submitter and workspace admins."""
        if job is not None:
            return self.can_view(principal, job)
        submitter = (run.get("creator_user_name") or "").lower()
        return principal.lower() == submitter or self.access.is_workspace_admin(principal)

    def require_run(
        self, caller: Caller, run: dict[str, Any], job: dict[str, Any] | None, needed: str, action: str
    ) -> None:
        """The same for a run: its job's permissions; else (:meth:`can_see_run`) its submitter and admins."""
        if job is not None:
            self.require(caller, job, needed, action)
        elif not self.can_see_run(caller.principal, run, None):
            self._refuse(caller, action, "View permissions on run", "run_id", run["run_id"])

    def _refuse(self, caller: Caller, action: str, what: str, key: str, ident: Any) -> None:
        """Databricks' 403 for ``what`` (``… permissions on job``), its audit row written first."""
        error = permission_denied(f'User "{caller.principal}" does not have {what} {ident}')
        params = {key: str(ident)}
        self.access.audit.record(caller, action, params, error.status, error.message, service_name=SERVICE)
        raise error

    @staticmethod
    def levels() -> dict[str, Any]:
        return {
            "permission_levels": [{"permission_level": k, "description": v} for k, v in DESCRIPTIONS.items()]
        }
