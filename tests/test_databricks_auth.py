"""The apps' Databricks sign-in as a managed identity (climatelake/databricks_auth.py), with the real
azure-identity and databricks-sdk: the identity endpoint and the workspace are local HTTP servers that record
what they are sent, since neither Azure's managed-identity service nor Azure Databricks runs here.

The endpoint answers as Azure App Service and Container Apps document theirs (``IDENTITY_ENDPOINT`` and
``IDENTITY_HEADER`` in the app's environment; ``GET ?api-version=2019-08-01&resource=…&client_id=…`` with the
``X-IDENTITY-HEADER`` header; a JSON token with ``expires_on`` in epoch seconds:
learn.microsoft.com/azure/app-service/overview-managed-identity#rest-endpoint-reference,
learn.microsoft.com/azure/container-apps/managed-identity#rest-endpoint-reference).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from climatelake import databricks_auth

CLIENT_ID = "0f3c2b1a-9d8e-4f70-a6b5-c4d3e2f1a0b9"
IDENTITY_HEADER = "identity-header-of-the-test"
DATABRICKS_RESOURCE = "2ff814a6-3304-4ab8-85cb-cd0e6f879c1d"


@dataclass
class Recorder:
    """The identity endpoint (``/msi/token``) and the workspace (anything else) in one server."""

    lifetime: int = 3600
    tokens: list[dict] = field(default_factory=list)
    workspace: list[dict] = field(default_factory=list)
    url: str = ""

    def handler(self):
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                seen = {"path": parts.path, "query": parse_qs(parts.query), "headers": dict(self.headers)}
                if parts.path == "/msi/token":
                    recorder.tokens.append(seen)
                    number = len(recorder.tokens)
                    body = {
                        "access_token": f"entra-token-{number}",
                        "expires_on": str(int(time.time()) + recorder.lifetime),
                        "resource": seen["query"]["resource"][0],
                        "token_type": "Bearer",
                        "client_id": seen["query"].get("client_id", [""])[0],
                    }
                elif parts.path == "/api/2.0/preview/scim/v2/Me":
                    recorder.workspace.append(seen)
                    body = {"id": "1", "userName": CLIENT_ID, "displayName": "climatelake-gateway"}
                else:  # the SDK's host metadata probe, and anything unexpected
                    recorder.workspace.append(seen)
                    self.send_error(404)
                    return
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args) -> None:
                pass

        return Handler

    def me_requests(self) -> list[dict]:
        return [r for r in self.workspace if r["path"].endswith("/Me")]


@pytest.fixture()
def recorder(monkeypatch: pytest.MonkeyPatch) -> Iterator[Recorder]:
    recorder = Recorder()
    server = ThreadingHTTPServer(("127.0.0.1", 0), recorder.handler())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    recorder.url = f"http://127.0.0.1:{server.server_address[1]}"
    for name in (
        "DATABRICKS_TOKEN",
        "DATABRICKS_HOST",
        "DATABRICKS_CONFIG_PROFILE",
        "MSI_ENDPOINT",
        "IMDS_ENDPOINT",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("IDENTITY_SERVER_THUMBPRINT", raising=False)
    monkeypatch.setenv("IDENTITY_ENDPOINT", f"{recorder.url}/msi/token")
    monkeypatch.setenv("IDENTITY_HEADER", IDENTITY_HEADER)
    yield recorder
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def _app_env(recorder: Recorder) -> dict[str, str]:
    """What infra/modules/containerapp.bicep and functionapp.bicep give an app."""
    return {"ARM_USE_MSI": "true", "ARM_CLIENT_ID": CLIENT_ID, "DATABRICKS_HOST": recorder.url}


def test_an_app_signs_in_as_its_managed_identity(recorder: Recorder) -> None:
    w = databricks_auth.workspace_client(_app_env(recorder))
    assert w.config.auth_type == "azure-msi"
    assert w.current_user.me().user_name == CLIENT_ID
    (token_request,) = recorder.tokens
    assert token_request["query"] == {
        "api-version": ["2019-08-01"],
        "resource": [DATABRICKS_RESOURCE],
        "client_id": [CLIENT_ID],
    }
    assert token_request["headers"]["X-IDENTITY-HEADER"] == IDENTITY_HEADER
    (me,) = recorder.me_requests()
    assert me["headers"]["Authorization"] == "Bearer entra-token-1"
    # the token is kept while it is fresh: more calls, no second token request
    w.current_user.me()
    w.current_user.me()
    assert len(recorder.tokens) == 1
    assert [r["headers"]["Authorization"] for r in recorder.me_requests()] == ["Bearer entra-token-1"] * 3


def test_a_token_near_its_end_is_renewed(recorder: Recorder) -> None:
    """azure-identity renews a token within its refresh window (5 minutes before it ends), so an app that
    stays up past a token's hour keeps signing in (here the endpoint hands out 2-minute tokens)."""
    recorder.lifetime = 120
    w = databricks_auth.workspace_client(_app_env(recorder))
    w.current_user.me()
    w.current_user.me()
    assert len(recorder.tokens) == 2
    assert [r["headers"]["Authorization"] for r in recorder.me_requests()] == [
        "Bearer entra-token-1",
        "Bearer entra-token-2",
    ]


def test_incomplete_or_conflicting_settings_are_refused_with_the_names(recorder: Recorder) -> None:
    env = _app_env(recorder)
    with pytest.raises(ValueError, match="needs ARM_CLIENT_ID"):
        databricks_auth.workspace_client({**env, "ARM_CLIENT_ID": ""})
    with pytest.raises(ValueError, match="needs DATABRICKS_HOST and ARM_CLIENT_ID"):
        databricks_auth.workspace_client({"ARM_USE_MSI": "true"})
    with pytest.raises(ValueError, match="ARM_USE_MSI=true and DATABRICKS_TOKEN are both set"):
        databricks_auth.workspace_client({**env, "DATABRICKS_TOKEN": "dapi-local"})
    assert recorder.tokens == [] and recorder.workspace == []


def test_without_ARM_USE_MSI_the_sdk_chain_applies(
    recorder: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Locally (and for the CLI) the SDK's own chain: a token in DATABRICKS_TOKEN, no identity endpoint."""
    monkeypatch.setenv("DATABRICKS_HOST", recorder.url)
    monkeypatch.setenv("DATABRICKS_TOKEN", "local-token")
    w = databricks_auth.workspace_client({"ARM_USE_MSI": "false"})
    w.current_user.me()
    assert w.config.auth_type == "pat"
    assert recorder.me_requests()[0]["headers"]["Authorization"] == "Bearer local-token"
    assert recorder.tokens == []
