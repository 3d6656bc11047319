"""The silver table's validation rules, as Spark column expressions over bronze's string columns.

Why one module: the rules are the contract the quarantine reasons name, and the tests' oracle re-implements
exactly these (``tests/test_weather_jobs.py``), so they must be easy to read in one place.

Each raw field is checked in turn; a row's ``reason`` is every failing check, joined with ``;`` in column
order (``missing_<field>``, ``bad_<field>`` when it does not parse, or a range code). A row with no reason
is valid. Rules:

* every field is required (null or blank → ``missing_<field>``);
* City_id: digits, 1 … 2³¹−1 (``bad_city_id``); Date: ``YYYY-MM-DD`` and a real day (``bad_date``);
* Hour: digits; 0–23, or 2400-style 0, 100, …, 2300 (→ hour / 100); anything else ``bad_hour``;
* Temp: a decimal number in −90…60 °C (``temp_out_of_range``); Wind_speed ≥ 0 (``wind_speed_negative``);
  Precipitation ≥ 0 (``precipitation_negative``); Humidity 0–100 (``humidity_out_of_range``);
* Description: trimmed and lower-cased.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

TEMP_MIN, TEMP_MAX = -90.0, 60.0
_NUMBER = r"^-?[0-9]+(\.[0-9]+)?$"
_DIGITS = r"^[0-9]+$"
_DATE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"


def _raw(name: str) -> Column:
    return F.trim(F.col(name))


def _missing(name: str) -> Column:
    return F.col(name).isNull() | (_raw(name) == "")


def _number(name: str) -> Column:
    """The field as a double, or null when it is not a plain decimal number (no ANSI cast errors)."""
    return F.when(_raw(name).rlike(_NUMBER), _raw(name).try_cast("double"))


def hour_of_day(name: str = "Hour") -> Column:
    """0–23 as is; 2400-style 100…2300 (multiples of 100) divided by 100; otherwise null."""
    value = F.when(_raw(name).rlike(_DIGITS), _raw(name).try_cast("long"))  # try: 30 digits overflow
    return (
        F.when(value.between(0, 23), value)
        .when((value % 100 == 0) & value.between(100, 2300), (value / 100).cast("long"))
        .cast("int")
    )


def parsed_date(name: str = "Date") -> Column:
    return F.when(_raw(name).rlike(_DATE), _raw(name).try_cast("date"))


def typed_columns() -> dict[str, Column]:
    """Silver's columns from bronze's strings (null where a value is invalid)."""
    city = F.when(_raw("City_id").rlike(_DIGITS), _raw("City_id").try_cast("long"))
    return {
        "city_id": F.when(city.between(1, 2**31 - 1), city).cast("int"),
        "date": parsed_date(),
        "hour": hour_of_day(),
        "temp": _number("Temp"),
        "wind_speed": _number("Wind_speed"),
        "description": F.lower(_raw("Description")),
        "precipitation": _number("Precipitation"),
        "humidity": F.round(_number("Humidity")).try_cast("int"),
    }


def with_typed(raw: DataFrame) -> DataFrame:
    """``raw`` plus ``_<column>`` for each silver column (null where invalid) and ``_humidity_value`` (the
    unrounded number, for the range check); each regex is evaluated once per row."""
    return raw.select(
        "*",
        *[c.alias(f"_{n}") for n, c in typed_columns().items()],
        _number("Humidity").alias("_humidity_value"),
    )


def _check(raw: str, code: str, typed: str) -> Column:
    """``missing_<code>`` when blank, ``bad_<code>`` when unparsable (typed column null), else null."""
    return F.when(_missing(raw), F.lit(f"missing_{code}")).when(F.col(typed).isNull(), F.lit(f"bad_{code}"))


def reason() -> Column:
    """Every failing rule of a row of :func:`with_typed`, ``;``-joined in column order; null if valid."""
    checks = [
        _check("City_id", "city_id", "_city_id"),
        _check("Date", "date", "_date"),
        _check("Hour", "hour", "_hour"),
        _check("Temp", "temp", "_temp").when(
            ~F.col("_temp").between(TEMP_MIN, TEMP_MAX), F.lit("temp_out_of_range")
        ),
        _check("Wind_speed", "wind_speed", "_wind_speed").when(
            F.col("_wind_speed") < 0, F.lit("wind_speed_negative")
        ),
        F.when(_missing("Description"), F.lit("missing_description")),
        _check("Precipitation", "precipitation", "_precipitation").when(
            F.col("_precipitation") < 0, F.lit("precipitation_negative")
        ),
        _check("Humidity", "humidity", "_humidity_value").when(
            ~F.col("_humidity_value").between(0, 100), F.lit("humidity_out_of_range")
        ),
    ]
    joined = F.concat_ws(";", *checks)
    return F.when(joined != "", joined)
