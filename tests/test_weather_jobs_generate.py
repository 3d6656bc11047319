"""``climatelake data generate``: deterministic files in the seed schema, optional dirt and 2400-style hours
(no stack needed)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from climatelake import sample_data
from climatelake.cli import main


def _generate(out: Path, *extra: str) -> dict[str, bytes]:
    args = ["data", "generate", "--cities", "3", "--start", "2024-01-01", "--end", "2024-01-04"]
    assert main([*args, *extra, "--out", str(out)]) == 0
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*.csv"))}


def test_generate_is_deterministic_and_in_the_seed_schema(tmp_path: Path):
    first = _generate(tmp_path / "a", "--dirty-fraction", "0.2", "--seed", "4")
    assert first == _generate(tmp_path / "b", "--dirty-fraction", "0.2", "--seed", "4")
    assert sorted(first) == [f"city={c}/2024-01-01_2024-01-04.csv" for c in (1, 2, 3)]
    for data in first.values():
        header, rows = sample_data.csv_to_text_rows(data)
        assert tuple(header) == sample_data.COLUMNS
        assert len(rows) >= 4 * 24


def test_clean_files_match_the_generator_and_2400_hours_are_hundreds(tmp_path: Path):
    clean = _generate(tmp_path / "clean")
    rows = sample_data.csv_to_rows(clean["city=1/2024-01-01_2024-01-04.csv"])
    assert rows == sample_data.generate_hourly([1], dt.date(2024, 1, 1), dt.date(2024, 1, 4))
    hundreds = _generate(tmp_path / "h", "--hour-format", "2400", "--cities-per-file", "3")
    (data,) = hundreds.values()
    _, rows_2400 = sample_data.csv_to_text_rows(data)
    assert {r["Hour"] for r in rows_2400} == {str(h * 100) for h in range(24)}
    assert {r["City_id"] for r in rows_2400} == {"1", "2", "3"}
