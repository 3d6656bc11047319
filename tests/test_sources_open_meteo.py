"""Open-Meteo reader against an independent parse of a hand-made answer in the documented shape."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from climatelake.sources import SourceFormatError, open_meteo

FIXTURES = Path(__file__).parent / "fixtures" / "open_meteo"
BERLIN = FIXTURES / "berlin-2024-01-01_2024-01-02.json"


def test_rows_are_utc_in_seed_units_with_missing_empty(tmp_path: Path) -> None:
    answer = json.loads(BERLIN.read_text())
    hourly = answer["hourly"]
    assert answer["utc_offset_seconds"] == 3600
    rows = open_meteo.convert(BERLIN, 108, out_dir=tmp_path)
    assert len(rows) == len(hourly["time"])
    for i, row in enumerate(rows):
        utc = dt.datetime.fromisoformat(hourly["time"][i]) - dt.timedelta(hours=1)
        assert (row["Date"], row["Hour"]) == (utc.date().isoformat(), str(utc.hour))
        t, w, p, h = (
            hourly[k][i]
            for k in ("temperature_2m", "wind_speed_10m", "precipitation", "relative_humidity_2m")
        )
        assert row["Temp"] == ("" if t is None else str(float(t)))
        assert row["Wind_speed"] == ("" if w is None else str(round(w / 3.6, 2)))
        assert row["Precipitation"] == ("" if p is None else str(float(p)))
        assert row["Humidity"] == ("" if h is None else str(float(h)))
        code = hourly["weather_code"][i]
        assert row["Description"] == ("" if code is None else open_meteo.WMO_DESCRIPTIONS[code])
    assert rows[0]["Date"] == "2023-12-31" and rows[0]["Hour"] == "23"
    assert (tmp_path / "city=108" / f"open-meteo_{BERLIN.stem}.csv").exists()


def test_error_answer_is_a_clear_error(tmp_path: Path) -> None:
    path = FIXTURES / "error-answer.json"
    with pytest.raises(SourceFormatError, match=r"error-answer\.json, line 1: Open-Meteo answered an error"):
        open_meteo.convert(path, 1, out_dir=tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_unknown_unit_names_file_and_line(tmp_path: Path) -> None:
    text = BERLIN.read_text().replace('"wind_speed_10m": "km/h"', '"wind_speed_10m": "furlong/fortnight"')
    bad = tmp_path / "bad.json"
    bad.write_text(text)
    line = next(n for n, s in enumerate(text.splitlines(), 1) if "furlong" in s)
    with pytest.raises(SourceFormatError, match=rf"bad\.json, line {line}: unknown unit 'furlong/fortnight'"):
        open_meteo.convert(bad, 1, out_dir=tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_fahrenheit_and_unixtime_answers() -> None:
    answer = {
        "utc_offset_seconds": 0,
        "hourly_units": {"temperature_2m": "°F", "wind_speed_10m": "m/s"},
        "hourly": {"time": [1704067200], "temperature_2m": [50.0], "wind_speed_10m": [3.0]},
    }
    [row] = open_meteo.parse(json.dumps(answer), 2, "mem")
    assert (row["Date"], row["Hour"], row["Temp"], row["Wind_speed"]) == ("2024-01-01", "0", "10.0", "3.0")
    assert row["Precipitation"] == "" and row["Description"] == ""


def test_not_json_names_the_line() -> None:
    with pytest.raises(SourceFormatError, match=r"mem, line 2: not JSON"):
        open_meteo.parse('{\n  "hourly": [,\n}', 1, "mem")
