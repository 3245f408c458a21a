"""Telehealth: travel saved by video consultations between two sites (a GP surgery and an A&E).

A video consultation whose outcome is ``advised_at_home`` saves the patient's journey from the first
site to the second and back; ``conveyed`` and ``attended`` save nothing (the patient travelled). The
journey comes from a site-pair table of road distance and time: a user's table (CSV: ``from_site``,
``to_site``, ``road_miles``, ``road_minutes``), or the documented default from coordinates: the
great-circle distance times a circuity factor (``CIRCUITY_FACTOR``, road miles per straight-line mile)
at an average road speed (``AVERAGE_SPEED_MPH``); both are stated assumptions and can be changed.

Sums are exact: miles and minutes are Decimals read from the table's text, so a fixture with known
trips reproduces its published totals to the last digit.

Boundaries: pure functions over site codes, dates and outcomes (no patients); a bad table raises a
``DataError`` naming the file, row, field and reason.
"""

from __future__ import annotations

import csv
import datetime as dt
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Literal

from caremodels.errors import DataError

__all__ = [
    "AVERAGE_SPEED_MPH",
    "CIRCUITY_FACTOR",
    "OUTCOMES",
    "Journey",
    "TravelSaved",
    "VideoConsultation",
    "default_table",
    "load_table",
    "travel_saved",
]

# Stated assumptions for the default table (change them per site): road distance is taken as 1.3
# times the straight line, driven at 30 mph on average (rural A-roads with towns on the way).
CIRCUITY_FACTOR = Decimal("1.3")
AVERAGE_SPEED_MPH = Decimal("30")
EARTH_RADIUS_MILES = 3958.8

Outcome = Literal["advised_at_home", "conveyed", "attended"]
OUTCOMES: tuple[Outcome, ...] = ("advised_at_home", "conveyed", "attended")


@dataclass(frozen=True)
class Journey:
    miles: Decimal  # one way
    minutes: Decimal  # one way


@dataclass(frozen=True)
class VideoConsultation:
    day: dt.date
    from_site: str  # where the patient is (the GP surgery)
    to_site: str  # where they would have gone (the A&E)
    outcome: Outcome


@dataclass(frozen=True)
class TravelSaved:
    year: int
    consultations: int
    journeys_avoided: int  # advised at home: no journey to the second site
    conveyed: int
    miles: Decimal  # round trips avoided
    minutes: Decimal

    @property
    def hours_and_minutes(self) -> str:
        whole = int(self.minutes)
        rest = self.minutes - whole
        return f"{whole // 60} h {whole % 60} min" + (f" {rest * 60:.0f} s" if rest else "")


def load_table(path: Path) -> dict[tuple[str, str], Journey]:
    """A user's site-pair table; each pair is used in both directions unless given both ways."""
    table: dict[tuple[str, str], Journey] = {}
    try:
        handle = path.open(encoding="utf-8", newline="")
    except OSError as error:
        raise DataError(f"cannot read the distance table ({error.strerror})", file=path) from error
    with handle:
        reader = csv.DictReader(handle)
        wanted = ("from_site", "to_site", "road_miles", "road_minutes")
        missing = [name for name in wanted if name not in (reader.fieldnames or [])]
        if missing:
            raise DataError(
                f"the distance table needs columns {', '.join(missing)}", file=path, field=missing[0]
            )
        for row_number, row in enumerate(reader, start=2):
            values = {}
            for name in ("road_miles", "road_minutes"):
                try:
                    values[name] = Decimal(row[name].strip())
                except (InvalidOperation, AttributeError):
                    raise DataError(
                        f"{name} is not a number", field=name, row=row_number, file=path
                    ) from None
                if not values[name] > 0:
                    raise DataError(f"{name} must be above 0", field=name, row=row_number, file=path)
            pair = (row["from_site"].strip(), row["to_site"].strip())
            if not all(pair):
                raise DataError("a site code is empty", field="from_site", row=row_number, file=path)
            if pair in table:
                raise DataError("the pair is given twice", field="to_site", row=row_number, file=path)
            table[pair] = Journey(values["road_miles"], values["road_minutes"])
    for (a, b), journey in list(table.items()):
        table.setdefault((b, a), journey)
    return table


def default_table(
    coordinates: Mapping[str, tuple[float, float]],
    pairs: Iterable[tuple[str, str]],
    *,
    circuity: Decimal = CIRCUITY_FACTOR,
    speed_mph: Decimal = AVERAGE_SPEED_MPH,
) -> dict[tuple[str, str], Journey]:
    """Road distance and time for site pairs from (latitude, longitude): great circle x circuity."""
    table = {}
    for a, b in pairs:
        if a not in coordinates or b not in coordinates:
            raise DataError(f"no coordinates for site {a if a not in coordinates else b}", field="site")
        (lat1, lon1), (lat2, lon2) = coordinates[a], coordinates[b]
        p1, p2 = math.radians(lat1), math.radians(lat2)
        h = (
            math.sin((p2 - p1) / 2) ** 2
            + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
        )
        straight = Decimal(str(round(2 * EARTH_RADIUS_MILES * math.asin(math.sqrt(h)), 1)))
        miles = (straight * circuity).quantize(Decimal("0.1"))
        table[(a, b)] = table[(b, a)] = Journey(miles, (miles / speed_mph * 60).quantize(Decimal("0.1")))
    return table


def travel_saved(
    consultations: Iterable[VideoConsultation], table: Mapping[tuple[str, str], Journey]
) -> list[TravelSaved]:
    """Miles, time and journeys avoided per calendar year (a round trip per consultation advised at home)."""
    years: dict[int, list[VideoConsultation]] = {}
    for consultation in consultations:
        if consultation.outcome not in OUTCOMES:
            raise DataError(
                f"outcome {consultation.outcome!r} is not one of {', '.join(OUTCOMES)}", field="outcome"
            )
        years.setdefault(consultation.day.year, []).append(consultation)
    results = []
    for year, items in sorted(years.items()):
        miles = minutes = Decimal(0)
        avoided = 0
        for item in items:
            if item.outcome != "advised_at_home":
                continue
            journey = table.get((item.from_site, item.to_site))
            if journey is None:
                raise DataError(
                    f"no road distance for {item.from_site} to {item.to_site}: add the pair to the distance table",
                    field="to_site",
                )
            avoided += 1
            miles += 2 * journey.miles
            minutes += 2 * journey.minutes
        results.append(
            TravelSaved(
                year=year,
                consultations=len(items),
                journeys_avoided=avoided,
                conveyed=sum(1 for item in items if item.outcome == "conveyed"),
                miles=miles,
                minutes=minutes,
            )
        )
    return results
