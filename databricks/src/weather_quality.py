"""The silver table's validation rules, as Spark column expressions over bronze's string columns.

Why one module: the rules are the contract the quarantine reasons name, and the tests' oracle re-implements
exactly these (``tests/test_weather_jobs.py``), so they must be easy to read in one place.

Missing is not invalid. Real observation data has empty fields all the time (a station without a rain gauge,
an hour the anemometer did not report), so:

* the **key** (City_id, Date, Hour) is required: null or blank → ``missing_<field>``, unparsable or out of
  range → ``bad_<field>``; either sends the row to quarantine;
* a **measure** (Temp, Wind_speed, Description, Precipitation, Humidity) that is null or blank is ``NULL``
  in silver for that measure only, and its name is listed in the row's ``missing_measures`` (an array, in
  column order; empty when nothing is missing). The row stays;
* a measure that is **present and wrong** (unparsable → ``bad_<field>``, or a range code) sends the *whole*
  row to quarantine with its reason, raw text kept. Decision: the row, not just that measure, because a
  present wrong value usually means the row is not what it claims (shifted columns, another unit, a broken
  sensor message), which casts doubt on its other values; the quarantine keeps every raw value, so nothing
  is lost and the row can be corrected and re-delivered;
* a row whose five measures are all missing is rejected as ``no_measures`` (it says nothing).

A row's ``reason`` is every failing check, joined with ``;`` in column order, ``no_measures`` last. A row with
no reason is valid. Ranges and formats:

* City_id: digits, 1 … 2³¹−1; Date: ``YYYY-MM-DD``, a real day, year ≥ 1;
* Hour: digits; 0–23, or 2400-style 0, 100, …, 2300 (→ hour / 100); anything else ``bad_hour``;
* Temp: a decimal number in −90…60 °C (``temp_out_of_range``); Wind_speed ≥ 0 (``wind_speed_negative``);
  Precipitation ≥ 0 (``precipitation_negative``); Humidity 0–100 (``humidity_out_of_range``);
* Description: trimmed and lower-cased. Numbers are DOUBLE, never rounded (50.8 stays 50.8).

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
    "_missing_measures",
)
"""Silver's columns as :func:`classify` adds them (exact for valid rows; meaningless for the others)."""

MEASURES = ("Temp", "Wind_speed", "Description", "Precipitation", "Humidity")
"""The raw fields that may be missing; ``missing_measures`` names them in lower case, in this order."""


def _blank(raw: str) -> Column:
    return F.col(raw).isNull() | (F.trim(F.col(raw)) == "")


@dataclass(frozen=True)
class FieldRule:
    """One raw field: its format pattern, the condition on its parsed value (a column of
    :func:`classify`'s first projection), and an optional range check with its reason code. A key field is
    required; a measure may be blank (then it is ``NULL``, not a failure)."""

    raw: str
    code: str
    pattern: str | None
    accept: Column
    range_code: str | None = None
    in_range: Column | None = None

    @property
    def is_measure(self) -> bool:
        return self.raw in MEASURES

    def ok(self) -> Column:
        """True when the field passes every check (a blank measure passes); false or null when not."""
        ok = self.accept
        if self.pattern:
            ok = F.col(self.raw).rlike(self.pattern) & ok
        if self.in_range is not None:
            ok = ok & self.in_range
        return _blank(self.raw) | ok if self.is_measure else ok

    def reason(self) -> Column:
        """``missing_<code>`` (keys only), ``bad_<code>``, the range code, or null."""
        parses = F.lit(True) if self.pattern is None else F.col(self.raw).rlike(self.pattern) & self.accept
        missing = F.lit(None) if self.is_measure else F.lit(f"missing_{self.code}")
        check = F.when(_blank(self.raw), missing).when(
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
    FieldRule("Description", "description", None, F.lit(True)),
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
    the patterns, so what the engine's cast additionally accepts does not matter. Blank → null."""
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
        F.when(~_blank("Description"), F.lower(F.trim(F.col("Description")))).alias("_description"),
        _cast("Precipitation", "double").alias("_precipitation"),
        _cast("Humidity", "double").alias("_v_humidity"),
    )
    no_measures = _blank(MEASURES[0])
    for measure in MEASURES[1:]:
        no_measures = no_measures & _blank(measure)
    valid = ~no_measures
    for rule in RULES:
        valid = valid & rule.ok()
    reasons = F.concat_ws(";", *[rule.reason() for rule in RULES], F.when(no_measures, F.lit("no_measures")))
    missing = F.array_compact(F.array(*[F.when(_blank(m), F.lit(m.lower())) for m in MEASURES]))
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
        missing.alias("_missing_measures"),
        F.when(valid, F.lit(None)).otherwise(reasons).alias("reason"),  # null `valid` → reasons
    )
