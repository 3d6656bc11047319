"""Deterministic, realistic employee rows in the seed schema, for the PII pipeline and its tests.

Schema (CSV header, in order): Employee_id, Name, Email, Phone, Hire_date, Salary. Emails are
``first.last<n>@<domain>`` with reserved example domains, phones are North American numbers in the
reserved 555-01xx block, hire dates fall between 2005 and 2024, salaries between 32,000 and 240,000 with a
long upper tail. Every value depends only on (seed, employee id), so any subset can be regenerated as an
oracle. Standard library only (no Faker: nothing to download, nothing that changes between versions).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import random
from collections.abc import Iterable

COLUMNS = ("Employee_id", "Name", "Email", "Phone", "Hire_date", "Salary")
FIRST = (
    "Ada",
    "Grace",
    "Alan",
    "Katherine",
    "Edsger",
    "Barbara",
    "Donald",
    "Frances",
    "John",
    "Margaret",
    "Tim",
    "Radia",
    "Ken",
    "Hedy",
    "Dennis",
    "Sophie",
    "Niklaus",
    "Shafi",
    "Leslie",
    "Annie",
    "Guido",
    "Jean",
    "Linus",
    "Mary",
    "Yukihiro",
    "Ivan",
    "Lynn",
    "Claude",
    "Adele",
    "Vint",
    "Łukasz",
    "Zoë",
)
LAST = (
    "Lovelace",
    "Hopper",
    "Turing",
    "Johnson",
    "Dijkstra",
    "Liskov",
    "Knuth",
    "Allen",
    "Backus",
    "Hamilton",
    "Berners-Lee",
    "Perlman",
    "Thompson",
    "Lamarr",
    "Ritchie",
    "Wilson",
    "Wirth",
    "Goldwasser",
    "Lamport",
    "Easley",
    "van Rossum",
    "Sammet",
    "Torvalds",
    "Keller",
    "Matsumoto",
    "Sutherland",
    "Conway",
    "Shannon",
    "Goldberg",
    "Cerf",
    "Nowak",
    "Brontë",
)
DOMAINS = ("example.com", "example.org", "example.net")


def _ascii(text: str) -> str:
    table = str.maketrans({"Ł": "L", "ł": "l", "ë": "e", "Ë": "E", " ": "", "-": ""})
    return text.translate(table).lower()


def employee(employee_id: int, seed: int = 0) -> dict:
    rng = random.Random(f"employee:{seed}:{employee_id}")
    first, last = rng.choice(FIRST), rng.choice(LAST)
    hire = dt.date(2005, 1, 1) + dt.timedelta(days=rng.randrange(20 * 365))
    salary = round(min(240_000.0, 32_000 + rng.lognormvariate(10.4, 0.55)), 2)
    return {
        "Employee_id": employee_id,
        "Name": f"{first} {last}",
        "Email": f"{_ascii(first)}.{_ascii(last)}{employee_id}@{rng.choice(DOMAINS)}",
        "Phone": f"+1-{rng.randrange(201, 990)}-555-01{rng.randrange(100):02d}",
        "Hire_date": hire.isoformat(),
        "Salary": salary,
    }


def generate_employees(count: int, seed: int = 0, first_id: int = 1) -> list[dict]:
    if count < 0:
        raise ValueError("count must not be negative")
    return [employee(i, seed) for i in range(first_id, first_id + count)]


def rows_to_csv(rows: Iterable[dict]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()
