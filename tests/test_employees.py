"""The employee generator: schema, determinism, plausible values."""

from __future__ import annotations

import csv
import io
import re

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
