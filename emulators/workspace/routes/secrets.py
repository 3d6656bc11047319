"""Secrets 2.0 routes (``/api/2.0/secrets``): scopes, secrets and their ACLs (``/acls/put|get|list|delete``);
every call checked against the scope's ACLs and audited (``secret_acls.py``), values never in the audit."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify

from emulators.workspace.routes.common import arg, body, workspace
from emulators.workspace.routes.permissions import caller

secrets_api = Blueprint("secrets", __name__, url_prefix="/api/2.0/secrets")


def _run(action: str, params: dict[str, Any], apply, scope: Any = None, needed: str = "", writing=False):
    ws = workspace()
    check = None if scope is None else (lambda: ws.secrets.scope(scope, writing=writing))
    params = {k: v for k, v in params.items() if v is not None}
    return ws.secret_acls.run(caller(), action, params, apply, check, needed)


@secrets_api.post("/scopes/create")
def create_scope():
    ws, data = workspace(), body()

    def create() -> None:
        manager = ws.secret_acls.initial(caller().principal, data.get("initial_manage_principal"))
        ws.secret_acls.on_create(ws.secrets.create_scope(data, caller().principal), manager)

    _run("createScope", {"scope": data.get("scope"), "backend_type": data.get("scope_backend_type")}, create)
    return jsonify({})


@secrets_api.get("/scopes/list")
def list_scopes():
    scopes = _run("listScopes", {}, workspace().secrets.list_scopes)
    return jsonify({"scopes": scopes} if scopes else {})


@secrets_api.post("/scopes/delete")
def delete_scope():
    ws, scope = workspace(), body().get("scope")

    def delete() -> None:
        ws.secrets.delete_scope(scope)
        ws.secret_acls.on_delete(scope)

    _run("deleteScope", {"scope": scope}, delete, scope, "MANAGE")
    return jsonify({})


@secrets_api.post("/put")
def put_secret():
    data = body()
    params = {"scope": data.get("scope"), "key": data.get("key")}  # never the value
    _run("putSecret", params, lambda: workspace().secrets.put(data), data.get("scope"), "WRITE", True)
    return jsonify({})


@secrets_api.get("/get")
def get_secret():
    scope, key = arg("scope"), arg("key")
    found = _run(
        "getSecret", {"scope": scope, "key": key}, lambda: workspace().secrets.get(scope, key), scope, "READ"
    )
    return jsonify(found)


@secrets_api.get("/list")
def list_secrets():
    scope = arg("scope")
    secrets = _run("listSecrets", {"scope": scope}, lambda: workspace().secrets.list(scope), scope, "READ")
    return jsonify({"secrets": secrets} if secrets else {})


@secrets_api.post("/delete")
def delete_secret():
    data = body()
    params = {"scope": data.get("scope"), "key": data.get("key")}
    _run("deleteSecret", params, lambda: workspace().secrets.delete(data), data.get("scope"), "WRITE", True)
    return jsonify({})


# ACLs (MANAGE) ----------------------------------------------------------------------------------
@secrets_api.post("/acls/put")
def put_acl():
    data = body()
    scope = data.get("scope")
    params = {"scope": scope, "principal": data.get("principal"), "permission": data.get("permission")}
    apply = lambda: workspace().secret_acls.put(scope, data.get("principal"), data.get("permission"))  # noqa: E731
    _run("putAcl", params, apply, scope, "MANAGE")
    return jsonify({})


@secrets_api.get("/acls/get")
def get_acl():
    scope, principal = arg("scope"), arg("principal")
    apply = lambda: workspace().secret_acls.get(scope, principal)  # noqa: E731
    return jsonify(_run("getAcl", {"scope": scope, "principal": principal}, apply, scope, "MANAGE"))


@secrets_api.get("/acls/list")
def list_acls():
    scope = arg("scope")
    # databricks-sdk reads ``items`` (ListAclsResponse), as the REST reference's response schema names it
    items = _run("listAcls", {"scope": scope}, lambda: workspace().secret_acls.acls(scope), scope, "MANAGE")
    return jsonify({"items": items} if items else {})


@secrets_api.post("/acls/delete")
def delete_acl():
    data = body()
    scope, principal = data.get("scope"), data.get("principal")
    apply = lambda: workspace().secret_acls.delete(scope, principal)  # noqa: E731
    _run("deleteAcl", {"scope": scope, "principal": principal}, apply, scope, "MANAGE")
    return jsonify({})
