"""Which practices a synthetic economy contains, and their registered populations over time.

Practices, CCGs and relative list sizes are real (January 2021); list sizes are scaled back to each
year with England's registered population growth of about 0.8% a year. Age and sex follow England's
2023 population, tilted younger in deprived practices.
"""

from __future__ import annotations

import csv
import datetime as dt
from dataclasses import dataclass

import numpy as np

from caremodels.reference import data_path, practices, site_memberships, vanguard_sites
from caremodels.synth.config import SynthConfig

__all__ = ["EconomyPractice", "age_sex_distribution", "select_practices"]

ANNUAL_LIST_GROWTH = 0.008
LIST_SIZE_DATE = dt.date(2021, 1, 1)
# tiny keeps a few practices from a few sites at a tenth of their real size, so tests take seconds.
_TINY_SITES = (
    "fylde-coast",
    "better-care-together-morecambe-bay",
    "connecting-care-wakefield",
    "all-together-better-sunderland",
)
_TINY_PER_SITE = 3
_TINY_REST = 10
_TINY_SIZE_FACTOR = 0.1
_REGION_REST_SHARE = 0.02


@dataclass(frozen=True)
class EconomyPractice:
    practice_code: str
    ccg_code: str
    list_size_2021: int
    imd2019_score: float | None
    size_factor: float
    site_ids: tuple[str, ...]

    def list_size_at(self, day: dt.date) -> float:
        years = (day - LIST_SIZE_DATE).days / 365.25
        return self.list_size_2021 * self.size_factor * (1 + ANNUAL_LIST_GROWTH) ** years


def _site_ids_by_practice() -> dict[str, tuple[str, ...]]:
    by_practice: dict[str, list[str]] = {}
    for site_id, membership in site_memberships().items():
        for code in membership.practice_codes:
            by_practice.setdefault(code, []).append(site_id)
    return {code: tuple(sorted(ids)) for code, ids in by_practice.items()}


def select_practices(config: SynthConfig, rng: np.random.Generator) -> list[EconomyPractice]:
    """The practices of the economy, sorted by code.

    tiny: a few practices from a few named sites plus a few from the rest of England.
    region: every practice of the population-based sites of one region-sized set of sites, plus a
    sample of the rest of England as comparators. england: every practice. ``fraction`` samples the
    chosen practices, keeping at least one practice of every site present.
    """
    site_ids = _site_ids_by_practice()
    memberships = site_memberships()
    all_practices = [p for p in practices() if p.list_size_2021 > 0]
    in_any_site = {code for code in site_ids}
    rest = [p for p in all_practices if p.practice_code not in in_any_site]
    chosen: dict[str, float] = {}
    if config.scale == "tiny":
        known_sites = {site.id for site in vanguard_sites()}
        for site_id in _TINY_SITES:
            if site_id not in known_sites:
                continue
            codes = sorted(memberships[site_id].practice_codes)
            for code in rng.choice(codes, size=min(_TINY_PER_SITE, len(codes)), replace=False):
                chosen[str(code)] = _TINY_SIZE_FACTOR
        rest_codes = sorted(p.practice_code for p in rest)
        for code in rng.choice(rest_codes, size=_TINY_REST, replace=False):
            chosen[str(code)] = _TINY_SIZE_FACTOR
    elif config.scale == "region":
        for site in vanguard_sites():
            if site.care_model in ("MCP", "PACS", "EHCH") and site.selected.year == 2015:
                for code in memberships[site.id].practice_codes:
                    chosen[code] = 1.0
        # Keep the region near 2 million people: the first sites by id until the budget is used.
        chosen = _trim_to_population(chosen, all_practices, budget=1_700_000)
        rest_codes = sorted(p.practice_code for p in rest)
        sample = rng.choice(rest_codes, size=int(len(rest_codes) * _REGION_REST_SHARE), replace=False)
        for code in sample:
            chosen[str(code)] = 1.0
    else:
        chosen = {p.practice_code: 1.0 for p in all_practices}

    if config.fraction < 1.0:
        chosen = _sample_keeping_sites(chosen, site_ids, config.fraction, rng)

    by_code = {p.practice_code: p for p in all_practices}
    return [
        EconomyPractice(
            practice_code=code,
            ccg_code=by_code[code].ccg_code,
            list_size_2021=by_code[code].list_size_2021,
            imd2019_score=by_code[code].imd2019_score,
            size_factor=factor,
            site_ids=site_ids.get(code, ()),
        )
        for code, factor in sorted(chosen.items())
    ]


def _trim_to_population(chosen: dict[str, float], all_practices: list, budget: int) -> dict[str, float]:
    sizes = {p.practice_code: p.list_size_2021 for p in all_practices}
    site_ids = _site_ids_by_practice()
    kept: dict[str, float] = {}
    total = 0
    for site in vanguard_sites():
        codes = [code for code in sorted(chosen) if site.id in site_ids.get(code, ())]
        site_total = sum(sizes[code] for code in codes if code not in kept)
        if total + site_total > budget:
            continue
        for code in codes:
            kept[code] = chosen[code]
        total += site_total
    return kept


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


def age_sex_distribution() -> tuple[np.ndarray, np.ndarray]:
    """England 2023 population as (ages 0..90, counts[sex, age]) with sex 0 = male, 1 = female."""
    counts = np.zeros((2, 91))
    with data_path("ons_england_population_2023.csv").open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            age = 90 if row["age"].startswith("90") else int(row["age"])
            counts[0 if row["sex"] == "males" else 1, age] += float(row["count"])
    return np.arange(91), counts
