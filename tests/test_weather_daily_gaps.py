"""The gateway's daily answer over hours with missing measures: each measure over the hours where it
exists, its own hour count beside it, and no reading at all → null (never 0). Checked against a plain-Python
aggregate of the same rows."""

from __future__ import annotations

import datetime as dt
import statistics

import orjson
import polars as pl

from flask_gateway.weather_api import _daily_body

METRICS = ("temp", "wind_speed", "precipitation", "humidity", "description")


def _hours() -> pl.DataFrame:
    day = dt.date(2024, 3, 1)
    rows = []
    for hour in range(24):
        rows.append(
            {
                "city_id": 7,
                "date": day,
                "hour": hour,
                "temp": None if hour == 5 else 10.0 + hour / 10,  # 23 temperatures
                "wind_speed": 2.5,
                "description": None if hour % 2 else "mist",
                "precipitation": None,  # no rain gauge that day
                "humidity": 50.8 if hour < 12 else None,
            }
        )
    return pl.DataFrame(rows, schema_overrides={"precipitation": pl.Float64, "temp": pl.Float64})


def test_each_measure_is_aggregated_over_the_hours_where_it_exists():
    frame = _hours()
    body, _ = _daily_body(frame, 7, METRICS, "rows")
    (row,) = orjson.loads(body)["rows"]
    temps = [t for t in frame["temp"].to_list() if t is not None]
    assert row["temp_hours_observed"] == 23 == len(temps)
    assert row["temp_mean"] == round(statistics.fmean(temps), 2)
    assert (row["temp_min"], row["temp_max"]) == (min(temps), max(temps))
    assert row["precipitation_sum"] is None and row["precipitation_hours_observed"] == 0
    assert row["humidity_mean"] == 50.8 and row["humidity_hours_observed"] == 12
    assert row["description"] == "mist" and row["description_hours_observed"] == 12
    assert row["wind_speed_hours_observed"] == 24 and row["hours_observed"] == 24
