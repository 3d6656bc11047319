"""The city registry names the fixtures' stations and rejects unknown ids clearly."""

from pathlib import Path

import pytest

from climatelake import cities

FIXTURES = Path(__file__).parent / "fixtures" / "isd_lite"


def test_fixture_stations_are_registered() -> None:
    stations = {c.isd_station for c in cities.load().values()}
    for path in FIXTURES.glob("*.gz"):
        assert path.name.rsplit("-", 1)[0] in stations
    assert cities.get(101).name == "Chicago O'Hare" and cities.get(101).lat == pytest.approx(41.983)


def test_unknown_city_is_a_lookup_error() -> None:
    with pytest.raises(LookupError, match="city 99999 is not in the registry"):
        cities.get(99999)
