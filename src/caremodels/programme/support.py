"""The support log: what national support each site received, when, and what it asked for, under the
eight national enablers (``caremodels.reference.enablers``).

A programme team keeps the log as a CSV with columns ``site`` (a vanguard site's id, name or short
name), ``enabler`` (number 1-8 or name), ``date`` (ISO), ``asked_for`` and ``received`` (either may
be blank: a request not (yet) met, or support offered unasked), and optionally ``provided_by`` and
``notes``. ``support_log`` validates it; ``site_support`` and ``enabler_support`` summarise who got
what; ``outcome_groups`` turns "received enabler N or not" into practice groups, so outcomes can be
compared with the indicators and evaluations (``--groups``).

Boundaries: reads reference data and the user's file only.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from caremodels.errors import DataError, ReferenceDataError
from caremodels.reference import Enabler, enablers, find_site, site_memberships, vanguard_sites

__all__ = [
    "EnablerSupport",
    "SiteSupport",
    "SupportEntry",
    "enabler_support",
    "find_enabler",
    "outcome_groups",
    "site_support",
    "support_log",
    "write_outcome_groups",
]

_REQUIRED = ("site", "enabler", "date", "asked_for", "received")


class SupportEntry(BaseModel):
    model_config = ConfigDict(frozen=True)

    row: int
    site_id: str
    site_name: str
    care_model: str
    enabler_number: int
    enabler_name: str
    date: dt.date
    asked_for: str
    received: str
    provided_by: str
    notes: str

    @property
    def met(self) -> bool:
        return bool(self.received)


class SiteSupport(BaseModel):
    model_config = ConfigDict(frozen=True)

    site_id: str
    site_name: str
    care_model: str
    entries: int
    received: int
    unmet_requests: int
    enablers_received: tuple[int, ...]
    first: dt.date | None
    last: dt.date | None


class EnablerSupport(BaseModel):
    model_config = ConfigDict(frozen=True)

    number: int
    name: str
    sites_received: tuple[str, ...]
    sites_asked_not_received: tuple[str, ...]
    entries: int


def find_enabler(text: str) -> Enabler:
    """An enabler by number or name (ignoring case)."""
    wanted = text.strip().casefold()
    for enabler in enablers():
        if wanted in (str(enabler.number), enabler.name.casefold()):
            return enabler
    names = "; ".join(f"{e.number} {e.name}" for e in enablers())
    raise ReferenceDataError(f"no enabler {text.strip()[:60]!r} (the eight are: {names})")


def support_log(path: Path) -> tuple[SupportEntry, ...]:
    try:
        handle = path.open(newline="", encoding="utf-8")
    except OSError as error:
        raise DataError(f"cannot open support log: {error.strerror}", file=path) from error
    entries = []
    with handle:
        reader = csv.DictReader(handle)
        missing = set(_REQUIRED) - set(reader.fieldnames or [])
        if missing:
            raise DataError(f"missing column(s) {', '.join(sorted(missing))}", file=path, row=1)
        for number, row in enumerate(reader, start=2):
            try:
                site = find_site(row["site"] or "")
            except ReferenceDataError as error:
                raise DataError(error.reason, file=path, row=number, field="site") from error
            try:
                enabler = find_enabler(row["enabler"] or "")
            except ReferenceDataError as error:
                raise DataError(error.reason, file=path, row=number, field="enabler") from error
            try:
                day = dt.date.fromisoformat((row["date"] or "").strip())
            except ValueError as error:
                raise DataError(
                    "not a date such as 2016-05-01", file=path, row=number, field="date"
                ) from error
            asked, received = (row["asked_for"] or "").strip(), (row["received"] or "").strip()
            if not asked and not received:
                raise DataError("give what was asked for, what was received, or both", file=path, row=number)
            entries.append(
                SupportEntry(
                    row=number,
                    site_id=site.id,
                    site_name=site.name,
                    care_model=site.care_model,
                    enabler_number=enabler.number,
                    enabler_name=enabler.name,
                    date=day,
                    asked_for=asked,
                    received=received,
                    provided_by=(row.get("provided_by") or "").strip(),
                    notes=(row.get("notes") or "").strip(),
                )
            )
    return tuple(sorted(entries, key=lambda entry: (entry.site_id, entry.date, entry.row)))


def site_support(entries: Sequence[SupportEntry], *, every_site: bool = False) -> list[SiteSupport]:
    """One summary per site in the log (or every vanguard site, with zeros for those not in it)."""
    by_site: dict[str, list[SupportEntry]] = {}
    for entry in entries:
        by_site.setdefault(entry.site_id, []).append(entry)
    sites = [site for site in vanguard_sites() if every_site or site.id in by_site]
    summaries = []
    for site in sites:
        mine = by_site.get(site.id, [])
        summaries.append(
            SiteSupport(
                site_id=site.id,
                site_name=site.name,
                care_model=site.care_model,
                entries=len(mine),
                received=sum(entry.met for entry in mine),
                unmet_requests=sum(not entry.met for entry in mine),
                enablers_received=tuple(sorted({entry.enabler_number for entry in mine if entry.met})),
                first=min((entry.date for entry in mine), default=None),
                last=max((entry.date for entry in mine), default=None),
            )
        )
    return summaries


def enabler_support(entries: Sequence[SupportEntry]) -> list[EnablerSupport]:
    """For each of the eight enablers, the sites that received it and those that asked in vain."""
    result = []
    for enabler in enablers():
        mine = [entry for entry in entries if entry.enabler_number == enabler.number]
        received = sorted({entry.site_id for entry in mine if entry.met})
        asked = sorted({entry.site_id for entry in mine if not entry.met} - set(received))
        result.append(
            EnablerSupport(
                number=enabler.number,
                name=enabler.name,
                sites_received=tuple(received),
                sites_asked_not_received=tuple(asked),
                entries=len(mine),
            )
        )
    return result


def outcome_groups(
    entries: Sequence[SupportEntry], enabler: int, *, membership_file: Path | None = None
) -> dict[str, tuple[str, ...]]:
    """Practices of the sites that received ``enabler`` and of the other vanguard sites (of the same
    care model types as those that received it), as groups for the indicators' ``--groups``."""
    received = {entry.site_id for entry in entries if entry.enabler_number == enabler and entry.met}
    if not received:
        raise DataError(f"no site in the log received enabler {enabler}")
    memberships = site_memberships(membership_file)
    models = {site.care_model for site in vanguard_sites() if site.id in received}
    with_support = {code for site_id in received for code in memberships[site_id].practice_codes}
    without = {
        code
        for site in vanguard_sites()
        if site.care_model in models and site.id not in received
        for code in memberships[site.id].practice_codes
    } - with_support
    return {
        f"received-enabler-{enabler}": tuple(sorted(with_support)),
        f"not-received-enabler-{enabler}": tuple(sorted(without)),
    }


def write_outcome_groups(groups: dict[str, tuple[str, ...]], out_file: Path) -> int:
    """Write ``group,practice_code`` rows; returns the number written."""
    out_file.parent.mkdir(parents=True, exist_ok=True)
    rows = [(group, code) for group, codes in groups.items() for code in codes]
    with out_file.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["group", "practice_code"])
        writer.writerows(rows)
    return len(rows)
