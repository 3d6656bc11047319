"""Key rotation on the local stack: ``climatelake pii rotate --new-key`` re-encrypts silver.employees to a new
key version in one Delta commit; the table stays readable throughout; a second rotate is a no-op; the old key
can then be retired (deleted) and everything still works."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest
from azure.storage.blob import BlobServiceClient

from climatelake import bundle, cli, employees, pii
from climatelake.bootstrap import prepare_storage, run_job
from climatelake.lake import storage_options, table_snapshot
from climatelake.settings import AZURITE_ACCOUNT
from emulators.stack import Stack

pytestmark = pytest.mark.stack
TABLE = "climatelake.silver.employees"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    stack = Stack(Path(tmp_path_factory.mktemp("rotation")), in_memory=True)
    try:
        stack.start(only=("azurite", "sail", "workspace"))
        settings, w = stack.settings(), stack.workspace_client()
        prepare_storage(settings)
        bundle.deploy(w, "local", {"storage_account": settings.storage_account})
        # the deploy made the scope (the bundle's secret_scopes) with the jobs' and gateway's ACLs
        # a scope from before versioned names: `pii-key` is version 1
        w.secrets.put_secret("climatelake", "pii-key", string_value=pii.encode_key(pii.new_key()))
        w.secrets.put_secret("climatelake", "pii-token-key", string_value=pii.encode_key(pii.new_key()))
        raw = BlobServiceClient.from_connection_string(stack.connection_string).get_container_client("raw")
        raw.upload_blob("employees/batch-1.csv", employees.rows_to_csv(employees.generate_employees(200)))
        run_job(
            w,
            "climatelake_employees",
            timeout=dt.timedelta(minutes=5),
            raw_blob_endpoint=f"{stack.url('blob')}/{AZURITE_ACCOUNT}",
        )
        yield stack
    finally:
        stack.stop()


def plaintexts(stack: Stack, provider: pii.KeyProvider) -> tuple[dict, set[str]]:
    """{employee_id: (email, phone, salary)} decrypted with each row's own key version; the versions."""
    location = stack.workspace_client().tables.get(TABLE).storage_location
    table = pl.scan_delta(location, storage_options=storage_options(stack.settings())).collect()
    keys = {v: provider.keys(v).encryption for v in table["pii_key_version"].unique()}
    values = {
        r["employee_id"]: tuple(
            pii.decrypt(r[c], keys[r["pii_key_version"]]) for c in ("email", "phone", "salary")
        )
        for r in table.iter_rows(named=True)
    }
    return values, set(table["pii_key_version"].unique())


def gateway_view(stack: Stack, monkeypatch: pytest.MonkeyPatch):
    """A running gateway (in process) and a pii_reader key: what it serves of employee 1, and the Delta
    version its employees snapshot holds."""
    from climatelake.keys import ApiKeyStore
    from flask_gateway import create_app

    for name, value in stack.env.items():
        monkeypatch.setenv(name, value)
    key = ApiKeyStore(stack.connection_string).create("pii_reader", "rotation test")[0]
    app = create_app(stack.settings(), TESTING=True)
    client = app.test_client()

    def view() -> tuple[dict, int]:
        answer = client.get("/v1/employees/1", headers={"Authorization": f"Bearer {key}"})
        assert answer.status_code == 200, answer.get_json()
        return answer.get_json(), app.extensions["employees_table"]["table"].frame()[1]

    return view


def wait_for(check, timeout: float = 30.0) -> bool:
    """The gateway re-checks the table's version every 2 s: poll until ``check()`` holds."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def cli_run(stack: Stack, monkeypatch: pytest.MonkeyPatch, capsys, *argv: str) -> str:
    for name, value in stack.env.items():
        monkeypatch.setenv(name, value)
    assert cli.main(list(argv)) == 0, capsys.readouterr().err
    return capsys.readouterr().out


def test_rotation_reencrypts_in_one_commit_readable_throughout_then_noop(stack, monkeypatch, capsys):
    w, settings = stack.workspace_client(), stack.settings()
    provider = pii.WorkspaceSecretsKeys(w)
    before, versions = plaintexts(stack, provider)
    assert versions == {"1"} and len(before) == 200
    start = table_snapshot(w, settings, TABLE)
    gateway = gateway_view(stack, monkeypatch)
    served, _ = gateway()
    assert (served["email"], served["phone"]) == before[1][:2]

    # readers decrypt with each row's version all along: poll the table while the rotation runs
    seen: list[set[str]] = []
    errors: list[BaseException] = []
    done = threading.Event()

    def read_while_rotating() -> None:
        while not done.is_set():
            try:
                values, versions = plaintexts(stack, provider)
                assert values == before
                seen.append(versions)
            except BaseException as error:  # noqa: BLE001 - reported by the test
                errors.append(error)
                return

    reader = threading.Thread(target=read_while_rotating)
    reader.start()
    try:
        out = cli_run(stack, monkeypatch, capsys, "pii", "rotate", "--new-key")
    finally:
        done.set()
        reader.join(timeout=60)
    assert not errors, errors[0]
    assert seen and all(v in ({"1"}, {"2"}) for v in seen)  # never a mix: one commit
    assert "new key version 2 (pii-key-v2) is current" in out
    assert pii.encode_key(provider.keys("2").encryption) not in out  # never a key on the console

    after, versions = plaintexts(stack, provider)
    assert after == before and versions == {"2"}
    rotated = table_snapshot(w, settings, TABLE)
    assert rotated.version == start.version + 1 and rotated.row_count == 200
    function = w.functions.get("climatelake.silver.pii_mask_email")
    assert "'pii-key-v2'" in function.routine_definition  # masks decrypt with the new version
    # the gateway that ran before the rotation reads the new snapshot and decrypts the new key version
    assert wait_for(lambda: gateway() == (served, rotated.version))

    out = cli_run(stack, monkeypatch, capsys, "pii", "rotate")  # again: nothing to do, no commit
    assert table_snapshot(w, settings, TABLE).version == rotated.version
    assert plaintexts(stack, provider)[0] == before

    # the old key can be retired: the table and the job keep working without it
    w.secrets.delete_secret("climatelake", "pii-key")
    with pytest.raises(LookupError, match="version 1"):
        provider.keys("1")
    raw = BlobServiceClient.from_connection_string(stack.connection_string).get_container_client("raw")
    raw.upload_blob("employees/batch-2.csv", employees.rows_to_csv(employees.generate_employees(210)[200:]))
    run_job(
        w,
        "climatelake_employees",
        timeout=dt.timedelta(minutes=5),
        raw_blob_endpoint=f"{stack.url('blob')}/{AZURITE_ACCOUNT}",
    )
    final, versions = plaintexts(stack, provider)
    assert versions == {"2"} and len(final) == 210
    assert {k: final[k] for k in before} == before
