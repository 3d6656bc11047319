"""Entra ID-style JWT bearer tokens, signed with locally generated RSA keys served as a JWKS."""

from __future__ import annotations

import datetime as dt
import json

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from flask import Flask, jsonify

from emulators.common.serving import serve_in_thread
from flask_gateway import create_app
from tests.conftest import LocalStack

pytestmark = pytest.mark.stack
ISSUER = "https://login.example.test/tenant-1/v2.0"
AUDIENCE = "api://climatelake"


@pytest.fixture(scope="module")
def signing_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def jwks_url(signing_key):
    public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(signing_key.public_key()))
    app = Flask("jwks")

    @app.get("/keys")
    def keys():
        return jsonify({"keys": [{**public, "kid": "k1", "use": "sig", "alg": "RS256"}]})

    server, thread = serve_in_thread(app)
    yield f"http://127.0.0.1:{server.server_port}/keys"
    server.shutdown()
    thread.join(timeout=5)


@pytest.fixture(scope="module")
def client(local_stack: LocalStack, jwks_url):
    with pytest.MonkeyPatch.context() as patch:
        for name, value in local_stack.stack.env.items():
            patch.setenv(name, value)
        app = create_app(
            local_stack.stack.settings(), JWT_ISSUER=ISSUER, JWT_AUDIENCE=AUDIENCE, JWT_JWKS_URL=jwks_url
        )
        yield app.test_client()


def token(key, **overrides) -> str:
    now = dt.datetime.now(dt.UTC)
    claims = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "user-1",
        "oid": "0000-oid",
        "iat": now,
        "nbf": now,
        "exp": now + dt.timedelta(minutes=5),
        "roles": ["climatelake.reader"],
        **overrides,
    }
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": "k1"})


def call(client, bearer: str, path: str = "/v1/cities"):
    return client.get(path, headers={"Authorization": f"Bearer {bearer}"})


def test_a_valid_token_with_a_role_is_accepted(client, signing_key):
    assert call(client, token(signing_key)).status_code == 200


def test_roles_claim_decides_what_is_allowed(client, signing_key):
    reader = token(signing_key)
    answer = client.post("/v1/requests", json={}, headers={"Authorization": f"Bearer {reader}"})
    assert answer.status_code == 403
    submitter = token(signing_key, roles=["submitter"])
    answer = client.post("/v1/requests", json={}, headers={"Authorization": f"Bearer {submitter}"})
    assert answer.status_code == 400  # allowed; the empty body is what is wrong
    assert call(client, token(signing_key, roles=[])).status_code == 403


@pytest.mark.parametrize(
    "overrides",
    [
        {"exp": dt.datetime(2020, 1, 1, tzinfo=dt.UTC)},
        {"aud": "api://someone-else"},
        {"iss": "https://evil.example/"},
    ],
)
def test_expired_or_foreign_tokens_are_refused(client, signing_key, overrides):
    assert call(client, token(signing_key, **overrides)).status_code == 401


def test_a_token_signed_by_another_key_is_refused(client):
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assert call(client, token(stranger)).status_code == 401
    unsigned = jwt.encode(
        {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": "x",
            "roles": ["admin"],
            "exp": dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5),
        },
        key=None,
        algorithm="none",
    )
    assert call(client, unsigned).status_code == 401
