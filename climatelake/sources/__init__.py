"""Readers for real weather sources, each mapped to the seed raw schema the bronze job reads.

* :mod:`climatelake.sources.isd_lite` — NOAA ISD-Lite station-year files (fixed width, gzip or plain).
* :mod:`climatelake.sources.open_meteo` — Open-Meteo historical (archive API) hourly JSON answers.
* :mod:`climatelake.sources.fetch` — download one of them for a registered city and convert it.

Common rules (they are what the pipeline expects of a raw file; see README "Real sources"):

* Output is the seed CSV (:data:`climatelake.sample_data.COLUMNS`, UTF-8, ``,``, ``\\n``), one file per
  conversion under ``city=<id>/`` — the layout ``raw/weather/city=<id>/<name>.csv`` of the raw container.
* ``Date``/``Hour`` are **UTC** throughout climatelake (ISD-Lite is UTC already; Open-Meteo local times are
  shifted by the answer's ``utc_offset_seconds``). Units: Temp °C, Wind_speed m/s, Precipitation mm (the
  hour's total), Humidity % relative humidity.
* A measure the source does not have for an hour is an **empty field** (never -9999, never 0): the
  pipeline keeps the row and makes that measure NULL.
* A file that is not what it claims to be raises :class:`SourceFormatError` naming the file and line, and
  nothing is written (files are written to a temporary name and renamed).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from climatelake.sample_data import COLUMNS


class SourceFormatError(ValueError):
    """A source file (or answer) that cannot be read as its format; the message names file and line."""

    def __init__(self, source: str, line: int | None, problem: str) -> None:
        self.source = source
        self.line = line
        self.problem = problem
        where = f"{source}, line {line}" if line is not None else source
        super().__init__(f"{where}: {problem}")


def fmt(value: float | None, digits: int = 1) -> str:
    """A measure as the raw file holds it: rounded to ``digits`` decimals, ``""`` when missing.

    ``+ 0.0`` turns ``-0.0`` into ``0.0`` so a file never says ``-0.0``."""
    if value is None:
        return ""
    return repr(round(float(value), digits) + 0.0)


def rows_to_csv(rows: Iterable[dict[str, str]]) -> bytes:
    """The seed CSV of already formatted rows (all strings), same dialect as sample_data.rows_to_csv."""
    import csv
    import io

    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n", extrasaction="raise")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue().encode("utf-8")


def write_atomic(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` via a temporary file in the same folder and a rename, so a reader (or a
    crash) never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def raw_file_name(city_id: int, source: str, label: str) -> str:
    """``city=<id>/<source>_<label>.csv``: the name under ``raw/weather/`` a converted file gets."""
    return f"city={city_id}/{source}_{label}.csv"
