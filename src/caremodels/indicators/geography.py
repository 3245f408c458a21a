"""Geographies for indicators: how the practices in a warehouse are grouped into areas at a level.

Levels:
- ``practice``: each GP practice.
- ``pcn``: primary care networks or primary care homes, from a user's CSV (``group,practice_code``):
  PCN membership is not shipped with caremodels (PCNs began in 2019, after the programme, and their
  membership changes), so it must be supplied.
- ``ccg``: the practice's clinical commissioning group in the shipped practice list (January 2021).
- ``site``: the vanguard sites, by the built-in approximate membership or a user's membership CSV
  (see ``caremodels.reference.site_memberships``); sites with no practices have no rows.
- ``care_model``: every practice of any site of a vanguard care model type (MCP, PACS, EHCH, UEC, ACC).
- ``rest_of_england``: for each care model type (the code), every practice in the warehouse outside
  all sites of that type.
- ``england``: every practice in the warehouse (code E92000001).
- ``group``: any grouping of practices a user defines in a CSV (``group,practice_code``).
- ``provider``: each NHS trust (ODS code), by the provider code on the events themselves rather
  than the patient's practice (``unit == "provider"``). Only tables whose events carry a provider
  can be counted so; a trust has no registered population, so a rate per registered patient gives
  the count of events and no rate, and care-home cohorts (which move events to the home's
  practice) cannot be counted by provider (:func:`provider_level_note` says which).

A practice may belong to several areas of a level (for example two sites). Practices in the warehouse
that are missing from the shipped practice list have no CCG.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal, get_args

from caremodels.errors import DataError
from caremodels.reference import (
    VANGUARD_CARE_MODELS,
    SiteMembership,
    practices,
    site_memberships,
    vanguard_sites,
)

if TYPE_CHECKING:
    from caremodels.indicators.definition import IndicatorDefinition

__all__ = [
    "ALWAYS",
    "ENGLAND_CODE",
    "LEVELS",
    "PROVIDER_COLUMNS",
    "AreaSet",
    "Level",
    "Unit",
    "area_set",
    "event_unit_column",
    "level_name",
    "provider_level_note",
    "read_practice_groups",
]

Level = Literal[
    "practice", "pcn", "ccg", "site", "care_model", "rest_of_england", "england", "group", "provider"
]
Unit = Literal["practice", "provider"]
LEVELS: tuple[Level, ...] = get_args(Level)
ENGLAND_CODE = "E92000001"
"""ONS code for England."""

_PRACTICE_CODE = re.compile(r"^[A-Z][0-9]{5}$")
PROVIDER_COLUMNS: Mapping[str, str] = {
    "apc_spells": "provider_code",
    "ae_attendances": "provider_code",
    "op_attendances": "provider_code",
    "referrals": "provider_code",
    "advice_and_guidance": "provider_code",
    # The ambulance service that took the call (the trust that runs it), not the destination.
    "ambulance_incidents": "ambulance_trust_code",
}
"""For each event table that carries one, the column holding the providing trust's ODS code."""


