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
import difflib
import functools
from collections.abc import Iterable, Mapping
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
    "data_path",
    "did_you_mean",
    "disclosure_control",
    "ehch_framework",
    "emergency_admission_methods",
    "enablers",
    "european_standard_population",
    "find_site",
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


def _user_membership(path: Path) -> dict[str, SiteMembership]:
    known = {practice.practice_code for practice in practices()}
    members: dict[str, list[str]] = {}
    try:
        handle = path.open(newline="", encoding="utf-8")
    except OSError as error:
        raise ReferenceDataError(f"cannot open membership file: {error.strerror}", file=path) from error
    with handle:
        reader = csv.DictReader(handle)
        missing = {"site", "practice_code"} - set(reader.fieldnames or [])
        if missing:
            raise ReferenceDataError(f"missing column(s) {', '.join(sorted(missing))}", file=path, row=1)
        for row_number, row in enumerate(reader, start=2):
            try:
                site = find_site(row["site"] or "")
            except ReferenceDataError as error:
                raise ReferenceDataError(error.reason, file=path, row=row_number, field="site") from error
            code = (row["practice_code"] or "").strip().upper()
            if code not in known:
                raise ReferenceDataError(
                    f"{code!r} is not a GP practice in the reference list",
                    file=path,
                    row=row_number,
                    field="practice_code",
                )
            members.setdefault(site.id, []).append(code)
    return {
        site_id: SiteMembership(site_id=site_id, practice_codes=tuple(sorted(set(codes))), source="user file")
        for site_id, codes in members.items()
    }


def site_memberships(user_file: Path | None = None) -> dict[str, SiteMembership]:
    """Practices served by each site: the built-in approximation, with a user's CSV taking precedence.

    The CSV has columns ``site`` (id, name or short name) and ``practice_code``; sites it lists replace
    the built-in membership, sites it does not list keep theirs.
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
