"""Secrets 2.0 routes (``/api/2.0/secrets``); ACLs are not served."""

from __future__ import annotations

from flask import Blueprint, g, jsonify

from emulators.workspace.routes.common import arg, body, workspace

secrets_api = Blueprint("secrets", __name__, url_prefix="/api/2.0/secrets")


def _secrets():
    return workspace().secrets


@secrets_api.post("/scopes/create")
def create_scope():
    _secrets().create_scope(body(), g.principal)
    return jsonify({})


@secrets_api.get("/scopes/list")
def list_scopes():
    scopes = _secrets().list_scopes()
    return jsonify({"scopes": scopes} if scopes else {})


@secrets_api.post("/scopes/delete")
def delete_scope():
    _secrets().delete_scope(body().get("scope"))
    return jsonify({})


@secrets_api.post("/put")
def put_secret():
    _secrets().put(body())
    return jsonify({})


@secrets_api.get("/get")
def get_secret():
    return jsonify(_secrets().get(arg("scope"), arg("key")))


@secrets_api.get("/list")
def list_secrets():
    secrets = _secrets().list(arg("scope"))
    return jsonify({"secrets": secrets} if secrets else {})


@secrets_api.post("/delete")
def delete_secret():
    _secrets().delete(body())
    return jsonify({})
