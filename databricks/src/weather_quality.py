"""The silver table's validation rules, as Spark column expressions over bronze's string columns.

Why one module: the rules are the contract the quarantine reasons name, and the tests' oracle re-implements
exactly these (``tests/test_weather_jobs.py``), so they must be easy to read in one place.

Each raw field is checked in turn; a row's ``reason`` is every failing check, joined with ``;`` in column
order (``missing_<field>``, ``bad_<field>`` when it does not parse, or a range code). A row with no reason
is valid. Rules:

* every field is required (null or blank → ``missing_<field>``);
* City_id: digits, 1 … 2³¹−1 (``bad_city_id``); Date: ``YYYY-MM-DD``, a real day, year ≥ 1 (``bad_date``);
* Hour: digits; 0–23, or 2400-style 0, 100, …, 2300 (→ hour / 100); anything else ``bad_hour``;
* Temp: a decimal number in −90…60 °C (``temp_out_of_range``); Wind_speed ≥ 0 (``wind_speed_negative``);
  Precipitation ≥ 0 (``precipitation_negative``); Humidity 0–100 (``humidity_out_of_range``);
* Description: trimmed and lower-cased.

Surrounding spaces are ignored (Spark's ``trim`` removes spaces only). Formats are checked with regular
expressions before anything is cast, because engines disagree about what a cast accepts (Sail casts
``"1e5"``, ``"NaN"`` and ``"2024-1-1"``; Databricks accepts other forms): the rules must not depend on the
engine.

Why two expressions, ``valid`` and ``reason``: the reason string (eight ``CASE`` chains joined) is the
costly part, so it is computed only for the rows that are not valid (a ``CASE`` evaluates its branch on
the selected rows only); ``valid`` is one flat ``AND`` of the same per-field checks. Measured on Sail with
10 M rows: 2.3 s instead of 4.7 s for computing reasons on every row (bench/RESULTS.md).
"""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

TEMP_MIN, TEMP_MAX = -90.0, 60.0
_SPACES = " *"  # what Spark's trim() removes, so ``^ *X *\z`` on the raw text is ``^X\z`` on the trimmed
# ``\z``, not ``$``: Java's ``$`` (Databricks) also matches before a final line break, Rust's (Sail) does not
_NUMBER = rf"^{_SPACES}-?[0-9]+(\.[0-9]+)?{_SPACES}\z"
_DIGITS = rf"^{_SPACES}[0-9]+{_SPACES}\z"
_DATE = rf"^{_SPACES}[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}{_SPACES}\z"
_FIRST_DAY = "0001-01-01"  # engines cast "0000-01-01" to a date that Python and pandas cannot hold

TYPED_COLUMNS = (
    "_city_id",
    "_date",
    "_hour",
    "_temp",
    "_wind_speed",
    "_description",
    "_precipitation",
    "_humidity",
)
"""Silver's columns as :func:`classify` adds them (exact for valid rows; meaningless for the others)."""


@dataclass(frozen=True)
class FieldRule:
    """One raw field: its format pattern, the condition on its parsed value (a column of
    :func:`classify`'s first projection), and an optional range check with its reason code."""

    raw: str
    code: str
    pattern: str | None
    accept: Column
    range_code: str | None = None
    in_range: Column | None = None

    def ok(self) -> Column:
        """True when the field passes every check; false or null when it does not."""
        ok = self.accept
        if self.pattern:
            ok = F.col(self.raw).rlike(self.pattern) & ok
        if self.in_range is not None:
            ok = ok & self.in_range
        return ok

    def reason(self) -> Column:
        """``missing_<code>``, ``bad_<code>``, the range code, or null."""
        missing = F.col(self.raw).isNull() | (F.trim(F.col(self.raw)) == "")
        parses = F.lit(True) if self.pattern is None else F.col(self.raw).rlike(self.pattern) & self.accept
        check = F.when(missing, F.lit(f"missing_{self.code}")).when(
            ~F.coalesce(parses, F.lit(False)), F.lit(f"bad_{self.code}")
        )
        if self.in_range is not None:
            check = check.when(~self.in_range, F.lit(self.range_code))
        return check


def _hour_accepted(value: Column) -> Column:
    return value.between(0, 23) | ((value % 100 == 0) & value.between(100, 2300))


def _number_rule(raw: str, code: str, parsed: str, range_code: str, in_range: Column) -> FieldRule:
    """A decimal-number field: it parses when the pattern matches and the cast succeeds."""
    return FieldRule(raw, code, _NUMBER, F.col(parsed).isNotNull(), range_code, in_range)


RULES = (
    FieldRule("City_id", "city_id", _DIGITS, F.col("_v_city").between(1, 2**31 - 1)),
    FieldRule("Date", "date", _DATE, F.col("_date") >= F.lit(_FIRST_DAY).cast("date")),
    FieldRule("Hour", "hour", _DIGITS, _hour_accepted(F.col("_v_hour"))),
    _number_rule("Temp", "temp", "_temp", "temp_out_of_range", F.col("_temp").between(TEMP_MIN, TEMP_MAX)),
    _number_rule("Wind_speed", "wind_speed", "_wind_speed", "wind_speed_negative", F.col("_wind_speed") >= 0),
    FieldRule("Description", "description", None, F.col("_description") != ""),
    _number_rule(
        "Precipitation",
        "precipitation",
        "_precipitation",
        "precipitation_negative",
        F.col("_precipitation") >= 0,
    ),
    _number_rule(
        "Humidity", "humidity", "_v_humidity", "humidity_out_of_range", F.col("_v_humidity").between(0, 100)
    ),
)
"""Every field's checks, in column order (the order of the reasons)."""


def _cast(name: str, to: str) -> Column:
    """try_cast of the trimmed text: no ANSI errors (30 digits overflow a long); formats are checked by
    the patterns, so what the engine's cast additionally accepts does not matter."""
    return F.trim(F.col(name)).try_cast(to)


def classify(raw: DataFrame) -> DataFrame:
    """``raw`` plus :data:`TYPED_COLUMNS` and ``reason`` (every failing rule, ``;``-joined; null = valid)."""
    parsed = raw.select(
        "*",
        _cast("City_id", "long").alias("_v_city"),
        _cast("Date", "date").alias("_date"),
        _cast("Hour", "int").alias("_v_hour"),
        _cast("Temp", "double").alias("_temp"),
        _cast("Wind_speed", "double").alias("_wind_speed"),
        F.lower(F.trim(F.col("Description"))).alias("_description"),
        _cast("Precipitation", "double").alias("_precipitation"),
        _cast("Humidity", "double").alias("_v_humidity"),
    )
    valid = RULES[0].ok()
    for rule in RULES[1:]:
        valid = valid & rule.ok()
    reasons = F.concat_ws(";", *[rule.reason() for rule in RULES])
    hour = F.col("_v_hour")
    return parsed.select(
        *raw.columns,
        F.col("_v_city").try_cast("int").alias("_city_id"),
        "_date",
        (hour % 100 + (hour / 100).cast("int")).cast("int").alias("_hour"),  # 0–23 as is, 2300 → 23
        "_temp",
        "_wind_speed",
        "_description",
        "_precipitation",
        F.col("_v_humidity").alias("_humidity"),  # as it arrived: never rounded (50.8 stays 50.8)
        F.when(valid, F.lit(None)).otherwise(reasons).alias("reason"),  # null `valid` → reasons
    )
