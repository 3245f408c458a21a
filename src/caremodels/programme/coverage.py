"""Coverage of England by new care models, lens by lens.

A lens is a dated membership table: rows of (practice, member, start, end, source) saying which GP
practice counted towards which site or system from when. The covered population of a financial year
is the January 2021 list size of every practice a lens's table has active on 1 October of that year
(the middle of the year), each practice counted once, scaled to that day along England's
registered-population path (``caremodels.reference.list_growth``); the share is that over England's
registered population on the same day. So a lens is zero in every year before its first member
started, and a member that started in March 2015 counts from 2015/16.

Lenses:
- ``vanguards`` (MCP and PACS, the population-budget models, unless other types are chosen) and
  ``vanguards-mcp``, ``vanguards-pacs``, ... one per type: sites from their selection dates, over the
  site membership (built-in approximation or a user's CSV).
- ``ics-waves``: the accountable care systems of June 2017 (with Greater Manchester and Surrey
  Heartlands) and the later waves to the 18 integrated care systems of May 2020, from the shipped
  geography (``caremodels.reference.spread``).
- ``primary-care-homes``: primary care home sites a user registers (CSV), each validated against the
  model's 30,000-50,000 registered population.
- ``adopted-sites``: sites a user adds (YAML: name, care model, start date, practices), "adopt and
  adapt".
- ``combined``: every practice covered by any of the lenses above, from its earliest start.

A projection at the current pace extends a lens beyond its last year by the mean yearly change in
share over its last three years, to the year it would reach the goal.

Boundaries: reads reference data and the user's files only; no warehouse, no synthetic data.
"""

from __future__ import annotations

import csv
import datetime as dt
import math
from collections.abc import Collection, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from caremodels.errors import DataError
from caremodels.periods import financial_year_label
from caremodels.reference import (
    VANGUARD_CARE_MODELS,
    CareModelCode,
    care_model_types,
    practices,
    programme_constants,
    site_memberships,
    vanguard_sites,
)
from caremodels.reference.list_growth import list_scale_at
from caremodels.reference.spread import integrated_care_systems, system_practices

__all__ = [
    "DEFAULT_VANGUARD_MODELS",
    "PROJECTION_PACE_YEARS",
    "AdoptedSite",
    "CoverageLens",
    "LensCoverage",
    "LensMember",
    "LensYear",
    "Projection",
    "adopted_sites_lens",
    "available_lens_names",
    "census_day",
    "combined_lens",
    "coverage_lenses",
    "ics_waves_lens",
    "lens_coverage",
    "load_adopted_sites",
    "members_by_practice",
    "primary_care_homes_lens",
    "scaled_population",
    "vanguards_lens",
]

DEFAULT_VANGUARD_MODELS: tuple[str, ...] = ("MCP", "PACS")
PROJECTION_PACE_YEARS = 3
_PROJECTION_HORIZON = 15


class LensMember(BaseModel):
    """One row of a lens's membership table."""

    model_config = ConfigDict(frozen=True)

    practice_code: str
    member: str
    start: dt.date
    end: dt.date | None = None
    source: str

    def active_on(self, day: dt.date) -> bool:
        return self.start <= day and (self.end is None or day <= self.end)


