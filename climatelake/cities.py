"""The city registry: which real place (name, coordinates, time zone, NOAA station) a city id is.

Data: ``climatelake/cities.csv`` (``city_id,name,country,lat,lon,time_zone,isd_station``). Ids 101+ are
real places; the generator's synthetic cities (``climatelake data generate``: ids 1…N) have no names, so
the two never collide. ``isd_station`` is NOAA's ``<USAF>-<WBAN>`` (the ISD-Lite file name prefix), empty
when none is chosen. The stations of 101–103 are those of the test fixtures (checked against the files);
the others are taken from NOAA's isd-history station list and were not downloaded here (assumption).
``time_zone`` is informational: climatelake stores UTC.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

DATA = Path(__file__).with_name("cities.csv")


@dataclass(frozen=True)
class City:
    city_id: int
    name: str
    country: str
    lat: float
    lon: float
    time_zone: str
    isd_station: str  # "<USAF>-<WBAN>" or ""


def load(path: Path = DATA) -> dict[int, City]:
    """All registered cities by id."""
    with path.open(newline="", encoding="utf-8") as handle:
        return {
            int(r["city_id"]): City(
                int(r["city_id"]),
                r["name"],
                r["country"],
                float(r["lat"]),
                float(r["lon"]),
                r["time_zone"],
                r["isd_station"],
            )
            for r in csv.DictReader(handle)
        }


def get(city_id: int) -> City:
    """One city; ``LookupError`` (a one-line CLI message) if it is not registered."""
    cities = load()
    if city_id not in cities:
        raise LookupError(f"city {city_id} is not in the registry ({DATA.name}: ids {sorted(cities)})")
    return cities[city_id]
