"""The Functions host stand-in with the repository's real function_app.py."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

from emulators.common.serving import serve_in_thread
from emulators.functions_host.app_index import load_functions
from emulators.functions_host.server import create_app

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def host():
    app = create_app(ROOT, ["secret-function-key"], settings={"CLIMATELAKE_RECOVERY_SCHEDULE": "0 0 0 1 1 *"})
    server, thread = serve_in_thread(app)
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=5)
    app.extensions["functions_host"].stop()  # its timer listener (recover_requests) must not outlive it


def test_indexes_the_real_app_like_the_worker():
    functions = load_functions(ROOT)
    assert functions["on_manifest_created"].trigger_type == "eventGridTrigger"
    assert functions["job_events"].trigger_type == "httpTrigger"
    assert functions["job_events"].route == "job-events" and functions["job_events"].methods == ("POST",)
    assert functions["job_events"].auth_level == "function"
    assert functions["recover_requests"].trigger_type == "timerTrigger"
    assert functions["recover_requests"].trigger["schedule"] == "%CLIMATELAKE_RECOVERY_SCHEDULE%"


def test_host_status_lists_the_functions(host: str):
    assert requests.get(f"{host}/admin/host/status", timeout=5).json() == {
        "state": "Running",
        "functions": ["job_events", "on_manifest_created", "recover_requests"],
    }


def test_event_grid_subscription_validation_handshake(host: str):
    answer = requests.post(
        f"{host}/runtime/webhooks/EventGrid?functionName=on_manifest_created",
        timeout=5,
        headers={"aeg-event-type": "SubscriptionValidation"},
        json=[
            {
                "id": "1",
                "topic": "t",
                "subject": "",
                "eventTime": "2026-01-01T00:00:00Z",
                "eventType": "Microsoft.EventGrid.SubscriptionValidationEvent",
                "dataVersion": "2",
                "data": {"validationCode": "512d38b6-c7b8-40c8-89fe-f46f9e9622b6"},
            }
        ],
    )
    assert answer.json() == {"validationResponse": "512d38b6-c7b8-40c8-89fe-f46f9e9622b6"}


def test_http_trigger_needs_the_function_key(host: str):
    url = f"{host}/api/job-events"
    assert requests.post(url, json={}, timeout=5).status_code == 401
    assert requests.post(url, json={}, headers={"x-functions-key": "wrong"}, timeout=5).status_code == 401
    # With the key, the function runs and rejects a body that is not a job notification.
    answer = requests.post(f"{url}?code=secret-function-key", json={"hello": 1}, timeout=5)
    assert answer.status_code == 400 and "notification" in answer.json()["error"]
    assert requests.get(f"{url}?code=secret-function-key", timeout=5).status_code == 405


def test_unknown_function_is_404(host: str):
    assert (
        requests.post(f"{host}/runtime/webhooks/EventGrid?functionName=nope", json=[], timeout=5).status_code
        == 404
    )
