"""ISD-Lite reader against an independent plain-Python parse of real NOAA files (tests/fixtures/isd_lite)."""

from __future__ import annotations

import csv
import gzip
import io
import math
from pathlib import Path

import pytest

from climatelake.sample_data import COLUMNS
from climatelake.sources import SourceFormatError, isd_lite

FIXTURES = sorted((Path(__file__).parent / "fixtures" / "isd_lite").glob("*.gz"))


def _oracle(path: Path) -> list[list[int]]:
    """Fixed-width fields by the format document's positions (not by the reader's split)."""
    cuts = [
        (0, 4),
        (5, 7),
        (8, 10),
        (11, 13),
        (13, 19),
        (19, 25),
        (25, 31),
        (31, 37),
        (37, 43),
        (43, 49),
        (49, 55),
        (55, 61),
    ]
    return [
        [int(line[a:b]) for a, b in cuts] for line in gzip.decompress(path.read_bytes()).decode().splitlines()
    ]


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.name)
def test_rows_match_an_independent_parse(path: Path, tmp_path: Path) -> None:
    records = _oracle(path)
    rows = isd_lite.convert(path, 7, out_dir=tmp_path)
    assert len(rows) == len(records)
    for rec, row in zip(records, rows, strict=True):
        y, m, d, h, t, td, _slp, _wd, ws, sky, p1, _p6 = rec
        assert row["Date"] == f"{y:04d}-{m:02d}-{d:02d}" and row["Hour"] == str(h)
        assert row["Temp"] == ("" if t == -9999 else f"{t / 10:.1f}")
        assert row["Wind_speed"] == ("" if ws == -9999 else f"{ws / 10:.1f}")
        assert row["Precipitation"] == ("" if p1 == -9999 else "0.0" if p1 == -1 else f"{p1 / 10:.1f}")
        if t == -9999 or td == -9999:
            assert row["Humidity"] == ""
        else:
            tc, dc = t / 10, td / 10
            rh = 100 * math.exp(17.625 * dc / (dc + 243.04)) / math.exp(17.625 * tc / (tc + 243.04))
            assert float(row["Humidity"]) == pytest.approx(min(100.0, rh), abs=0.051)
        if sky == -9999 and p1 in (-9999, -1, 0):
            assert row["Description"] == ""
    written = tmp_path / f"city=7/noaa-isd_{path.name.removesuffix('.gz')}.csv"
    with written.open(newline="") as handle:
        reader = csv.DictReader(handle)
        assert tuple(reader.fieldnames) == COLUMNS
        assert list(reader) == rows


def test_real_files_have_missing_measures_as_empty_fields() -> None:
    rows = isd_lite.convert(FIXTURES[0], 1)
    assert any(r["Temp"] == "" for r in rows) and all(r["Temp"] != "-999.9" for r in rows)
    assert any(r["Precipitation"] == "" for r in rows)


def test_humidity_formula_known_values() -> None:
    assert isd_lite.relative_humidity(20.0, 20.0) == 100.0
    assert isd_lite.relative_humidity(20.0, 10.0) == 52.5  # 100·12.27/23.37 hPa (Magnus, A–E)
    assert isd_lite.relative_humidity(None, 10.0) is None
    assert isd_lite.relative_humidity(5.0, 5.1) == 100.0  # capped


def test_truncated_gzip_is_a_clear_error_and_nothing_is_written(tmp_path: Path) -> None:
    data = FIXTURES[0].read_bytes()
    bad = tmp_path / "725300-94846-2017.gz"
    bad.write_bytes(data[: len(data) // 2])
    out = tmp_path / "out"
    with pytest.raises(SourceFormatError) as error:
        isd_lite.convert(bad, 1, out_dir=out)
    assert str(bad) in str(error.value) and "line" in str(error.value) and "truncated" in str(error.value)
    assert error.value.line and error.value.line > 1
    assert not out.exists() or not any(out.rglob("*"))


def test_text_that_is_not_isd_lite_names_file_and_line(tmp_path: Path) -> None:
    good = gzip.decompress(FIXTURES[0].read_bytes()).decode().splitlines()[:3]
    bad = tmp_path / "x.txt"
    bad.write_text("\n".join([*good, "City_id,Date,Hour,Temp", *good]) + "\n")
    with pytest.raises(SourceFormatError, match=r"x\.txt, line 4: not an ISD-Lite record"):
        isd_lite.convert(bad, 1, out_dir=tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_plain_text_file_reads_like_gzip(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.write_bytes(gzip.decompress(FIXTURES[1].read_bytes()))
    assert isd_lite.convert(plain, 3) == isd_lite.convert(FIXTURES[1], 3)


def test_rows_to_csv_is_the_seed_dialect() -> None:
    rows = isd_lite.convert(FIXTURES[0], 1)[:2]
    from climatelake.sources import rows_to_csv

    text = rows_to_csv(rows).decode()
    assert text.splitlines()[0] == ",".join(COLUMNS)
    assert list(csv.DictReader(io.StringIO(text))) == rows
