"""The `climatelake` command against the local stack: keys, SQL files, event subscriptions, clear errors."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from azure.core.credentials import AzureKeyCredential
from azure.eventgrid import EventGridEvent, EventGridPublisherClient

from tests.conftest import LocalStack

pytestmark = pytest.mark.stack
ROOT = Path(__file__).resolve().parent.parent


def cli(local_stack: LocalStack, *args: str, **extra_env: str) -> subprocess.CompletedProcess:
    env = {**os.environ, **local_stack.stack.env, **extra_env}
    return subprocess.run(
        [sys.executable, "-m", "climatelake.cli", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_keys_create_list_revoke(local_stack: LocalStack):
    made = cli(local_stack, "keys", "create", "--role", "reader", "--name", "cli test")
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip()
    assert key.startswith("clk_") and "cannot be shown again" in made.stderr
    key_id = key.split("_")[1]
    gateway = local_stack.gateway_url
    assert local_stack.gateway.get(f"{gateway}/v1/cities", headers={"Authorization": f"Bearer {key}"}).ok
    listed = cli(local_stack, "keys", "list")
    assert key_id in listed.stdout and key.split("_", 2)[2] not in listed.stdout
    assert cli(local_stack, "keys", "revoke", key_id).returncode == 0
    assert f"{key_id}  reader      revoked" in cli(local_stack, "keys", "list").stdout


def test_sql_run_executes_a_file_through_the_statements_api(local_stack: LocalStack, tmp_path: Path):
    schema = f"cli_{uuid.uuid4().hex[:8]}"
    script = tmp_path / "demo.sql"
    script.write_text(
        f"CREATE SCHEMA IF NOT EXISTS ${{catalog}}.{schema};\n"
        f"CREATE TABLE ${{catalog}}.{schema}.t AS SELECT 1 AS one;\n"
        f"SELECT one FROM ${{catalog}}.{schema}.t;\n"
    )
    done = cli(local_stack, "sql", "run", str(script))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1].endswith("1 rows")
    broken = tmp_path / "broken.sql"
    broken.write_text("SELECT * FROM no_such_catalog.nope.nothing;")
    failed = cli(local_stack, "sql", "run", str(broken))
    assert failed.returncode == 2 and failed.stderr.startswith("climatelake: error:")
    assert "Traceback" not in failed.stderr


def test_events_subscribe_list_unsubscribe(local_stack: LocalStack, event_sink):
    arm = {"CLIMATELAKE_ARM_URL": local_stack.stack.url("eventgrid")}
    name = f"cli-{uuid.uuid4().hex[:8]}"
    made = cli(
        local_stack,
        "events",
        "subscribe",
        "--name",
        name,
        "--endpoint",
        event_sink.url,
        "--types",
        "Climatelake.Test.Ping",
        **arm,
    )
    assert made.returncode == 0, made.stderr
    assert name in cli(local_stack, "events", "list", **arm).stdout
    client = EventGridPublisherClient(
        local_stack.stack.env["CLIMATELAKE_EVENTGRID_TOPIC_ENDPOINT"],
        AzureKeyCredential(local_stack.stack.topic_key),
    )
    client.send(
        EventGridEvent(subject="/cli", event_type="Climatelake.Test.Ping", data={"n": name}, data_version="1")
    )
    assert event_sink.wait_for(lambda e: e.get("data", {}).get("n") == name, timeout=30)["subject"] == "/cli"
    assert cli(local_stack, "events", "unsubscribe", "--name", name, **arm).returncode == 0
    assert name not in cli(local_stack, "events", "list", **arm).stdout


def test_bad_input_gives_a_message_not_a_trace(local_stack: LocalStack):
    done = cli(local_stack, "keys", "revoke", "000000000000")
    assert done.returncode == 2 and "no key with id" in done.stderr and "Traceback" not in done.stderr
    usage = cli(local_stack, "data", "generate", "--start", "yesterday", "--out", "/tmp/x")
    assert usage.returncode == 2 and "is not a date" in usage.stderr


def test_local_deploy_is_unchanged_and_idempotent(local_stack: LocalStack):
    """`climatelake deploy` (the local target, the default) still deploys the bundle to the stand-in: the
    same job ids on a second run; --plan belongs to --target azure only."""
    first = cli(local_stack, "deploy")
    assert first.returncode == 0, first.stderr
    assert "climatelake_employees: job" in first.stdout and "climatelake_weather_request: job" in first.stdout
    again = cli(local_stack, "deploy", "--target", "local")
    assert again.returncode == 0 and again.stdout == first.stdout
    plan = cli(local_stack, "deploy", "--plan")
    assert plan.returncode == 2 and "--plan is for --target azure" in plan.stderr
