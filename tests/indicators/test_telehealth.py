"""Telehealth travel saved: Millom's video consultations with Furness General's A&E in 2016/17 saved
1,281.6 road miles and 37 h 12 min. A fixture of 24 consultations advised at home over a 26.7-mile,
46.5-minute road journey (plus some conveyed or attended, which save nothing) reproduces both exactly."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest

from caremodels.errors import DataError
from caremodels.indicators.telehealth import VideoConsultation, default_table, load_table, travel_saved

MILLOM, FURNESS = "A82021", "RTXA"  # a Millom surgery and Furness General (site codes as labels)


def _table(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "distances.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_known_trips_reproduce_miles_and_hours_exactly(tmp_path: Path) -> None:
    table = load_table(
        _table(tmp_path, f"from_site,to_site,road_miles,road_minutes\n{MILLOM},{FURNESS},26.7,46.5\n")
    )
    start = dt.date(2016, 4, 4)
    consultations = [
        VideoConsultation(start + dt.timedelta(days=7 * week), MILLOM, FURNESS, "advised_at_home")
        for week in range(24)
    ] + [
        VideoConsultation(dt.date(2016, 9, 1), MILLOM, FURNESS, "conveyed"),
        VideoConsultation(dt.date(2016, 10, 1), MILLOM, FURNESS, "attended"),
    ]
    (year,) = [saved for saved in travel_saved(consultations, table) if saved.year == 2016]
    assert year.miles == Decimal("1281.6")
    assert year.minutes == Decimal("2232.0") and year.hours_and_minutes == "37 h 12 min"
    assert (year.consultations, year.journeys_avoided, year.conveyed) == (26, 24, 1)


def test_the_default_table_from_coordinates_states_its_assumptions() -> None:
    # Two points one degree of latitude apart: 69.1 straight-line miles, x 1.3 = 89.8 road miles,
    # at 30 mph = 179.6 minutes.
    table = default_table({"a": (54.0, -3.0), "b": (55.0, -3.0)}, [("a", "b")])
    assert table[("a", "b")].miles == Decimal("89.8") and table[("b", "a")].minutes == Decimal("179.6")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("from_site,to_site,road_miles\n", "road_minutes"),
        ("from_site,to_site,road_miles,road_minutes\na,b,far,10\n", "row 2"),
        ("from_site,to_site,road_miles,road_minutes\na,b,10,0\n", "must be above 0"),
        ("from_site,to_site,road_miles,road_minutes\na,b,1,1\na,b,2,2\n", "given twice"),
    ],
)
def test_a_bad_table_names_file_row_field_and_reason(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(DataError, match=expected) as raised:
        load_table(_table(tmp_path, text))
    assert "distances.csv" in str(raised.value)


def test_a_pair_missing_from_the_table_is_an_error(tmp_path: Path) -> None:
    table = load_table(_table(tmp_path, "from_site,to_site,road_miles,road_minutes\na,b,1,1\n"))
    with pytest.raises(DataError, match="no road distance"):
        travel_saved([VideoConsultation(dt.date(2017, 1, 1), "a", "c", "advised_at_home")], table)
