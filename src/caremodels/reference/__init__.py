"""Reference data: care model types, the 50 vanguard sites, practices, enablers, frameworks, constants.

Every record is validated into a typed model (``caremodels.reference.models``) when first loaded and
then cached; a record that does not validate raises ``ReferenceDataError`` naming the file, the
record and the field. The files live in the package (``reference/data``, sources in SOURCES.md), so
nothing here reads ``../shared`` or the network.

Site membership (which GP practices a site serves) is built in as an approximation from geography
(CCG codes of January 2021, narrowed by postcode district), and can be replaced by a user's CSV of
practice codes per site: ``site_memberships(Path("my_sites.csv"))``.
"""

from __future__ import annotations

import csv
import datetime as dt
import difflib
import functools
import re
from collections.abc import Collection, Iterable, Mapping
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from caremodels.errors import ReferenceDataError
from caremodels.reference.models import (
    VANGUARD_CARE_MODELS,
    AdmissionMethod,
    CareModelCode,
    CareModelType,
    DisclosureControl,
    EhchElement,
    Enabler,
    OperationalStandard,
    Practice,
    ProgrammeConstants,
    SiteMembership,
    StandardPopulationBand,
    VanguardSite,
)

__all__ = [
    "VANGUARD_CARE_MODELS",
    "AdmissionMethod",
    "CareModelCode",
    "CareModelType",
    "DisclosureControl",
    "EhchElement",
    "Enabler",
    "OperationalStandard",
    "Practice",
    "ProgrammeConstants",
    "SiteMembership",
    "StandardPopulationBand",
    "VanguardSite",
    "admission_methods",
    "area_names",
    "care_model_types",
    "check_unlisted",
    "data_path",
    "did_you_mean",
    "disclosure_control",
    "ehch_framework",
    "emergency_admission_methods",
    "enablers",
    "european_standard_population",
    "find_site",
    "member_in_month",
    "operational_standards",
    "practices",
    "programme_constants",
    "site_memberships",
    "trust_names",
    "vanguard_sites",
]

ModelT = TypeVar("ModelT", bound=BaseModel)


def data_path(name: str) -> Path:
    """Path of a shipped reference file."""
    return Path(str(resources.files("caremodels.reference") / "data" / name))


@functools.cache
def _yaml(name: str) -> dict[str, Any]:
    path = data_path(name)
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise ReferenceDataError(f"cannot read reference data: {error}", file=path) from error
    if not isinstance(loaded, dict):
        raise ReferenceDataError("expected a mapping at the top level", file=path)
    return loaded


def _validate(model: type[ModelT], records: Iterable[Any], *, file: Path, key: str) -> tuple[ModelT, ...]:
    validated = []
    for index, record in enumerate(records, start=1):
        try:
            validated.append(model.model_validate(record))
        except ValidationError as error:
            first = error.errors()[0]
            field = ".".join(str(part) for part in first["loc"]) or None
            raise ReferenceDataError(
                f"{key} record {index} is invalid: {first['msg']}", file=file, field=field
            ) from error
    return tuple(validated)


def _records(name: str, key: str, model: type[ModelT]) -> tuple[ModelT, ...]:
    document = _yaml(name)
    if key not in document:
        raise ReferenceDataError(f"missing top-level key {key!r}", file=data_path(name))
    return _validate(model, document[key], file=data_path(name), key=key)


@functools.cache
def care_model_types() -> tuple[CareModelType, ...]:
    """MCP, PACS, EHCH, UEC, ACC and Primary Care Home, with their selection dates."""
    return _records("care_models.yaml", "care_models", CareModelType)


