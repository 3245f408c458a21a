"""Which NHS trusts serve each practice's patients in the synthetic economy.

Acute trust (hospital spells, A&E, outpatients, referrals), by a deterministic rule:

1. A practice in a vanguard site uses the first of the site's providers (``VanguardSite.providers``)
   that reports type 1 A&E attendances; sites based on a registered list come before area sites, and
   those before provider sites, then by id.
2. Another practice uses the trust most often assigned by rule 1 among site practices of its CCG,
   otherwise among site practices of its postcode area.
3. Otherwise a type 1 trust is chosen from the CCG code by a stable hash. Such a code is a real trust
   but not necessarily the one that serves the practice: the reference data has no trust locations.

Ambulance trust: by postcode area, with districts that cross a service boundary listed apart
(``data/ambulance_services.csv``).

Boundaries: reads only files shipped in the package; no randomness.
"""

from __future__ import annotations

import csv
import functools
import re
import zlib
from collections import Counter
from importlib import resources
from pathlib import Path

from caremodels.reference import practices, site_memberships, vanguard_sites

__all__ = ["acute_provider_codes", "acute_providers_by_practice", "ambulance_trust_for_postcode"]

_BASIS_ORDER = {"registered_list": 0, "area": 1, "provider": 2}
_AREA = re.compile(r"^([A-Z]{1,2})([0-9][0-9A-Z]?)")


def _data_file(name: str) -> Path:
    return Path(str(resources.files("caremodels.synth") / "data" / name))


@functools.cache
def acute_provider_codes() -> tuple[str, ...]:
    """ODS codes of trusts with type 1 A&E departments (NHS England A&E data, 2016-19), sorted."""
    with _data_file("ae_type1_providers.csv").open(newline="", encoding="utf-8") as handle:
        return tuple(sorted(row["org_code"] for row in csv.DictReader(handle)))


@functools.cache
def _ambulance_prefixes() -> dict[str, str]:
    with _data_file("ambulance_services.csv").open(newline="", encoding="utf-8") as handle:
        return {row["postcode_prefix"]: row["ambulance_trust_code"] for row in csv.DictReader(handle)}


def _area_and_district(postcode: str) -> tuple[str, str]:
    outward = postcode.strip().upper().split(" ")[0]
    match = _AREA.match(outward)
    if not match:
        return "", ""
    return match.group(1), outward


def ambulance_trust_for_postcode(postcode: str) -> str:
    """The ambulance trust for a practice postcode; the London Ambulance Service's code is never a
    fallback: an unknown area raises ``KeyError``."""
    area, district = _area_and_district(postcode)
    prefixes = _ambulance_prefixes()
    if district in prefixes:
        return prefixes[district]
    return prefixes[area]


def _site_provider(site_ids: list[str], acute: frozenset[str]) -> str | None:
    by_id = {site.id: site for site in vanguard_sites()}
    ordered = sorted(site_ids, key=lambda site_id: (_BASIS_ORDER[by_id[site_id].population_basis], site_id))
    for site_id in ordered:
        for code in by_id[site_id].providers:
            if code in acute:
                return code
    return None


def _most_common(codes: list[str]) -> str:
    counts = Counter(codes)
    # Ties go to the smallest code so that the rule never depends on ordering.
    return min(counts, key=lambda code: (-counts[code], code))


@functools.cache
def acute_providers_by_practice() -> dict[str, str]:
    """Acute trust ODS code for every practice in the reference list (rules in the module docstring)."""
    acute = frozenset(acute_provider_codes())
    sites_of: dict[str, list[str]] = {}
    for site_id, membership in site_memberships().items():
        for code in membership.practice_codes:
            sites_of.setdefault(code, []).append(site_id)
    assigned: dict[str, str] = {}
    for code, site_ids in sites_of.items():
        provider = _site_provider(site_ids, acute)
        if provider:
            assigned[code] = provider
    by_ccg: dict[str, list[str]] = {}
    by_area: dict[str, list[str]] = {}
    everyone = practices()
    for practice in everyone:
        if practice.practice_code in assigned:
            by_ccg.setdefault(practice.ccg_code, []).append(assigned[practice.practice_code])
            by_area.setdefault(_area_and_district(practice.postcode)[0], []).append(
                assigned[practice.practice_code]
            )
    providers = acute_provider_codes()
    result = {}
    for practice in everyone:
        code = practice.practice_code
        area = _area_and_district(practice.postcode)[0]
        if code in assigned:
            result[code] = assigned[code]
        elif practice.ccg_code in by_ccg:
            result[code] = _most_common(by_ccg[practice.ccg_code])
        elif area in by_area:
            result[code] = _most_common(by_area[area])
        else:
            result[code] = providers[zlib.crc32(practice.ccg_code.encode("ascii")) % len(providers)]
    return result
