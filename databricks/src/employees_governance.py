"""Tag-driven PII policy for ``silver.employees``: Unity Catalog tags in, treatments out, tags and masks back.

Design (issue 7):
- **Tags are the policy.** A column tagged ``pii`` is protected; the tag's value says what it holds
  (``email``, ``phone``, ``salary``, …) and a configurable map *tag value → treatment* says how: ``encrypt``
  (AES-GCM, climatelake.pii), ``token`` (``<column>_token``, HMAC search token), ``band``
  (``<column>_band``), ``mask`` (``<column>_masked``, the form non-readers see). A tag value the map does
  not know is encrypted (the safe default). Tags are read from ``<catalog>.information_schema.column_tags``
  through the SQL statements API, as any Databricks user would.
- **The declaration is the floor.** The job config (``--declared-pii`` in ``resources/employees.job.yml``)
  declares the columns that are PII whatever the catalog says; on the first run, before the table exists,
  it is the whole policy. Tags added later in the catalog (by a data steward: ``ALTER TABLE … ALTER COLUMN
  name SET TAGS ('pii' = 'name')``) add columns; removing a declared column's tag does not turn its
  encryption off — that takes a reviewed change of the declaration.
- **``pii_protection = 'encrypted'`` is a promise about every row.** The job sets it on a column only after
  the commit that leaves every row of that column encrypted; another engineer's Delta Sharing code shares a
  pii-tagged column only with it. A column tagged ``pii`` without it has plaintext in existing rows: the
  job encrypts those rows in the same commit.
- Masks: ``sql/pii_masks.sql`` (functions with ``is_account_group_member('pii_readers')`` and ``SET MASK``),
  run after each write with the key version the table is encrypted with.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from databricks.sdk import WorkspaceClient

from climatelake.sql_runner import run_sql

PII_TAG = "pii"
PROTECTION_TAG = "pii_protection"
ENCRYPTED = "encrypted"
STEPS = ("encrypt", "token", "band", "mask")
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class Treatment:
    kind: str  # the pii tag's value
    steps: tuple[str, ...]

    @property
    def derived(self) -> list[str]:
        """Suffixes of the columns this treatment adds, in a fixed order."""
        return [
            suffix
            for step, suffix in (("band", "band"), ("token", "token"), ("mask", "masked"))
            if step in self.steps
        ]


def parse_map(text: str) -> dict[str, str]:
    """``a=b,c=d`` → {a: b, c: d} (job parameters stay one plain string each)."""
    pairs = {}
    for item in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise ValueError(f"expected name=value, got {item!r}")
        pairs[key.strip()] = value.strip()
    return pairs


def parse_treatments(text: str) -> dict[str, tuple[str, ...]]:
    """``email=encrypt+token+mask,phone=encrypt`` → {tag value: steps}; unknown steps are refused."""
    treatments = {}
    for kind, steps in parse_map(text).items():
        parts = tuple(s.strip() for s in steps.split("+") if s.strip())
        unknown = [s for s in parts if s not in STEPS]
        if unknown or not parts:
            raise ValueError(f"treatment of {kind!r}: steps must be among {STEPS}, got {steps!r}")
        treatments[kind] = parts
    return treatments


def identifier(name: str) -> str:
    if not _IDENT.match(name):
        raise ValueError(f"{name!r} is not a plain identifier")
    return name


def column_tags(w: WorkspaceClient, warehouse_id: str, catalog: str, schema: str, table: str) -> dict:
    """{column: {tag: value}} of the table, from ``information_schema.column_tags``."""
    rows = run_sql(
        w,
        "SELECT column_name, tag_name, tag_value FROM "
        f"{identifier(catalog)}.information_schema.column_tags WHERE schema_name = '{identifier(schema)}' "
        f"AND table_name = '{identifier(table)}'",
        warehouse_id=warehouse_id,
    )[0].rows
    tags: dict[str, dict[str, str]] = {}
    for column, name, value in rows:
        tags.setdefault(column, {})[name] = value
    return tags


def effective_policy(
    declared: dict[str, str], tags: dict[str, dict[str, str]], treatments: dict[str, tuple[str, ...]]
) -> dict[str, Treatment]:
    """column → treatment: the declared columns, every column the catalog tags ``pii`` (its value wins), and
    every column already promised encrypted (untagging ``pii`` never turns encryption off)."""
    kinds = dict(declared)
    kinds.update({c: t.get(PII_TAG, c) for c, t in tags.items() if t.get(PROTECTION_TAG) == ENCRYPTED})
    kinds.update({column: t[PII_TAG] for column, t in tags.items() if PII_TAG in t})
    return {column: Treatment(kind, treatments.get(kind, ("encrypt",))) for column, kind in kinds.items()}


def unprotected(policy: dict[str, Treatment], tags: dict[str, dict[str, str]]) -> list[str]:
    """Columns to encrypt whose existing rows may still be plaintext (no ``pii_protection`` promise yet)."""
    return [
        column
        for column, treatment in policy.items()
        if "encrypt" in treatment.steps and tags.get(column, {}).get(PROTECTION_TAG) != ENCRYPTED
    ]


def tag_statements(full_name: str, policy: dict[str, Treatment]) -> list[str]:
    """``ALTER TABLE … ALTER COLUMN c SET TAGS ('pii' = kind, 'pii_protection' = 'encrypted')`` per column."""
    statements = []
    for column, treatment in sorted(policy.items()):
        tags = f"'{PII_TAG}' = '{identifier(treatment.kind)}'"
        if "encrypt" in treatment.steps:
            tags += f", '{PROTECTION_TAG}' = '{ENCRYPTED}'"
        statements.append(f"ALTER TABLE {full_name} ALTER COLUMN `{identifier(column)}` SET TAGS ({tags})")
    return statements


def set_tags(w: WorkspaceClient, warehouse_id: str, full_name: str, policy: dict[str, Treatment]) -> None:
    run_sql(w, ";\n".join(tag_statements(full_name, policy)), warehouse_id=warehouse_id)


def apply_masks(
    w: WorkspaceClient, warehouse_id: str, sql_file: str | Path, catalog: str, scope: str, key_secret: str
) -> None:
    """Create the mask functions and set the masks (``sql/pii_masks.sql``) for the key version in use."""
    script = Path(sql_file).read_text(encoding="utf-8")
    for name, value in (
        ("catalog", identifier(catalog)),
        ("pii_secret_scope", scope),
        ("pii_key_secret", key_secret),
    ):
        if not re.fullmatch(r"[A-Za-z0-9_.\-]+", value):
            raise ValueError(f"{name} {value!r} cannot go into SQL")
        script = script.replace("${" + name + "}", value)
    run_sql(w, script, warehouse_id=warehouse_id)