@functools.cache
def vanguard_sites() -> tuple[VanguardSite, ...]:
    """The 50 vanguard sites. Raises if ids or short names repeat or counts differ from the types."""
    sites = _records("vanguard_sites.yaml", "sites", VanguardSite)
    path = data_path("vanguard_sites.yaml")
    for attribute in ("id", "short_name", "name"):
        seen: set[str] = set()
        for site in sites:
            value = getattr(site, attribute)
            if value in seen:
                raise ReferenceDataError(f"duplicate site {attribute} {value!r}", file=path)
            seen.add(value)
    for care_model in care_model_types():
        count = sum(1 for site in sites if site.care_model == care_model.code)
        if care_model.code in VANGUARD_CARE_MODELS and count != care_model.vanguard_count:
            raise ReferenceDataError(
                f"{count} {care_model.code} sites listed, {care_model.vanguard_count} expected",
                file=path,
            )
    return sites


# Names people type for a site that are not its id, name or short name: common misspellings and the
# names sites were announced under.
_SITE_ALIASES = {
    "morecombe bay": "better-care-together-morecambe-bay",
    "lancashire north": "better-care-together-morecambe-bay",
}


def did_you_mean(wanted: str, candidates: Iterable[str]) -> str:
    """ " (did you mean 'x'?)" naming the closest candidates, or "" when none is close."""
    pool = {candidate.casefold(): candidate for candidate in candidates}
    close = difflib.get_close_matches(wanted.strip().casefold(), list(pool), n=3, cutoff=0.6)
    if not close:
        return ""
    return " (did you mean " + " or ".join(repr(pool[match]) for match in close) + "?)"


def find_site(name: str) -> VanguardSite:
    """A site by id, name, short name or a known alias, ignoring case (and spaces for hyphens in an
    id); raises ``ReferenceDataError`` naming the closest sites if unknown."""
    wanted = " ".join(name.strip().casefold().split())
    wanted = _SITE_ALIASES.get(wanted, wanted)
    for site in vanguard_sites():
        if wanted in (site.id, site.id.replace("-", " "), site.name.casefold(), site.short_name.casefold()):
            return site
    names = [site.short_name for site in vanguard_sites()] + [site.id for site in vanguard_sites()]
    raise ReferenceDataError(
        f"no vanguard site called {name!r}{did_you_mean(name, names)} (see: caremodels programme sites)"
    )


@functools.cache
def enablers() -> tuple[Enabler, ...]:
    return _records("enablers.yaml", "enablers", Enabler)


@functools.cache
def ehch_framework() -> tuple[EhchElement, ...]:
    return _records("ehch_framework.yaml", "elements", EhchElement)


@functools.cache
def operational_standards() -> tuple[OperationalStandard, ...]:
    return _records("operational_standards.yaml", "standards", OperationalStandard)


@functools.cache
def admission_methods() -> Mapping[str, AdmissionMethod]:
    block = _yaml("constants.yaml")["admission_methods"]["codes"]
    records = [{"code": str(code), **fields} for code, fields in block.items()]
    validated = _validate(AdmissionMethod, records, file=data_path("constants.yaml"), key="admission_methods")
    return {method.code: method for method in validated}


def emergency_admission_methods() -> frozenset[str]:
    """HES admission methods 21-25, 2A-2D and 28."""
    return frozenset(code for code, method in admission_methods().items() if method.group == "emergency")


@functools.cache
def european_standard_population() -> tuple[StandardPopulationBand, ...]:
    block = _yaml("constants.yaml")["european_standard_population_2013"]
    bands = _validate(StandardPopulationBand, block["bands"], file=data_path("constants.yaml"), key="esp2013")
    if sum(band.weight for band in bands) != block["total"]:
        raise ReferenceDataError(
            "ESP2013 weights do not sum to the stated total", file=data_path("constants.yaml")
        )
    return bands


@functools.cache
def disclosure_control() -> DisclosureControl:
    return DisclosureControl.model_validate(
        {k: v for k, v in _yaml("constants.yaml")["disclosure_control"].items() if k != "source"}
    )


@functools.cache
def programme_constants() -> ProgrammeConstants:
    return ProgrammeConstants.model_validate(
        {k: v for k, v in _yaml("constants.yaml")["programme"].items() if k != "source"}
    )


