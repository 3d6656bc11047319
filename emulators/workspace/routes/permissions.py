"""Unity Catalog grants: ``/api/2.1/unity-catalog/permissions/{securable_type}/{full_name}`` (GET, PATCH)
and ``/effective-permissions/{securable_type}/{full_name}`` (GET), what databricks-sdk's ``w.grants.get``,
``update`` and ``get_effective`` call, and their paginated forms ``/privilege-assignments/…`` and
``/effective-privilege-assignments/…`` (``w.grants.list``, ``list_effective``: answered in one page, no
``next_page_token`` — databricks-sdk 0.162 does not pass the token back); the model is ``privileges.py``,
enforcement ``access.py``.

Answers as Databricks: ``{"privilege_assignments": [{"principal", "privileges"}]}`` with the privileges
spelled as the SDK's ``Privilege`` enum (``USE_CATALOG``). Deviation from the open Unity Catalog spec, whose
``Privilege`` is spelled ``USE CATALOG``: databricks-sdk drops values it does not know, so the REST form
of Databricks is answered (and both spellings are accepted in requests).
"""

from __future__ import annotations

import json
import uuid

from flask import Blueprint, g, jsonify, request

from emulators.workspace.audit import Caller
from emulators.workspace.errors import invalid
from emulators.workspace.routes.common import body, workspace

permissions_api = Blueprint("uc_permissions", __name__, url_prefix="/api/2.1/unity-catalog")


def caller() -> Caller:
    """The request's caller, as the audit log records it (an id per request)."""
    if "caller" not in g:
        g.caller = Caller(
            g.principal,
            request.remote_addr or "",
            request.headers.get("User-Agent", ""),
            request.headers.get("X-Request-Id") or str(uuid.uuid4()),
        )
    return g.caller


def _params(securable_type: str, full_name: str) -> dict[str, str]:
    return {"securable_type": securable_type.lower(), "securable_full_name": full_name}


def _direct(securable_type: str, full_name: str) -> list[dict[str, object]]:
    ws = workspace()
    securable = ws.privileges.resolve(securable_type, full_name)
    ws.access.see(
        caller(), "getPermissions", securable.type, securable.full_name, _params(securable_type, full_name)
    )
    principal = request.args.get("principal")
    return [
        {"principal": grantee, "privileges": privileges}
        for grantee, privileges in sorted(ws.privileges.assignments(securable).items())
        if not principal or grantee.lower() == principal.lower()
    ]


def _effective(securable_type: str, full_name: str) -> list[dict[str, object]]:
    ws = workspace()
    securable = ws.privileges.resolve(securable_type, full_name)
    params = _params(securable_type, full_name)
    ws.access.see(caller(), "getEffectivePermissions", securable.type, securable.full_name, params)
    return ws.privileges.effective(securable, request.args.get("principal"))


@permissions_api.get("/permissions/<securable_type>/<full_name>")
def get_permissions(securable_type: str, full_name: str):
    return jsonify({"privilege_assignments": _direct(securable_type, full_name)})


@permissions_api.get("/privilege-assignments/<securable_type>/<full_name>")
def list_privilege_assignments(securable_type: str, full_name: str):
    return jsonify({"privilege_assignments": _direct(securable_type, full_name)})


@permissions_api.patch("/permissions/<securable_type>/<full_name>")
def update_permissions(securable_type: str, full_name: str):
    ws = workspace()
    data = body()
    changes = data.get("changes")
    if not isinstance(changes, list):
        raise invalid("changes must be a list of PermissionsChange objects.")
    securable = ws.privileges.resolve(securable_type, full_name)
    params = {**_params(securable_type, full_name), "changes": json.dumps(changes, sort_keys=True)}
    who = caller()
    current = ws.access.manage(
        who,
        "updatePermissions",
        securable,
        params,
        lambda: ws.privileges.update(securable, changes, grantor=who.principal),
    )
    if data.get("omit_permissions_in_response"):
        return jsonify({})
    assignments = [{"principal": p, "privileges": privileges} for p, privileges in sorted(current.items())]
    return jsonify({"privilege_assignments": assignments})


@permissions_api.get("/effective-permissions/<securable_type>/<full_name>")
def get_effective_permissions(securable_type: str, full_name: str):
    return jsonify({"privilege_assignments": _effective(securable_type, full_name)})


@permissions_api.get("/effective-privilege-assignments/<securable_type>/<full_name>")
def list_effective_privilege_assignments(securable_type: str, full_name: str):
    return jsonify({"effective_privilege_assignments": _effective(securable_type, full_name)})
