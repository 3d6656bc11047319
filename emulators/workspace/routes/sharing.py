"""Delta Sharing provider routes as Databricks serves them under ``/api/2.1/unity-catalog``: shares (with
their data objects and permissions), recipients (tokens, rotation, share permissions) and the public
activation endpoints a recipient opens without any workspace credential. Shapes follow databricks-sdk's
``service/sharing.py`` (``w.shares``, ``w.recipients``, ``w.recipient_activation``)."""

from __future__ import annotations

import json

from flask import Blueprint, g, jsonify, request

from emulators.workspace.errors import ApiError
from emulators.workspace.routes.common import body, flag, page, workspace
from emulators.workspace.routes.permissions import caller

sharing_api = Blueprint("sharing", __name__, url_prefix="/api/2.1/unity-catalog")


def _sharing():
    return workspace().sharing


@sharing_api.before_app_request
def _learn_host_url():
    """Activation links and profile endpoints need the workspace's URL; an in-process workspace on a free
    port has none configured, so the first request tells it."""
    sharing = workspace().sharing
    if not sharing.host_url:
        sharing.host_url = request.host_url.rstrip("/")


# shares -----------------------------------------------------------------------------------------
@sharing_api.post("/shares")
def create_share():
    return jsonify(_sharing().create_share(body(), g.principal))


@sharing_api.get("/shares")
def list_shares():
    return jsonify(page(_sharing().list_shares(), "shares", "shares", lambda s: s["name"]))


@sharing_api.get("/shares/<name>")
def get_share(name: str):
    include = request.args.get("include_shared_data")
    return jsonify(_sharing().get_share(name, include is None or flag("include_shared_data")))


@sharing_api.patch("/shares/<name>")
def update_share(name: str):
    ws, data = workspace(), body()
    share = ws.privileges.resolve("SHARE", name)
    added, updates = [], data.get("updates")
    for update in updates if isinstance(updates, list) else []:
        data_object = (update or {}).get("data_object") or {}
        if str((update or {}).get("action") or "").upper() == "ADD" and data_object.get("name"):
            try:
                added.append(ws.privileges.resolve("TABLE", str(data_object["name"])))
            except ApiError:
                pass  # not a table in the catalog: update_share answers TABLE_DOES_NOT_EXIST (or invalid)
    params = {"name_arg": name, "updates": json.dumps(updates, sort_keys=True)}
    owner = str(data.get("owner") or share.owner or "")
    apply = lambda: ws.sharing.update_share(name, data, g.principal)  # noqa: E731
    return jsonify(ws.access.update_share(caller(), share, owner, added, params, apply))


@sharing_api.delete("/shares/<name>")
def delete_share(name: str):
    _sharing().delete_share(name)
    return jsonify({})


@sharing_api.get("/shares/<name>/permissions")
def share_permissions(name: str):
    return jsonify(_sharing().share_permissions(name))


@sharing_api.patch("/shares/<name>/permissions")
def update_share_permissions(name: str):
    return jsonify(_sharing().update_share_permissions(name, body()))


# recipients -------------------------------------------------------------------------------------
@sharing_api.post("/recipients")
def create_recipient():
    return jsonify(_sharing().create_recipient(body(), g.principal))


@sharing_api.get("/recipients")
def list_recipients():
    return jsonify(page(_sharing().list_recipients(), "recipients", "recipients", lambda r: r["name"]))


@sharing_api.get("/recipients/<name>")
def get_recipient(name: str):
    return jsonify(_sharing().get_recipient(name))


@sharing_api.patch("/recipients/<name>")
def update_recipient(name: str):
    return jsonify(_sharing().update_recipient(name, body(), g.principal))


@sharing_api.delete("/recipients/<name>")
def delete_recipient(name: str):
    _sharing().delete_recipient(name)
    return jsonify({})


@sharing_api.post("/recipients/<name>/rotate-token")
def rotate_token(name: str):
    seconds = body().get("existing_token_expire_in_seconds")
    return jsonify(_sharing().rotate_token(name, seconds, g.principal))


@sharing_api.get("/recipients/<name>/share-permissions")
def recipient_share_permissions(name: str):
    return jsonify(_sharing().recipient_share_permissions(name))


# public activation (no workspace token: server.py lets /public/ through) ---------------------------
def _code(activation_url: str) -> str:
    """The activation code, from the code itself or from a whole activation link."""
    if "retrieve_config.html" in activation_url:
        return request.query_string.decode() or activation_url.rsplit("?", 1)[-1]
    return activation_url.rsplit("?", 1)[-1]


@sharing_api.get("/public/data_sharing_activation_info/<path:activation_url>")
def activation_info(activation_url: str):
    return jsonify(_sharing().activation_info(_code(activation_url)))


@sharing_api.get("/public/data_sharing_activation/<path:activation_url>")
def retrieve_token(activation_url: str):
    return jsonify(_sharing().retrieve_token(_code(activation_url)))