class CoverageLens(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    title: str
    description: str
    sources: tuple[str, ...]
    members: tuple[LensMember, ...]


class LensYear(BaseModel):
    model_config = ConfigDict(frozen=True)

    financial_year: str
    census_date: dt.date
    practices: int
    covered_population: int
    england_population: int
    share: float
    goal_share: float | None


class Projection(BaseModel):
    """The lens carried forward at its current pace (mean change in share per year over its last
    ``PROJECTION_PACE_YEARS`` years)."""

    model_config = ConfigDict(frozen=True)

    pace_per_year: float
    from_financial_year: str
    years: tuple[tuple[str, float], ...]
    goal_reached_in: str | None


class LensCoverage(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    title: str
    description: str
    sources: tuple[str, ...]
    years: tuple[LensYear, ...]
    projection: Projection


class AdoptedSite(BaseModel):
    """A site a user adds: its care model, start date and practices ("adopt and adapt")."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1)
    care_model: CareModelCode
    start: dt.date
    end: dt.date | None = None
    practices: tuple[str, ...] = Field(min_length=1)
    source: str = "user file"

    @field_validator("practices")
    @classmethod
    def _codes(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(code.strip().upper() for code in value)


def census_day(year: int) -> dt.date:
    """The day a financial year's coverage is counted on: 1 October, its middle."""
    return dt.date(year, 10, 1)


def scaled_population(population_2021: float, year: int) -> float:
    """A January 2021 list size scaled to the census day of financial year ``year``."""
    return population_2021 * list_scale_at(census_day(year))


def _list_sizes() -> dict[str, int]:
    return {practice.practice_code: practice.list_size_2021 for practice in practices()}


def vanguards_lens(
    care_models: Collection[str] = DEFAULT_VANGUARD_MODELS,
    *,
    membership_file: Path | None = None,
    name: str = "vanguards",
) -> CoverageLens:
    memberships = site_memberships(membership_file)
    members = tuple(
        LensMember(
            practice_code=code,
            member=site.id,
            start=site.selected,
            source=f"vanguard site ({memberships[site.id].source})",
        )
        for site in vanguard_sites()
        if site.care_model in care_models
        for code in memberships[site.id].practice_codes
    )
    models = ", ".join(sorted(care_models))
    return CoverageLens(
        name=name,
        title=f"Vanguards ({models})",
        description=f"Practices served by the {models} vanguard sites, from each site's selection date.",
        sources=(
            "NHS England vanguard announcements (10 March, 24 July, 25 September 2015)",
            "site membership: "
            + ("user file" if membership_file else "built-in approximation (docs/vanguard-sites.md)"),
        ),
        members=members,
    )


def ics_waves_lens() -> CoverageLens:
    members = tuple(
        LensMember(
            practice_code=code,
            member=system.id,
            start=system.designated,
            source=system.source,
        )
        for system in integrated_care_systems()
        for code in system_practices(system)
    )
    return CoverageLens(
        name="ics-waves",
        title="Accountable and integrated care systems",
        description=(
            "The first accountable care systems of June 2017 with the Greater Manchester and Surrey "
            "Heartlands devolution deals, and the later waves to the 18 integrated care systems of "
            "May 2020; footprints approximated from January 2021 CCGs and postcode districts."
        ),
        sources=("reference data integrated_care_systems.yaml (see docs/coverage.md)",),
        members=members,
    )


def _open_csv(path: Path, required: set[str]) -> tuple[csv.DictReader[str], Any]:
    try:
        handle = path.open(newline="", encoding="utf-8")
    except OSError as error:
        raise DataError(f"cannot open file: {error.strerror}", file=path) from error
    reader = csv.DictReader(handle)
    missing = required - set(reader.fieldnames or [])
    if missing:
        handle.close()
        raise DataError(f"missing column(s) {', '.join(sorted(missing))}", file=path, row=1)
    return reader, handle


def _date(text: str | None, *, file: Path, row: int, field: str, required: bool) -> dt.date | None:
    cleaned = (text or "").strip()
    if not cleaned:
        if required:
            raise DataError("a date is required (YYYY-MM-DD)", file=file, row=row, field=field)
        return None
    try:
        return dt.date.fromisoformat(cleaned)
    except ValueError as error:
        raise DataError("not a date such as 2016-04-01", file=file, row=row, field=field) from error


def primary_care_homes_lens(path: Path) -> CoverageLens:
    """Primary care home sites from a CSV with columns ``site``, ``practice_code``, ``start_date`` and
    optionally ``end_date``. Each site's registered population on its start date must lie within the
    model's 30,000-50,000; a site outside it is refused, naming the site and its population."""
    pch = next(model for model in care_model_types() if model.code == "PCH")
    sizes = _list_sizes()
    rows: list[tuple[int, str, str, dt.date, dt.date | None]] = []
    reader, handle = _open_csv(path, {"site", "practice_code", "start_date"})
    with handle:
        for number, row in enumerate(reader, start=2):
            site = (row["site"] or "").strip()
            if not site:
                raise DataError("empty site name", file=path, row=number, field="site")
            code = (row["practice_code"] or "").strip().upper()
            if code not in sizes:
                raise DataError(
                    "not a GP practice in the reference list", file=path, row=number, field="practice_code"
                )
            start = _date(row["start_date"], file=path, row=number, field="start_date", required=True)
            end = _date(row.get("end_date"), file=path, row=number, field="end_date", required=False)
            if start is None:  # unreachable: a required date is never None
                raise DataError("a date is required", file=path, row=number, field="start_date")
            rows.append((number, site, code, start, end))
    if not rows:
        raise DataError("no primary care home sites in the file", file=path)
    by_site: dict[str, list[tuple[int, str, str, dt.date, dt.date | None]]] = {}
    for entry in rows:
        by_site.setdefault(entry[1], []).append(entry)
    for site, entries in by_site.items():
        starts = {entry[3] for entry in entries}
        if len(starts) != 1:
            raise DataError(
                f"site {site!r} has more than one start_date",
                file=path,
                row=entries[0][0],
                field="start_date",
            )
        start = entries[0][3]
        population = sum(sizes[entry[2]] for entry in entries) * list_scale_at(start)
        low, high = pch.registered_population_min or 0, pch.registered_population_max or math.inf
        if not low <= population <= high:
            raise DataError(
                f"site {site!r} has a registered population of {population:,.0f} on {start.isoformat()}; "
                f"a primary care home serves {low:,} to {high:,}",
                file=path,
                row=entries[0][0],
                field="practice_code",
            )
    return CoverageLens(
        name="primary-care-homes",
        title="Primary care homes",
        description=(
            "Primary care home sites registered by the user, each serving 30,000 to 50,000 people "
            "(NAPC), from each site's start date."
        ),
        sources=(f"user file {path.name}",),
        members=tuple(
            LensMember(practice_code=code, member=site, start=start, end=end, source=f"user file {path.name}")
            for _, site, code, start, end in rows
        ),
    )


def load_adopted_sites(path: Path) -> tuple[AdoptedSite, ...]:
    """A YAML file ``sites: [{name, care_model, start, practices, [end], [source]}]``."""
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise DataError(f"cannot read sites file: {error.strerror}", file=path) from error
    except yaml.YAMLError as error:
        raise DataError(f"not valid YAML: {error}", file=path) from error
    if not isinstance(document, dict) or not isinstance(document.get("sites"), list):
        raise DataError("expected a mapping with a list under 'sites'", file=path)
    known = _list_sizes()
    sites = []
    for index, record in enumerate(document["sites"], start=1):
        try:
            site = AdoptedSite.model_validate(record)
        except ValidationError as error:
            first = error.errors()[0]
            field = ".".join(str(part) for part in first["loc"])
            raise DataError(f"site {index}: {first['msg']}", file=path, field=field) from error
        for code in site.practices:
            if code not in known:
                raise DataError(
                    f"site {index} ({site.name}): {code[:6]!r} is not a GP practice in the reference list",
                    file=path,
                    field="practices",
                )
        sites.append(site)
    names = [site.name for site in sites]
    if len(set(names)) != len(names):
        raise DataError("two sites have the same name", file=path, field="name")
    return tuple(sites)


def adopted_sites_lens(path: Path) -> CoverageLens:
    sites = load_adopted_sites(path)
    return CoverageLens(
        name="adopted-sites",
        title="Sites that adopted a care model",
        description="Sites the user registered with their care model, practices and start date.",
        sources=(f"user file {path.name}",),
        members=tuple(
            LensMember(
                practice_code=code,
                member=f"{site.name} ({site.care_model})",
                start=site.start,
                end=site.end,
                source=site.source,
            )
            for site in sites
            for code in site.practices
        ),
    )


def combined_lens(lenses: Iterable[CoverageLens]) -> CoverageLens:
    chosen = list(lenses)
    return CoverageLens(
        name="combined",
        title="All new care models",
        description="Every practice covered by any lens (" + ", ".join(lens.name for lens in chosen) + ").",
        sources=tuple(source for lens in chosen for source in lens.sources),
        members=tuple(
            LensMember(
                practice_code=member.practice_code,
                member=f"{lens.name}: {member.member}",
                start=member.start,
                end=member.end,
                source=member.source,
            )
            for lens in chosen
            for member in lens.members
        ),
    )


def available_lens_names() -> tuple[str, ...]:
    return (
        "vanguards",
        *(f"vanguards-{model.lower()}" for model in VANGUARD_CARE_MODELS),
        "ics-waves",
        "primary-care-homes",
        "adopted-sites",
        "combined",
    )


def coverage_lenses(
    *,
    vanguard_models: Collection[str] = DEFAULT_VANGUARD_MODELS,
    membership_file: Path | None = None,
    primary_care_homes_file: Path | None = None,
    adopted_sites_file: Path | None = None,
) -> dict[str, CoverageLens]:
    """Every lens the inputs allow, by name (the user lenses only when their file is given)."""
    main = vanguards_lens(vanguard_models, membership_file=membership_file)
    lenses: dict[str, CoverageLens] = {"vanguards": main}
    for model in VANGUARD_CARE_MODELS:
        name = f"vanguards-{model.lower()}"
        lenses[name] = vanguards_lens([model], membership_file=membership_file, name=name)
    lenses["ics-waves"] = ics_waves_lens()
    if primary_care_homes_file is not None:
        lenses["primary-care-homes"] = primary_care_homes_lens(primary_care_homes_file)
    if adopted_sites_file is not None:
        lenses["adopted-sites"] = adopted_sites_lens(adopted_sites_file)
    parts = [main, lenses["ics-waves"]] + [
        lenses[name] for name in ("primary-care-homes", "adopted-sites") if name in lenses
    ]
    lenses["combined"] = combined_lens(parts)
    return lenses


def _projection(years: Sequence[LensYear], goal: float, last_year: int) -> Projection:
    window = list(years[-(PROJECTION_PACE_YEARS + 1) :])
    pace = (window[-1].share - window[0].share) / (len(window) - 1) if len(window) > 1 else 0.0
    # Shares equal to ~1e-17 when nothing changed: that is no pace at all.
    pace = 0.0 if abs(pace) < 1e-12 else pace
    share = years[-1].share if years else 0.0
    projected: list[tuple[str, float]] = []
    reached = next((year.financial_year for year in years if year.share >= goal), None)
    if reached is None and pace > 0:
        for step in range(1, _PROJECTION_HORIZON + 1):
            share = min(1.0, share + pace)
            label = financial_year_label(last_year + step)
            projected.append((label, share))
            if share >= goal:
                reached = label
                break
    return Projection(
        pace_per_year=pace,
        from_financial_year=years[-1].financial_year if years else financial_year_label(last_year),
        years=tuple(projected),
        goal_reached_in=reached,
    )


def lens_coverage(
    lens: CoverageLens, *, first_year: int = 2014, last_year: int | None = None
) -> LensCoverage:
    """A lens's covered population and share of England per financial year, with its projection."""
    constants = programme_constants()
    last_year = last_year if last_year is not None else constants.coverage_goal_financial_year
    sizes = _list_sizes()
    england_2021 = sum(sizes.values())
    years = []
    for year in range(first_year, last_year + 1):
        day = census_day(year)
        codes = {member.practice_code for member in lens.members if member.active_on(day)}
        # A practice missing from the January 2021 list (a user's membership may name one) has no
        # 2021 list size to scale, so it adds nothing.
        covered = scaled_population(sum(sizes.get(code, 0) for code in codes), year)
        england = scaled_population(england_2021, year)
        years.append(
            LensYear(
                financial_year=financial_year_label(year),
                census_date=day,
                practices=len(codes),
                covered_population=round(covered),
                england_population=round(england),
                share=covered / england,
                goal_share=constants.coverage_goal_share
                if year == constants.coverage_goal_financial_year
                else None,
            )
        )
    return LensCoverage(
        name=lens.name,
        title=lens.title,
        description=lens.description,
        sources=lens.sources,
        years=tuple(years),
        projection=_projection(years, constants.coverage_goal_share, last_year),
    )


def members_by_practice(lens: CoverageLens) -> Mapping[str, list[LensMember]]:
    grouped: dict[str, list[LensMember]] = {}
    for member in lens.members:
        grouped.setdefault(member.practice_code, []).append(member)
    return grouped