@dataclass(frozen=True)
class AreaSet:
    """The areas of one level.

    ``kind`` says how to read ``areas``: ``each_practice`` (every practice is its own area;
    ``areas`` is empty), ``members`` (area code -> the practices in it), or ``all_except``
    (area code -> the practices left out; every other practice in the warehouse is in).
    """

    level: Level
    kind: Literal["each_practice", "members", "all_except"]
    areas: Mapping[str, frozenset[str]]
    source: str
    unit: Unit = "practice"
    """What the engines key events by before grouping into areas: the patient's practice, or the
    provider on the event (``provider`` level, where each "practice" of ``kind`` is a trust)."""
    windows: Mapping[str, Mapping[str, tuple[tuple[int, int], ...]]] = dataclasses.field(default_factory=dict)
    """For ``members`` areas of a dated membership: area code -> practice -> the spans of month
    indexes (``caremodels.indicators.periods.month_index``, inclusive) in which the practice's
    events count for the area. A practice not listed counts in every month."""

    def spans_of(self, code: str, practice: str) -> tuple[tuple[int, int], ...]:
        """The month spans in which ``practice`` counts for area ``code`` (``ALWAYS`` if undated)."""
        return self.windows.get(code, {}).get(practice, ALWAYS)

    def counts_in(self, code: str, practice: str, month: int) -> bool:
        """Whether ``practice``'s events of month index ``month`` count for area ``code``."""
        spans = self.windows.get(code, {}).get(practice)
        return spans is None or any(first <= month <= last for first, last in spans)

    def practices_of(self, code: str, present: frozenset[str]) -> frozenset[str]:
        """The practices of area ``code`` among those ``present`` in a warehouse."""
        if self.kind == "each_practice":
            return frozenset({code}) & present
        if self.kind == "members":
            return self.areas[code] & present
        return present - self.areas[code]

    def codes(self, present: frozenset[str]) -> list[str]:
        """Area codes with at least one practice among those present."""
        if self.kind == "each_practice":
            return sorted(present)
        return sorted(code for code in self.areas if self.practices_of(code, present))


def level_name(text: str) -> Level:
    """Validate a level name; raises ``ValueError`` naming the choices."""
    for level in LEVELS:
        if text == level:
            return level
    raise ValueError(f"no level {text!r} (choose from {', '.join(LEVELS)})")


def read_practice_groups(path: Path) -> dict[str, frozenset[str]]:
    """A CSV with columns ``group`` and ``practice_code``, one row per practice in a group."""
    try:
        handle = path.open(newline="", encoding="utf-8")
    except OSError as error:
        raise DataError(f"cannot open groups file: {error.strerror}", file=path) from error
    groups: dict[str, set[str]] = {}
    with handle:
        reader = csv.DictReader(handle)
        missing = {"group", "practice_code"} - set(reader.fieldnames or [])
        if missing:
            raise DataError(f"missing column(s) {', '.join(sorted(missing))}", file=path, row=1)
        for row_number, row in enumerate(reader, start=2):
            group = (row["group"] or "").strip()
            code = (row["practice_code"] or "").strip().upper()
            if not group:
                raise DataError("empty group name", file=path, row=row_number, field="group")
            if not _PRACTICE_CODE.match(code):
                raise DataError(
                    "not a GP practice ODS code (a letter and five digits)",
                    file=path,
                    row=row_number,
                    field="practice_code",
                )
            groups.setdefault(group, set()).add(code)
    if not groups:
        raise DataError("no groups in the file", file=path)
    return {group: frozenset(codes) for group, codes in groups.items()}


_OPEN_START, _OPEN_END = 0, 10**6  # month indexes before and after any data
ALWAYS: tuple[tuple[int, int], ...] = ((_OPEN_START, _OPEN_END),)
"""The month spans of an undated member: every month."""


def _month_spans(
    spans: tuple[tuple[dt.date | None, dt.date | None], ...],
) -> tuple[tuple[int, int], ...]:
    """Membership spans in days as inclusive spans of month indexes: a month counts when the
    practice is a member on any of its days (``caremodels.reference.member_in_month``)."""
    months = sorted(
        (
            _OPEN_START if first is None else first.year * 12 + first.month - 1,
            _OPEN_END if last is None else last.year * 12 + last.month - 1,
        )
        for first, last in spans
    )
    # Spans sharing a month are merged, so that no month's events count twice.
    merged: list[tuple[int, int]] = []
    for first_month, last_month in months:
        if merged and first_month <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], last_month))
        else:
            merged.append((first_month, last_month))
    return tuple(merged)


def _dated(memberships: Mapping[str, SiteMembership]) -> dict[str, dict[str, tuple[tuple[int, int], ...]]]:
    return {
        site_id: {code: _month_spans(spans) for code, spans in membership.windows.items()}
        for site_id, membership in memberships.items()
        if membership.windows
    }


