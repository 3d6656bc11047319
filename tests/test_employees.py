"""The employee generator: schema, determinism, plausible values."""

from __future__ import annotations

import csv
import io
import re

import pytest

from climatelake.employees import COLUMNS, employee, generate_employees, rows_to_csv


def test_schema_determinism_and_values():
    rows = generate_employees(200, seed=7)
    assert [tuple(r) for r in rows[:1]] == [COLUMNS]
    assert rows == generate_employees(200, seed=7) and rows != generate_employees(200, seed=8)
    assert employee(42, seed=7) == rows[41]  # any single row can be regenerated as an oracle
    assert len({r["Email"] for r in rows}) == 200
    assert all(re.fullmatch(r"[a-z.]+\d+@example\.(com|org|net)", r["Email"]) for r in rows)
    assert all(re.fullmatch(r"\+1-\d{3}-555-01\d{2}", r["Phone"]) for r in rows)
    assert all(32_000 <= r["Salary"] <= 240_000 for r in rows)
    assert all("2005-01-01" <= r["Hire_date"] <= "2025-01-01" for r in rows)


def test_csv_header_is_the_seed_schema():
    text = rows_to_csv(generate_employees(3)).decode()
    parsed = list(csv.DictReader(io.StringIO(text)))
    assert tuple(parsed[0]) == COLUMNS and len(parsed) == 3


# --- the job's policy and encryption body (databricks/src, imported as the job imports them) -----------
def _job_module(name: str):
    import importlib
    import sys
    from pathlib import Path

    src = str(Path(__file__).resolve().parent.parent / "databricks" / "src")
    if src not in sys.path:
        sys.path.insert(0, src)
    return importlib.import_module(name)


def test_policy_comes_from_declaration_tags_and_treatments():
    gov = _job_module("employees_governance")
    declared = gov.parse_map("email=email,phone=phone,salary=salary")
    treatments = gov.parse_treatments("email=encrypt+token+mask,phone=encrypt+mask,salary=band+encrypt")
    # first run: no table, no tags → the declaration
    first = gov.effective_policy(declared, {}, treatments)
    assert {c: t.steps for c, t in first.items()} == {
        "email": ("encrypt", "token", "mask"),
        "phone": ("encrypt", "mask"),
        "salary": ("band", "encrypt"),
    }
    assert gov.unprotected(first, {}) == ["email", "phone", "salary"]
    # a steward tags `name`; `phone` keeps its encryption even with its pii tag removed (promised encrypted)
    tags = {
        "email": {"pii": "email", "pii_protection": "encrypted"},
        "phone": {"pii_protection": "encrypted"},
        "name": {"pii": "name"},
    }
    later = gov.effective_policy({"email": "email"}, tags, treatments)
    assert set(later) == {"email", "phone", "name"}
    assert later["name"].steps == ("encrypt",)  # a kind the map does not know: encrypted
    assert gov.unprotected(later, tags) == ["name"]
    assert gov.tag_statements("c.s.t", {"email": later["email"]}) == [
        "ALTER TABLE c.s.t ALTER COLUMN `email` SET TAGS ('pii' = 'email', 'pii_protection' = 'encrypted')"
    ]
    with pytest.raises(ValueError, match="steps must be among"):
        gov.parse_treatments("email=rot13")
    with pytest.raises(ValueError, match="plain identifier"):
        gov.tag_statements("c.s.t", {"x') --": later["email"]})


def test_protect_is_the_mapinarrow_body_and_never_double_encrypts():
    import pyarrow as pa

    from climatelake import pii

    job = _job_module("employees_pii")
    keys = pii.PiiKeys(pii.new_key(), pii.new_key(), "7")
    policy = {"email": ("email", ("encrypt", "token", "mask")), "salary": ("salary", ("band", "encrypt"))}
    names = [
        "employee_id",
        "email",
        "salary",
        "salary_band",
        "email_token",
        "email_masked",
        "pii_key_version",
    ]
    batch = pa.RecordBatch.from_pydict(
        {"employee_id": [1, 2], "email": ["a@x.io", None], "salary": ["61500.0", "80000.0"]}
    )
    (out,) = list(job.protect(iter([batch]), keys, policy, names))
    assert out.schema.names == names
    got = out.to_pydict()
    assert pii.decrypt(got["email"][0], keys.encryption) == "a@x.io" and got["email"][1] is None
    assert got["salary_band"] == ["50k-75k", "75k-100k"] and got["email_masked"] == ["a***@x.io", None]
    assert got["pii_key_version"] == ["7", "7"]
    # existing rows: already-encrypted values are opened first, so encrypting again is safe
    again = pa.RecordBatch.from_pydict({k: got[k] for k in ("employee_id", "email", "salary")})
    (redo,) = list(job.protect(iter([again]), keys, policy, names, True))
    assert pii.decrypt(redo.to_pydict()["email"][0], keys.encryption) == "a@x.io"
    assert redo.to_pydict()["salary_band"] == ["50k-75k", "75k-100k"]


def test_rotation_body_moves_each_row_from_its_version():
    import pyarrow as pa

    from climatelake import pii

    rotate = _job_module("employees_rotate")
    k1, k2, k3 = pii.new_key(), pii.new_key(), pii.new_key()
    new = pii.PiiKeys(k3, pii.new_key(), "3")
    kept = pii.encrypt("c@x.io", k3)
    batch = pa.RecordBatch.from_pydict(
        {
            "employee_id": [1, 2, 3],
            "email": [pii.encrypt("a@x.io", k1), pii.encrypt("b@x.io", k2), kept],
            "pii_key_version": ["1", "2", "3"],
        }
    )
    (out,) = list(rotate.reencrypt(iter([batch]), {"1": k1, "2": k2}, new, ["email"]))
    got = out.to_pydict()
    assert [pii.decrypt(v, k3) for v in got["email"]] == ["a@x.io", "b@x.io", "c@x.io"]
    assert got["email"][2] == kept and got["pii_key_version"] == ["3", "3", "3"]
