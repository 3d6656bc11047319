"""The Key Vault key provider through the real azure-keyvault-secrets client, on the wire.

Key Vault cannot run here and the SDK refuses bearer tokens over plain http ("Bearer token authentication is
not permitted for non-TLS protected (non-https) URLs"), so no local http fake can stand in. The client runs
unchanged down to its transport; the transport below is a fake vault that checks each request exactly as
Key Vault receives it (method, path ``/secrets/<name>/<version>``, ``api-version``, the bearer token after
the authentication challenge) and answers in Key Vault's shapes. The credential is a fixed token: what
DefaultAzureCredential would hand over."""

from __future__ import annotations

import io
import json
import logging
import time
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from azure.core.credentials import AccessToken, AccessTokenInfo
from azure.core.pipeline.transport import HttpTransport
from azure.core.rest._requests_basic import RestRequestsTransportResponse

from climatelake import pii

VAULT = "https://climatelake-kv.vault.azure.net"
TOKEN = "kv-token-" + "x" * 16
API_VERSION = "2026-04-01"  # azure-keyvault-secrets 4.12's default


class FixedToken:
    """A token credential, as DefaultAzureCredential is one; records the scopes asked for."""

    def __init__(self) -> None:
        self.scopes: list[tuple[str, ...]] = []

    def get_token(self, *scopes: str, **kwargs) -> AccessToken:
        self.scopes.append(scopes)
        return AccessToken(TOKEN, int(time.time()) + 3600)

    def get_token_info(self, *scopes: str, options=None) -> AccessTokenInfo:
        self.scopes.append(scopes)
        return AccessTokenInfo(TOKEN, int(time.time()) + 3600)


class FakeVault(HttpTransport):
    """Key Vault's secrets API over the SDK's transport interface: versions per secret, 401 challenge
    without a token, 404 SecretNotFound, every request recorded as (method, path, api-version, auth)."""

    def __init__(self) -> None:
        self.secrets: dict[str, list[tuple[str, str]]] = {}  # name → [(version id, value)]
        self.log: list[tuple[str, str, str, str | None]] = []

    def __enter__(self):
        return self

    def __exit__(self, *args) -> None:
        pass

    def open(self) -> None:
        pass

    def close(self) -> None:
        pass

    def send(self, request, **kwargs):
        url = urlsplit(request.url)
        assert f"{url.scheme}://{url.netloc}" == VAULT
        auth = request.headers.get("Authorization")
        self.log.append((request.method, url.path, parse_qs(url.query)["api-version"][0], auth))
        if auth is None:  # Key Vault's challenge: the client learns the tenant and scope, then retries
            return self._answer(
                request,
                401,
                b"",
                {
                    "WWW-Authenticate": 'Bearer authorization="https://login.microsoftonline.com/tenant-1", '
                    'resource="https://vault.azure.net"'
                },
            )
        assert auth == f"Bearer {TOKEN}"
        parts = url.path.strip("/").split("/")
        assert parts[0] == "secrets"
        name = parts[1]
        if request.method == "PUT":
            body = json.loads(request.content)
            version = f"v{len(self.secrets.get(name, [])) + 1:032d}"
            self.secrets.setdefault(name, []).append((version, body["value"]))
            return self._bundle(request, name, version, body["value"])
        assert request.method == "GET"
        versions = self.secrets.get(name)
        wanted = parts[2] if len(parts) > 2 and parts[2] else None
        match = [v for v in versions or [] if wanted in (None, v[0])]
        if not match:
            error = {
                "error": {
                    "code": "SecretNotFound",
                    "message": f"A secret with (name/id) {name} was not found",
                }
            }
            return self._answer(request, 404, json.dumps(error).encode())
        version, value = match[-1]
        return self._bundle(request, name, version, value)

    def _bundle(self, request, name: str, version: str, value: str):
        bundle = {"value": value, "id": f"{VAULT}/secrets/{name}/{version}", "attributes": {"enabled": True}}
        return self._answer(request, 200, json.dumps(bundle).encode())

    @staticmethod
    def _answer(request, status: int, body: bytes, headers: dict[str, str] | None = None):
        response = requests.Response()
        response.status_code = status
        response.headers.update({"Content-Type": "application/json", **(headers or {})})
        response.raw = io.BytesIO(body)
        response.request = request
        return RestRequestsTransportResponse(request=request, internal_response=response)


