"""Tests for climatelake.sample_data: schema, determinism, physical plausibility and the CSV round trip."""

from __future__ import annotations

import datetime as dt
import statistics
import time

import pytest

from climatelake.sample_data import (
    COLUMNS,
    DESCRIPTIONS,
    PRECIPITATION_DESCRIPTIONS,
    csv_to_rows,
    generate_hourly,
    rows_to_csv,
)

D = dt.date
YEAR = (D(2024, 1, 1), D(2024, 12, 31))


def _city(rows: list[dict], city_id: int) -> list[dict]:
    return [r for r in rows if r["City_id"] == city_id]


def _mean_temp(rows: list[dict], month_prefix: str, hour: int | None = None) -> float:
    return statistics.fmean(
        r["Temp"] for r in rows if r["Date"].startswith(month_prefix) and (hour is None or r["Hour"] == hour)
    )


def test_columns_are_the_seed_schema() -> None:
    assert COLUMNS == (
        "City_id",
        "Date",
        "Hour",
        "Temp",
        "Wind_speed",
        "Description",
        "Precipitation",
        "Humidity",
    )


def test_schema_and_types() -> None:
    rows = generate_hourly([1, 2], D(2024, 2, 27), D(2024, 3, 2))
    assert rows
    for r in rows:
        assert tuple(r) == COLUMNS
        assert type(r["City_id"]) is int
        assert type(r["Date"]) is str
        assert dt.date.fromisoformat(r["Date"]).isoformat() == r["Date"]
        assert type(r["Hour"]) is int
        assert type(r["Temp"]) is float
        assert type(r["Wind_speed"]) is float
        assert type(r["Description"]) is str
        assert type(r["Precipitation"]) is float
        assert type(r["Humidity"]) is float
        for col in ("Temp", "Wind_speed", "Precipitation"):
            assert round(r[col], 1) == r[col], (col, r)


def test_row_count_and_order() -> None:
    rows = generate_hourly([3, 1, 2], D(2024, 2, 28), D(2024, 3, 1))  # leap day included
    assert len(rows) == 3 * 3 * 24
    keys = [(r["City_id"], r["Date"], r["Hour"]) for r in rows]
    assert keys == sorted(keys)
    assert len(set(keys)) == len(keys)
    assert {r["Date"] for r in rows} == {"2024-02-28", "2024-02-29", "2024-03-01"}
    assert len(generate_hourly([7], D(2024, 5, 5), D(2024, 5, 5))) == 24


def test_empty_city_list_gives_no_rows() -> None:
    assert generate_hourly([], D(2024, 1, 1), D(2024, 1, 2)) == []


def test_same_arguments_same_rows() -> None:
    a = generate_hourly([1, 2], D(2024, 1, 1), D(2024, 1, 14), seed=42)
    b = generate_hourly([1, 2], D(2024, 1, 1), D(2024, 1, 14), seed=42)
    assert a == b


def test_seed_changes_the_weather() -> None:
    a = generate_hourly([1], D(2024, 1, 1), D(2024, 1, 14), seed=1)
    b = generate_hourly([1], D(2024, 1, 1), D(2024, 1, 14), seed=2)
    assert a != b


def test_city_rows_independent_of_other_cities() -> None:
    start, end = D(2024, 1, 1), D(2024, 1, 10)
    alone = generate_hourly([1], start, end, seed=7)
    together = generate_hourly([5, 1, 2], start, end, seed=7)
    assert _city(together, 1) == alone
    assert _city(together, 2) == generate_hourly([2], start, end, seed=7)


def test_day_rows_independent_of_requested_range() -> None:
    month = generate_hourly([1, 4], D(2024, 1, 1), D(2024, 1, 31), seed=3)
    day = generate_hourly([1, 4], D(2024, 1, 10), D(2024, 1, 10), seed=3)
    assert [r for r in month if r["Date"] == "2024-01-10"] == day
    # Also across a year boundary, where day-of-year based code would typically go wrong.
    span = generate_hourly([4], D(2023, 12, 20), D(2024, 1, 5), seed=3)
    tail = generate_hourly([4], D(2024, 1, 1), D(2024, 1, 5), seed=3)
    assert [r for r in span if r["Date"] >= "2024-01-01"] == tail