@functools.cache
def area_names() -> Mapping[str, Mapping[str, str]]:
    """Names of GP practices (``"practice"``) and January 2021 CCGs (``"ccg"``) by code."""
    names: dict[str, dict[str, str]] = {"practice": {}, "ccg": {}}
    with data_path("area_names.csv").open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            names.setdefault(row["kind"], {})[row["code"]] = row["name"]
    return names


@functools.cache
def practices() -> tuple[Practice, ...]:
    """Every GP practice in England (January 2021), with list size, CCG, postcode and IMD 2019."""
    path = data_path("practices.csv")
    with path.open(newline="", encoding="utf-8") as handle:
        rows = [{**row, "imd2019_score": row["imd2019_score"] or None} for row in csv.DictReader(handle)]
    return _validate(Practice, rows, file=path, key="practices")


def _built_in_membership(site: VanguardSite, by_ccg: Mapping[str, list[Practice]]) -> SiteMembership:
    districts = set(site.postcode_districts)
    codes = tuple(
        sorted(
            practice.practice_code
            for ccg in site.ccg_codes
            for practice in by_ccg.get(ccg, [])
            if not districts or practice.postcode_district in districts
        )
    )
    return SiteMembership(site_id=site.id, practice_codes=codes, source="built-in approximation")


_MEMBERSHIP_COLUMNS = {
    "site": "site",
    "practice_code": "practice_code",
    "start_date": "start_date",
    "end_date": "end_date",
}
_MEMBERSHIP_ALIASES = {"practice": "practice_code", "start": "start_date", "end": "end_date"}
_PRACTICE_PATTERN = re.compile(r"^[A-Z][0-9]{5}$")


def _membership_date(text: str, *, file: Path, row: int, field: str) -> dt.date | None:
    text = text.strip()
    if not text:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise ReferenceDataError(
            "not a date (give YYYY-MM-DD, or leave empty for no limit)", file=file, row=row, field=field
        ) from None


def _user_membership(path: Path) -> dict[str, SiteMembership]:
    """A user's membership CSV: ``site`` and ``practice_code``, optionally ``start_date`` and
    ``end_date`` (a practice that joined or left; several rows for one who left and came back).
    Column names are matched case-insensitively and ignoring spaces; ``practice``, ``start`` and
    ``end`` are accepted too. A well-formed practice code missing from the January 2021 list is
    kept as ``unlisted`` for the command to check against its warehouse."""
    known = {practice.practice_code for practice in practices()}
    members: dict[str, set[str]] = {}
    windows: dict[str, dict[str, list[tuple[dt.date | None, dt.date | None]]]] = {}
    unlisted: dict[str, dict[str, int]] = {}
    try:
        handle = path.open(newline="", encoding="utf-8-sig")
    except OSError as error:
        raise ReferenceDataError(f"cannot open membership file: {error.strerror}", file=path) from error
    with handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None:
            raise ReferenceDataError("the file is empty (expected a header row)", file=path, row=1)
        position: dict[str, int] = {}
        for index, name in enumerate(header):
            key = re.sub(r"[\s-]+", "_", name.strip().lower())
            key = _MEMBERSHIP_ALIASES.get(key, key)
            if key in _MEMBERSHIP_COLUMNS and key not in position:
                position[key] = index
        missing = {"site", "practice_code"} - set(position)
        if missing:
            found = ", ".join(repr(name) for name in header) or "none"
            raise ReferenceDataError(
                f"missing column(s) {', '.join(sorted(missing))}; columns found: {found} "
                "(expected site, practice_code and optionally start_date, end_date)",
                file=path,
                row=1,
            )

        def cell(row: list[str], key: str) -> str:
            index = position.get(key)
            return row[index] if index is not None and index < len(row) else ""

        for row_number, row in enumerate(reader, start=2):
            if not any(value.strip() for value in row):
                continue  # a blank line
            try:
                site = find_site(cell(row, "site"))
            except ReferenceDataError as error:
                raise ReferenceDataError(error.reason, file=path, row=row_number, field="site") from error
            code = cell(row, "practice_code").strip().upper()
            if not _PRACTICE_PATTERN.match(code):
                raise ReferenceDataError(
                    "not a GP practice ODS code (a letter and five digits)",
                    file=path,
                    row=row_number,
                    field="practice_code",
                )
            first = _membership_date(cell(row, "start_date"), file=path, row=row_number, field="start_date")
            last = _membership_date(cell(row, "end_date"), file=path, row=row_number, field="end_date")
            if first is not None and last is not None and last < first:
                raise ReferenceDataError(
                    "end_date is before start_date", file=path, row=row_number, field="end_date"
                )
            members.setdefault(site.id, set()).add(code)
            windows.setdefault(site.id, {}).setdefault(code, []).append((first, last))
            if code not in known:
                unlisted.setdefault(site.id, {}).setdefault(code, row_number)
    memberships = {}
    for site_id, codes in members.items():
        # A practice with any undated row is a member throughout; otherwise only within its spans.
        dated = {
            code: tuple(sorted(spans, key=lambda span: span[0] or dt.date.min))
            for code, spans in windows[site_id].items()
            if all(span != (None, None) for span in spans)
        }
        memberships[site_id] = SiteMembership(
            site_id=site_id,
            practice_codes=tuple(sorted(codes)),
            source="user file",
            windows=dated,
            unlisted=unlisted.get(site_id, {}),
            file=str(path),
        )
    return memberships


