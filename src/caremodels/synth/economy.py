"""Which practices a synthetic economy contains, and their registered populations over time.

Practices, CCGs, postcodes and relative list sizes are real (January 2021). List sizes are scaled so
that England's registered population is 57.1 million in mid-2015, growing 0.8% a year. Age and sex
follow England's 2023 population, tilted younger in deprived practices (``population``).

Scales: ``tiny`` takes three practices from each of four sites (Fylde Coast, Morecambe Bay, Connecting
Care Wakefield, Sunderland) and ten from the rest of England, at a tenth of their size except
Connecting Care Wakefield's, which are at full size so that its care homes have a few hundred
residents for the matched comparison the demo shows (seconds).
``region`` takes every practice of the same four sites, whose reported results the default effects
reproduce, plus a sample of the rest of England as comparators: about 2 million people. ``england``
takes every practice. ``fraction`` samples the chosen practices, keeping at least one of every site.

Boundaries: reads only reference data; randomness only through the ``Generator`` passed in.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from caremodels.reference import Practice, practices, site_memberships, vanguard_sites
from caremodels.reference.list_growth import LIST_SIZE_DATE, list_scale_at
from caremodels.synth import rates
from caremodels.synth.config import SynthConfig
from caremodels.synth.providers import acute_providers_by_practice, ambulance_trust_for_postcode

__all__ = [
    "ANNUAL_LIST_GROWTH",
    "LIST_SIZE_DATE",
    "EconomyPractice",
    "list_scale_at",
    "select_practices",
]

# England's registered population path (``list_scale_at``) is defined once, in the reference data.
ANNUAL_LIST_GROWTH = rates.ANNUAL_LIST_GROWTH
SITES_OF_SEED_RESULTS = (
    "fylde-coast",
    "better-care-together-morecambe-bay",
    "connecting-care-wakefield",
    "all-together-better-sunderland",
)
_TINY_PER_SITE = 3
_TINY_REST = 10
_TINY_SIZE_FACTOR = 0.1
# A tenth of three practices has about 20 care home residents: too few to match. At full size the
# care-home site has about 600, and no other practice's output changes (each has its own streams).
_TINY_FULL_SIZE_SITES = ("connecting-care-wakefield",)
_TINY_MIN_LIST = 3000
# Rest-of-England comparators in the region, by 2021 list size: with the four sites, about 2 million
# people in 2013-2020.
_REGION_REST_BUDGET = 750_000


@dataclass(frozen=True)
class EconomyPractice:
    practice_code: str
    ccg_code: str
    postcode: str
    list_size_2021: int
    imd2019_score: float | None
    size_factor: float
    site_ids: tuple[str, ...]
    national_rank: int  # position in the national practice list: stable across scales and runs
    acute_provider: str
    ambulance_trust: str

    @property
    def imd(self) -> float:
        """IMD 2019 score, or England's mean for the few practices without one."""
        return self.imd2019_score if self.imd2019_score is not None else rates.ENGLAND_MEAN_IMD

    def list_size_at(self, day: dt.date) -> float:
        return self.list_size_2021 * self.size_factor * list_scale_at(day)


def _site_ids_by_practice() -> dict[str, tuple[str, ...]]:
    by_practice: dict[str, list[str]] = {}
    for site_id, membership in site_memberships().items():
        for code in membership.practice_codes:
            by_practice.setdefault(code, []).append(site_id)
    return {code: tuple(sorted(ids)) for code, ids in by_practice.items()}


def select_practices(config: SynthConfig, rng: np.random.Generator) -> list[EconomyPractice]:
    """The practices of the economy, sorted by code (see the module docstring for each scale)."""
    site_ids = _site_ids_by_practice()
    memberships = site_memberships()
    known_sites = {site.id for site in vanguard_sites()}
    all_practices = [p for p in practices() if p.list_size_2021 > 0]
    rest = sorted(p.practice_code for p in all_practices if p.practice_code not in site_ids)
    chosen: dict[str, float] = {}
    if config.scale == "tiny":
        # Ordinary practices only: a tenth of a list of a few hundred would be almost nobody.
        sizes = {p.practice_code: p.list_size_2021 for p in all_practices}
        for site_id in SITES_OF_SEED_RESULTS:
            if site_id not in known_sites:
                continue
            codes = sorted(
                c for c in memberships[site_id].practice_codes if sizes.get(c, 0) >= _TINY_MIN_LIST
            )
            factor = 1.0 if site_id in _TINY_FULL_SIZE_SITES else _TINY_SIZE_FACTOR
            for code in rng.choice(codes, size=min(_TINY_PER_SITE, len(codes)), replace=False):
                chosen[str(code)] = factor
        ordinary = [code for code in rest if sizes[code] >= _TINY_MIN_LIST]
        for code in rng.choice(ordinary, size=_TINY_REST, replace=False):
            chosen[str(code)] = _TINY_SIZE_FACTOR
    elif config.scale == "region":
        for site_id in SITES_OF_SEED_RESULTS:
            if site_id in known_sites:
                for code in memberships[site_id].practice_codes:
                    chosen[code] = 1.0
        sizes = {p.practice_code: p.list_size_2021 for p in all_practices}
        total = 0
        for code in rng.permutation(rest):
            if total >= _REGION_REST_BUDGET:
                break
            chosen[str(code)] = 1.0
            total += sizes[str(code)]
    else:
        chosen = {p.practice_code: 1.0 for p in all_practices}

    if config.fraction < 1.0:
        chosen = _sample_keeping_sites(chosen, site_ids, config.fraction, rng)

    by_code = {p.practice_code: p for p in all_practices}
    rank = {p.practice_code: index for index, p in enumerate(practices())}
    providers = acute_providers_by_practice()
    return [
        _economy_practice(by_code[code], factor, site_ids.get(code, ()), rank[code], providers[code])
        for code, factor in sorted(chosen.items())
    ]


def _economy_practice(
    practice: Practice, factor: float, site_ids: tuple[str, ...], rank: int, provider: str
) -> EconomyPractice:
    return EconomyPractice(
        practice_code=practice.practice_code,
        ccg_code=practice.ccg_code,
        postcode=practice.postcode,
        list_size_2021=practice.list_size_2021,
        imd2019_score=practice.imd2019_score,
        size_factor=factor,
        site_ids=site_ids,
        national_rank=rank,
        acute_provider=provider,
        ambulance_trust=ambulance_trust_for_postcode(practice.postcode),
    )


def _sample_keeping_sites(
    chosen: dict[str, float],
    site_ids: dict[str, tuple[str, ...]],
    fraction: float,
    rng: np.random.Generator,
) -> dict[str, float]:
    codes = sorted(chosen)
    keep = {str(code) for code in rng.choice(codes, size=max(1, round(len(codes) * fraction)), replace=False)}
    present_sites = {site for code in codes for site in site_ids.get(code, ())}
    for site in sorted(present_sites):
        if not any(site in site_ids.get(code, ()) for code in keep):
            members = [code for code in codes if site in site_ids.get(code, ())]
            keep.add(str(rng.choice(members)))
    return {code: chosen[code] for code in sorted(keep)}
