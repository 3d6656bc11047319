"""The employees PII job on the local engine: encrypted columns, search tokens, bands, quarantine."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest
from azure.storage.blob import BlobServiceClient

from climatelake import bundle, employees, pii
from climatelake.bootstrap import prepare_storage, run_job
from climatelake.lake import storage_options
from emulators.stack import Stack

pytestmark = pytest.mark.stack


@pytest.fixture(scope="module")
def pii_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Stack, pii.PiiKeys, list[dict]]]:
    stack = Stack(Path(tmp_path_factory.mktemp("pii")), in_memory=True)
    try:
        stack.start(only=("azurite", "sail", "workspace"))
        settings, w = stack.settings(), stack.workspace_client()
        prepare_storage(settings)
        bundle.deploy(w, "local", {"storage_account": settings.storage_account})
        keys = pii.PiiKeys(pii.new_key(), pii.new_key(), "1")
        w.secrets.create_scope("climatelake")
        w.secrets.put_secret("climatelake", "pii-key", string_value=pii.encode_key(keys.encryption))
        w.secrets.put_secret("climatelake", "pii-token-key", string_value=pii.encode_key(keys.search))
        rows = employees.generate_employees(300, seed=3)
        bad = [{**rows[0], "Employee_id": "x1"}, {**rows[1], "Employee_id": 9001, "Email": "no-at-sign"}]
        raw = BlobServiceClient.from_connection_string(stack.connection_string).get_container_client("raw")
        raw.upload_blob("employees/batch-1.csv", employees.rows_to_csv(rows + bad))
        run_job(w, "climatelake_employees", timeout=dt.timedelta(minutes=5))
        yield stack, keys, rows
    finally:
        stack.stop()


def read(stack: Stack, table: str) -> pl.DataFrame:
    location = stack.workspace_client().tables.get(table).storage_location
    return pl.scan_delta(location, storage_options=storage_options(stack.settings())).collect()


def test_pii_columns_are_encrypted_and_decrypt_to_the_originals(pii_stack):
    stack, keys, rows = pii_stack
    table = read(stack, "climatelake.silver.employees").sort("employee_id")
    assert table.height == len(rows)
    by_id = {r["Employee_id"]: r for r in rows}
    for got in table.iter_rows(named=True):
        want = by_id[got["employee_id"]]
        assert got["email"] != want["Email"] and pii.decrypt(got["email"], keys.encryption) == want["Email"]
        assert pii.decrypt(got["phone"], keys.encryption) == want["Phone"]
        assert float(pii.decrypt(got["salary"], keys.encryption)) == want["Salary"]
        assert got["salary_band"] == pii.salary_band(want["Salary"])
        assert got["email_token"] == pii.search_token(want["Email"], keys.search)
        assert got["name"] == want["Name"] and got["pii_key_version"] == "1"


def test_bad_rows_are_quarantined_without_their_pii(pii_stack):
    stack, _, _ = pii_stack
    quarantine = read(stack, "climatelake.silver.employees_quarantine").sort("employee_id")
    assert quarantine.to_dicts() == [
        {"employee_id": "9001", "reason": "email missing or malformed"},
        {"employee_id": "x1", "reason": "employee_id missing or not an integer"},
    ]


def test_no_plaintext_pii_in_the_lake(pii_stack):
    """Every blob of the lake container (Delta data and logs): no email or phone in plaintext."""
    stack, _, rows = pii_stack
    lake = BlobServiceClient.from_connection_string(stack.connection_string).get_container_client("lake")
    secrets_ = [r["Email"].encode() for r in rows] + [r["Phone"].encode() for r in rows]
    blobs = list(lake.list_blobs())
    assert blobs
    for blob in blobs:
        data = lake.download_blob(blob.name).readall()
        assert not any(s in data for s in secrets_), blob.name


@pytest.fixture(scope="module")
def gateway(pii_stack):
    stack, _, _ = pii_stack
    from climatelake.keys import ApiKeyStore
    from flask_gateway import create_app

    with pytest.MonkeyPatch.context() as patch:
        for name, value in stack.env.items():
            patch.setenv(name, value)
        app = create_app(stack.settings())
        store = ApiKeyStore(stack.connection_string)
        keys = {role: store.create(role, role)[0] for role in ("reader", "pii_reader", "admin")}
        yield app, keys


def test_gateway_masks_for_readers_and_decrypts_for_pii_readers(pii_stack, gateway):
    _, _, rows = pii_stack
    app, keys = gateway
    client = app.test_client()
    want = rows[4]
    masked = client.get(
        f"/v1/employees/{want['Employee_id']}", headers={"X-API-Key": keys["reader"]}
    ).get_json()
    assert masked["email"] == want["Email"][0] + "***@" + want["Email"].split("@")[1]
    assert masked["phone"] == "***-***-" + want["Phone"][-4:].replace("-", "")[-4:]
    assert masked["salary"] is None and masked["salary_band"] == pii.salary_band(want["Salary"])
    for role in ("pii_reader", "admin"):
        clear = client.get(
            f"/v1/employees/{want['Employee_id']}", headers={"X-API-Key": keys[role]}
        ).get_json()
        assert (clear["email"], clear["phone"], clear["salary"]) == (
            want["Email"],
            want["Phone"],
            want["Salary"],
        )
    assert client.get("/v1/employees/1").status_code == 401
    assert client.get("/v1/employees/999999", headers={"X-API-Key": keys["reader"]}).status_code == 404


def test_employee_listing_pages_and_audit_has_no_values(pii_stack, gateway):
    _, _, rows = pii_stack
    app, keys = gateway
    client = app.test_client()
    seen, cursor = [], None
    while True:
        page = client.get(
            "/v1/employees",
            query_string={"limit": 120, **({"cursor": cursor} if cursor else {})},
            headers={"X-API-Key": keys["pii_reader"]},
        ).get_json()
        seen += page["employees"]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert [e["employee_id"] for e in seen] == [r["Employee_id"] for r in rows]
    assert {e["email"] for e in seen} == {r["Email"] for r in rows}
    audit = app.extensions["audit"]
    assert audit.flush(timeout=10)
    records = audit.query(dt.datetime.now(dt.UTC).strftime("%Y%m%d"))
    revealed = [r for r in records if r.get("route", "").startswith("/v1/employees")]
    assert any(r.get("pii_revealed") is True for r in revealed)
    assert any(r.get("pii_revealed") is False for r in revealed)
    dumped = str([dict(r) for r in records])
    assert not any(r["Email"] in dumped or r["Phone"] in dumped for r in rows)