def _care_model_practices(site_membership_file: Path | None) -> dict[str, frozenset[str]]:
    memberships = site_memberships(site_membership_file)
    by_model: dict[str, set[str]] = {model: set() for model in VANGUARD_CARE_MODELS}
    for site in vanguard_sites():
        by_model[site.care_model].update(memberships[site.id].practice_codes)
    return {model: frozenset(codes) for model, codes in by_model.items()}


def area_set(
    level: Level, *, groups_file: Path | None = None, site_membership_file: Path | None = None
) -> AreaSet:
    """The areas of ``level``. ``groups_file`` is required for ``pcn`` and ``group``."""
    membership_source = "user file" if site_membership_file else "built-in approximation"
    if level == "provider":
        return AreaSet(
            level, "each_practice", {}, "NHS trusts (provider code on each event)", unit="provider"
        )
    if level == "practice":
        return AreaSet(level, "each_practice", {}, "GP practices")
    if level in ("pcn", "group"):
        if groups_file is None:
            what = "primary care network or home" if level == "pcn" else "group"
            raise DataError(
                f"level {level} needs a CSV of {what} membership (columns group,practice_code): "
                "give it with --groups"
                + (" (PCN membership is not shipped with caremodels)" if level == "pcn" else "")
            )
        return AreaSet(level, "members", read_practice_groups(groups_file), f"user file {groups_file.name}")
    if level == "ccg":
        by_ccg: dict[str, set[str]] = {}
        for practice in practices():
            by_ccg.setdefault(practice.ccg_code, set()).add(practice.practice_code)
        areas = {ccg: frozenset(codes) for ccg, codes in by_ccg.items()}
        return AreaSet(level, "members", areas, "shipped practice list (January 2021)")
    if level == "site":
        memberships = site_memberships(site_membership_file)
        areas = {
            site_id: frozenset(membership.practice_codes)
            for site_id, membership in memberships.items()
            if membership.practice_codes
        }
        return AreaSet(
            level,
            "members",
            areas,
            f"vanguard sites ({membership_source})",
            windows=_dated({site_id: memberships[site_id] for site_id in areas}),
        )
    if level == "care_model":
        areas = {m: codes for m, codes in _care_model_practices(site_membership_file).items() if codes}
        return AreaSet(level, "members", areas, f"vanguard care model types ({membership_source})")
    if level == "rest_of_england":
        return AreaSet(
            level,
            "all_except",
            _care_model_practices(site_membership_file),
            f"practices outside the sites of each care model type ({membership_source})",
        )
    return AreaSet(level, "all_except", {ENGLAND_CODE: frozenset()}, "every practice in the warehouse")


def event_unit_column(table: str, practice_column: str, unit: Unit) -> str:
    """The column an engine keys ``table``'s events by for ``unit``."""
    if unit == "practice":
        return practice_column
    if table not in PROVIDER_COLUMNS:
        raise DataError(f"{table} events carry no provider, so they cannot be counted by provider")
    return PROVIDER_COLUMNS[table]


def provider_level_note(definition: IndicatorDefinition) -> tuple[bool, str]:
    """Whether ``definition`` can be computed at provider level, and a sentence saying what a
    provider row then holds (or why there is none)."""
    from caremodels.indicators.definition import CareHomeResidentYears, RegisteredPopulation

    numerator, denominator = definition.numerator, definition.denominator
    if numerator.cohort == "care_home_residents":
        return False, "counts care home residents' events at their home's practice, so not by provider"
    tables = [numerator.table] + (
        [] if isinstance(denominator, RegisteredPopulation | CareHomeResidentYears) else [denominator.table]
    )
    lacking = [table for table in tables if table not in PROVIDER_COLUMNS]
    if lacking:
        return False, f"{', '.join(sorted(set(lacking)))} events carry no provider"
    if isinstance(denominator, RegisteredPopulation | CareHomeResidentYears):
        return (
            True,
            "a trust has no registered population: provider rows give the numerator only, with no rate",
        )
    return True, "numerator and denominator are both counted at the providing trust"
