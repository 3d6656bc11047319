"""SCIM 2.0 (``/api/2.0/preview/scim/v2``: Users, Groups, ServicePrincipals, Me) and tokens
(``/api/2.0/token``, ``/api/2.0/token-management``), shaped as databricks-sdk's ``iam``/``settings`` types;
the model is ``principals.py``.

Who may write: workspace admins (the metastore admins and members of the ``admins`` group), as on
Databricks; any principal may read the directory and make or revoke its own tokens.
"""

from __future__ import annotations

from flask import Blueprint, g, jsonify, request

from emulators.workspace.principals import ScimError
from emulators.workspace.routes.common import body, workspace

scim_api = Blueprint("scim", __name__, url_prefix="/api/2.0/preview/scim/v2")
tokens_api = Blueprint("tokens", __name__, url_prefix="/api/2.0")

_RESOURCES = {"Users": "user", "Groups": "group", "ServicePrincipals": "service_principal"}


def _directory():
    return workspace().principals


def _require_admin() -> None:
    if not workspace().access.is_workspace_admin(g.principal):
        raise ScimError(
            403, "PERMISSION_DENIED", "Only workspace admins can change users, groups and service principals."
        )


def _count(name: str, default: int) -> int:
    try:
        return int(request.args.get(name) or default)
    except ValueError:
        raise ScimError(400, "INVALID_PARAMETER_VALUE", f"{name} must be an integer.") from None


def _resource_routes(resource: str, kind: str) -> None:
    def create():
        _require_admin()
        return jsonify(_directory().view(kind, _directory().create(kind, body()))), 201

    def listing():
        answer = _directory().list(
            kind, request.args.get("filter", ""), _count("startIndex", 1), _count("count", 10000)
        )
        return jsonify(answer)

    def get(ident: str):
        return jsonify(_directory().view(kind, _directory().get(kind, ident)))

    def patch(ident: str):
        _require_admin()
        return jsonify(_directory().view(kind, _directory().patch(kind, ident, body())))

    def replace(ident: str):
        _require_admin()
        return jsonify(_directory().view(kind, _directory().replace(kind, ident, body())))

    def delete(ident: str):
        _require_admin()
        _directory().delete(kind, ident)
        return "", 204

    for view, rule, method in (
        (create, "", "POST"),
        (listing, "", "GET"),
        (get, "/<ident>", "GET"),
        (patch, "/<ident>", "PATCH"),
        (replace, "/<ident>", "PUT"),
        (delete, "/<ident>", "DELETE"),
    ):
        scim_api.add_url_rule(
            f"/{resource}{rule}", endpoint=f"{kind}_{view.__name__}", view_func=view, methods=[method]
        )


for _resource, _kind in _RESOURCES.items():
    _resource_routes(_resource, _kind)


@scim_api.get("/Me")
def me():
    """The caller as a SCIM User (a service principal is answered in a User's shape, its ``userName`` the
    application id, as Databricks answers ``/Me`` for one)."""
    directory = _directory()
    record = directory.find(g.principal, "user")
    if record is not None:
        return jsonify(directory.view("user", record))
    record = directory.find(g.principal, "service_principal")
    if record is None:
        raise ScimError(404, "RESOURCE_DOES_NOT_EXIST", f"User {g.principal} not found.")
    view = directory.view("service_principal", record)
    view["userName"] = record["applicationId"]
    return jsonify(view)


# tokens (the caller's own) ----------------------------------------------------------------------
@tokens_api.post("/token/create")
def create_token():
    data = body()
    created = _directory().create_token(
        g.principal, data.get("comment"), data.get("lifetime_seconds"), created_by=g.principal
    )
    return jsonify(created)


@tokens_api.get("/token/list")
def list_tokens():
    return jsonify({"token_infos": _directory().tokens_of(g.principal)})


@tokens_api.post("/token/delete")
def delete_token():
    _directory().delete_token(g.principal, str(body().get("token_id") or ""))
    return jsonify({})


# token management (admins: tokens on behalf of service principals) --------------------------------
@tokens_api.post("/token-management/on-behalf-of/tokens")
def create_obo_token():
    """Databricks' "Create on-behalf token" (``w.token_management.create_obo_token``): a workspace admin
    makes a token for a service principal, named by its application id."""
    _require_admin()
    data = body()
    application_id = str(data.get("application_id") or "")
    directory = _directory()
    if directory.find(application_id, "service_principal") is None:
        raise ScimError(404, "RESOURCE_DOES_NOT_EXIST", f"Service principal {application_id} not found.")
    created = directory.create_token(
        application_id, data.get("comment"), data.get("lifetime_seconds"), created_by=g.principal
    )
    created["token_info"] = {
        **created["token_info"],
        "owner_id": int(directory.find(application_id)["id"]),
        "created_by_username": g.principal,
    }
    return jsonify(created)


@tokens_api.delete("/token-management/tokens/<token_id>")
def delete_any_token(token_id: str):
    _require_admin()
    _directory().delete_token(None, token_id)
    return jsonify({})