@pytest.fixture()
def vault() -> FakeVault:
    fake = FakeVault()
    fake.secrets = {
        "pii-key-v1": [("a" * 32, pii.encode_key(pii.new_key()))],
        "pii-key-v2": [("b" * 32, pii.encode_key(pii.new_key()))],
        "pii-key-current": [("c" * 32, "2")],
        "pii-token-key": [("d" * 32, pii.encode_key(pii.new_key()))],
    }
    return fake


def test_keys_come_from_key_vault_with_the_exact_wire_requests(vault: FakeVault, caplog):
    credential = FixedToken()
    caplog.set_level(logging.DEBUG)
    provider = pii.KeyVaultKeys(VAULT, credential, transport=vault)
    keys = provider.keys()
    assert keys.version == "2"
    assert keys.encryption == pii.decode_key(vault.secrets["pii-key-v2"][0][1])
    assert keys.search == pii.decode_key(vault.secrets["pii-token-key"][0][1])
    assert provider.keys("1").encryption == pii.decode_key(vault.secrets["pii-key-v1"][0][1])
    assert vault.log == [
        ("GET", "/secrets/pii-key-current/", API_VERSION, None),  # unauthenticated: the challenge
        ("GET", "/secrets/pii-key-current/", API_VERSION, f"Bearer {TOKEN}"),
        ("GET", "/secrets/pii-key-v2/", API_VERSION, f"Bearer {TOKEN}"),
        ("GET", "/secrets/pii-token-key/", API_VERSION, f"Bearer {TOKEN}"),
        ("GET", "/secrets/pii-key-v1/", API_VERSION, f"Bearer {TOKEN}"),
        ("GET", "/secrets/pii-token-key/", API_VERSION, f"Bearer {TOKEN}"),
    ]
    assert credential.scopes == [("https://vault.azure.net/.default",)]  # the scope the challenge named
    assert repr(keys) == "PiiKeys(version='2')"  # key bytes never reach a log line through a repr
    logged = caplog.text
    assert not any(v[0][1] in logged for v in vault.secrets.values() if len(v[0][1]) > 8)


def test_a_missing_version_is_a_clear_error(vault: FakeVault):
    provider = pii.KeyVaultKeys(VAULT, FixedToken(), transport=vault)
    with pytest.raises(LookupError, match="no PII encryption key of version 7"):
        provider.keys("7")
    assert vault.log[-1][:2] == ("GET", "/secrets/pii-key-v7/")


def test_rotation_stores_a_new_version_and_moves_the_pointer(vault: FakeVault):
    provider = pii.KeyVaultKeys(VAULT, FixedToken(), transport=vault)
    assert provider.add_version() == "3"
    puts = [(m, p) for m, p, _, auth in vault.log if m == "PUT"]
    assert puts == [("PUT", "/secrets/pii-key-v3"), ("PUT", "/secrets/pii-key-current")]
    assert vault.secrets["pii-key-current"][-1][1] == "3"
    assert provider.keys().version == "3"
    assert provider.keys().encryption == pii.decode_key(vault.secrets["pii-key-v3"][0][1])


def test_configuration_chooses_the_provider(tmp_path, monkeypatch):
    # no Azure login on this machine: DefaultAzureCredential is only constructed, never asked for a token
    chosen = pii.provider_from_env(
        {"CLIMATELAKE_PII_KEY_PROVIDER": "keyvault", "CLIMATELAKE_PII_KEYVAULT_URL": VAULT}
    )
    assert isinstance(chosen, pii.KeyVaultKeys) and chosen.client.vault_url == VAULT
    with pytest.raises(ValueError, match="CLIMATELAKE_PII_KEYVAULT_URL"):
        pii.provider_from_env({"CLIMATELAKE_PII_KEY_PROVIDER": "keyvault"})
    path = tmp_path / "pii.keys"
    pii.KeyFileKeys.create(path)
    chosen = pii.provider_from_env(
        {"CLIMATELAKE_PII_KEY_PROVIDER": "file", "CLIMATELAKE_PII_KEY_FILE": str(path)}
    )
    assert isinstance(chosen, pii.KeyFileKeys)
    workspace = object()
    chosen = pii.provider_from_env({}, workspace=workspace)
    assert (
        isinstance(chosen, pii.WorkspaceSecretsKeys)
        and chosen.w is workspace
        and chosen.scope == "climatelake"
    )
    with pytest.raises(ValueError, match="workspace, keyvault, file"):
        pii.provider_from_env({"CLIMATELAKE_PII_KEY_PROVIDER": "vault"})
