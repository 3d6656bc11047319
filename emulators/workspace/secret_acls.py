"""Secret scope ACLs (state and decisions; no HTTP): Databricks' ``/api/2.0/secrets/acls/put|get|list|delete``
(databricks-sdk ``w.secrets.put_acl``, ``get_acl``, ``list_acls``, ``delete_acl``) and the checks of every
secrets call by a principal who is not a workspace admin (issue 16).

Semantics, from the Secrets API reference ("Create/overwrite an ACL", docs.databricks.com/api/workspace/
secrets/putacl) and databricks-sdk's docstrings:
- permissions are ordered ``READ`` < ``WRITE`` < ``MANAGE``, and a principal "will use the most powerful
  permission available to them" — its own ACL or one of its groups' (groups of groups included, through the
  directory's membership);
- ``READ``: get a secret and list the scope's secrets; ``WRITE``: also put and delete secrets; ``MANAGE``:
  also change, read and list the ACLs, and delete the scope;
- the creator of a scope gets ``MANAGE`` as an ACL of its own, unless ``initial_manage_principal`` is
  ``users`` (the only other value Databricks accepts), which gives it to every user
  (databricks/terraform-provider-databricks#322 quotes the API docs: "If initial_manage_principal is not
  specified, the initial ACL with MANAGE permission applied to the scope is assigned to the API request
  issuer's user identity");
- workspace admins (metastore admins here, the interim rule of issue 16, and the ``admins`` group) have
  ``MANAGE`` on every scope;
- ``put`` creates or overwrites the principal's ACL (the reference's headline; its "Throws
  RESOURCE_ALREADY_EXISTS if a permission for the principal already exists" is not what the CLI and
  Terraform rely on, so the stand-in overwrites); the principal must exist (else INVALID_PARAMETER_VALUE);
- refused: 403 ``PERMISSION_DENIED`` "<principal> does not have <PERMISSION> permission on scope <scope>
  to perform this action." (the message quoted in paiqo/Databricks-VSCode#43), databricks-sdk's
  ``PermissionDenied``.
Every call is one row of the audit log with ``service_name`` ``secrets`` and Databricks' action names
(``createScope``, ``getSecret``, ``putAcl`` …), its parameters the scope, key, principal and permission —
never a value.

LIMITATIONS: ``list_scopes`` lists every scope to everyone (Databricks does too: the Databricks-VSCode issue
above lists scopes its user cannot read); ``secret()`` inside a SQL statement is not checked against the
statement's principal.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from emulators.common.records import RecordStore
from emulators.workspace.access import Access
from emulators.workspace.audit import Caller
from emulators.workspace.errors import ApiError, invalid, permission_denied, resource_does_not_exist

LEVELS = {"READ": 1, "WRITE": 2, "MANAGE": 3}
#: ``initial_manage_principal`` Databricks accepts besides the caller: every user of the workspace
USERS = "users"
KIND = "secret-acl"
SERVICE = "secrets"


class SecretAcls:
    def __init__(self, store: RecordStore, access: Access) -> None:
        self.store = store
        self.access = access

    # state --------------------------------------------------------------------------------------
    def _key(self, scope: str, principal: str) -> str:
        return f"{scope}/{principal.lower()}"

    def acls(self, scope: str) -> list[dict[str, str]]:
        return [
            {"principal": r["principal"], "permission": r["permission"]}
            for _, r in self.store.scan(KIND, f"{scope}/")
        ]

    def initial(self, creator: str, initial_manage_principal: Any) -> str:
        """Who gets MANAGE on a new scope: its creator, or ``users`` (checked before the scope is made)."""
        if not initial_manage_principal:
            return creator
        if str(initial_manage_principal).lower() != USERS:
            raise invalid(
                f"initial_manage_principal must be '{USERS}' or omitted, not '{initial_manage_principal}'."
            )
        return USERS

    def on_create(self, scope: str, manager: str) -> None:
        """The initial MANAGE ACL, made with the scope."""
        self.store.put(KIND, self._key(scope, manager), {"principal": manager, "permission": "MANAGE"})

    def on_delete(self, scope: str) -> None:
        for key, _ in list(self.store.scan(KIND, f"{scope}/")):
            self.store.delete(KIND, key)

    def put(self, scope: str, principal: Any, permission: Any) -> None:
        permission = str(permission or "").upper()
        if permission not in LEVELS:
            raise invalid(f"Invalid permission '{permission}': READ, WRITE or MANAGE.")
        if not isinstance(principal, str) or not principal:
            raise invalid("principal is required.")
        if principal.lower() != USERS and not self.access.privileges.principal_exists(principal):
            raise invalid(f"Principal {principal} does not exist.")
        self.store.put(KIND, self._key(scope, principal), {"principal": principal, "permission": permission})

    def get(self, scope: str, principal: Any) -> dict[str, str]:
        record = self.store.get(KIND, self._key(scope, str(principal or "")))
        if record is None:
            raise resource_does_not_exist(f"Failed to get secret acl for principal {principal}.")
        return {"principal": record["principal"], "permission": record["permission"]}

    def delete(self, scope: str, principal: Any) -> None:
        if not self.store.delete(KIND, self._key(scope, str(principal or ""))):
            raise resource_does_not_exist(f"Secret ACL for principal {principal} does not exist.")

    # decisions ----------------------------------------------------------------------------------
    def level(self, principal: str, scope: str) -> int:
        """The most powerful permission ``principal`` holds on ``scope`` (0: none)."""
        if self.access.is_workspace_admin(principal):
            return LEVELS["MANAGE"]
        identities = self.access.privileges.identities(principal) | {USERS}
        return max(
            (LEVELS[a["permission"]] for a in self.acls(scope) if a["principal"].lower() in identities),
            default=0,
        )

    def run(
        self,
        caller: Caller,
        action: str,
        params: dict[str, Any],
        apply: Callable[[], Any],
        scope: Callable[[], str] | None = None,
        needed: str = "",
    ) -> Any:
        """``apply`` once the caller holds ``needed`` on the scope ``scope()`` names (which raises when it
        does not exist); one audit row with the outcome, allowed, denied or failed."""
        try:
            if scope is not None and needed:
                name = scope()
                if self.level(caller.principal, name) < LEVELS[needed]:
                    raise permission_denied(
                        f"{caller.principal} does not have {needed} permission on scope {name} "
                        "to perform this action."
                    )
            result = apply()
        except ApiError as error:
            self._audit(caller, action, params, error.status, error.message)
            raise
        self._audit(caller, action, params)
        return result

    def _audit(
        self,
        caller: Caller,
        action: str,
        params: dict[str, Any],
        status: int = 200,
        message: str | None = None,
    ) -> None:
        self.access.audit.record(caller, action, params, status, message, service_name=SERVICE)