def test_value_ranges() -> None:
    rows = generate_hourly(range(1, 6), *YEAR)
    assert {r["Hour"] for r in rows} == set(range(24))
    assert all(0 <= r["Humidity"] <= 100 for r in rows)
    assert all(r["Wind_speed"] >= 0 for r in rows)
    assert all(r["Precipitation"] >= 0 for r in rows)
    assert all(-60.0 < r["Temp"] < 55.0 for r in rows)


def test_descriptions_consistent_with_precipitation_and_temperature() -> None:
    rows = generate_hourly(range(1, 9), *YEAR)
    seen = {r["Description"] for r in rows}
    assert seen <= set(DESCRIPTIONS)
    # A year over eight varied cities should exercise rain, snow and dry weather.
    assert {"clear sky", "light rain", "light snow"} <= seen
    for r in rows:
        wet = r["Precipitation"] > 0
        assert wet == (r["Description"] in PRECIPITATION_DESCRIPTIONS), r
        if r["Description"] in ("light snow", "snow"):
            assert r["Temp"] <= 0, r
        elif wet:
            assert r["Temp"] > 0, r


def test_precipitation_comes_in_multi_hour_events() -> None:
    rows = generate_hourly([1], *YEAR)
    wet = [r["Precipitation"] > 0 for r in rows]
    runs, current = [], 0
    for w in wet + [False]:
        if w:
            current += 1
        elif current:
            runs.append(current)
            current = 0
    assert runs, "expected some precipitation in a year"
    assert statistics.fmean(runs) >= 2.0
    assert 0.01 < sum(wet) / len(wet) < 0.3


def test_seasonal_cycle_july_warmer_than_january() -> None:
    rows = generate_hourly(range(1, 11), *YEAR)
    for city_id in range(1, 11):
        city = _city(rows, city_id)
        assert _mean_temp(city, "2024-07") > _mean_temp(city, "2024-01") + 5.0, city_id


def test_diurnal_cycle_afternoon_warmer_than_dawn() -> None:
    rows = generate_hourly(range(1, 11), D(2024, 4, 1), D(2024, 4, 30))
    for city_id in range(1, 11):
        city = _city(rows, city_id)
        assert _mean_temp(city, "2024-04", hour=15) > _mean_temp(city, "2024-04", hour=5), city_id


def test_temperature_is_smooth_hour_to_hour() -> None:
    rows = generate_hourly([1], *YEAR)
    # Rows are contiguous, including across midnight and month ends, so compare neighbours directly.
    jumps = [abs(b["Temp"] - a["Temp"]) for a, b in zip(rows, rows[1:], strict=False)]
    assert max(jumps) < 5.0


def test_csv_round_trip() -> None:
    rows = generate_hourly([1, 2], D(2024, 1, 1), D(2024, 1, 3))
    data = rows_to_csv(rows)
    assert isinstance(data, bytes)
    text = data.decode("utf-8")
    assert text.split("\n", 1)[0] == ",".join(COLUMNS)
    assert "\r" not in text
    assert text.endswith("\n")
    assert text.count("\n") == len(rows) + 1
    assert csv_to_rows(data) == rows


def test_csv_to_rows_rejects_wrong_header() -> None:
    with pytest.raises(ValueError, match="header"):
        csv_to_rows(b"City_id,Date\n1,2024-01-01\n")


def test_end_before_start_raises() -> None:
    with pytest.raises(ValueError, match="before start"):
        generate_hourly([1], D(2024, 1, 2), D(2024, 1, 1))


@pytest.mark.parametrize("bad", [0, -3, "1", 1.0, True, None])
def test_bad_city_id_raises(bad: object) -> None:
    with pytest.raises(ValueError, match="positive int"):
        generate_hourly([1, bad], D(2024, 1, 1), D(2024, 1, 1))  # type: ignore[list-item]


def test_one_city_leap_year_is_fast() -> None:
    t0 = time.perf_counter()
    rows = generate_hourly([1], *YEAR)
    elapsed = time.perf_counter() - t0
    assert len(rows) == 366 * 24 == 8784
    assert elapsed < 1.0, f"took {elapsed:.3f}s"