def check_unlisted(memberships: Mapping[str, SiteMembership], present: Collection[str]) -> list[str]:
    """Warnings for practices of a user's membership that are not in the January 2021 list but are
    in the data (``present``): they are counted. One that is in neither raises
    ``ReferenceDataError`` naming the file and row: it is most likely mistyped."""
    held = set(present)
    warnings = []
    for site_id, membership in sorted(memberships.items()):
        for code, row in sorted(membership.unlisted.items(), key=lambda item: item[1]):
            if code not in held:
                raise ReferenceDataError(
                    f"{code!r} is neither in the January 2021 GP practice list nor in this warehouse",
                    file=membership.file,
                    row=row,
                    field="practice_code",
                )
            warnings.append(
                f"practice {code} ({site_id}, row {row}) is not in the January 2021 practice list "
                "(closed or merged before then); the warehouse holds it, so it is counted"
            )
    return warnings


def member_in_month(windows: Iterable[tuple[dt.date | None, dt.date | None]], month: dt.date) -> bool:
    """Whether a practice with these membership spans is a member in the month starting ``month``:
    a month counts when the practice is a member on its first day or joins during it."""
    following = dt.date(month.year + month.month // 12, month.month % 12 + 1, 1)
    return any(
        (first is None or first < following) and (last is None or last >= month) for first, last in windows
    )


def site_memberships(user_file: Path | None = None) -> dict[str, SiteMembership]:
    """Practices served by each site: the built-in approximation, with a user's CSV taking precedence.

    The CSV has columns ``site`` (id, name or short name) and ``practice_code``, and optionally
    ``start_date`` and ``end_date`` (see ``_user_membership``); sites it lists replace the built-in
    membership, sites it does not list keep theirs.
    """
    by_ccg: dict[str, list[Practice]] = {}
    for practice in practices():
        by_ccg.setdefault(practice.ccg_code, []).append(practice)
    memberships = {site.id: _built_in_membership(site, by_ccg) for site in vanguard_sites()}
    if user_file is not None:
        memberships.update(_user_membership(user_file))
    return memberships


@functools.cache
def trust_names() -> Mapping[str, str]:
    """NHS trust names by ODS code (``trusts.csv``, from NHS Digital's ODS; open and closed trusts).

    Other providers in NHS statistics (independent sector, walk-in centres, GP-led units) are not
    trusts and have no entry.
    """
    path = data_path("trusts.csv")
    with path.open(newline="", encoding="utf-8") as handle:
        names = {row["org_code"]: row["name"] for row in csv.DictReader(handle)}
    if not names:
        raise ReferenceDataError("no trusts listed", file=path)
    return names
