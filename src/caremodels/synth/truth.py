"""Counting the truth: events with and without the planted effects, by site, measure, cohort and
financial year, and the ``truth.json`` document written from those counts.

Boundaries: pure bookkeeping; no randomness, no files (``generate`` writes the document).
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from caremodels.periods import financial_year_label
from caremodels.synth.config import COHORTS, MEASURES, Measure, SynthConfig

__all__ = ["MEASURE_DEFINITIONS", "PracticeTally", "SiteTally", "truth_document"]

REST_OF_ENGLAND = "rest_of_england"
MEASURE_DEFINITIONS = {
    "emergency_admissions": "apc_spells rows with an emergency admission method (21-25, 2A-2D, 28), by admission date",
    "emergency_bed_days": "discharge date minus admission date, summed over those spells",
    "ae_attendances": "ae_attendances rows (all department types), by arrival date",
    "first_outpatient": "op_attendances rows with first_attendance 1 or 3 and attended 5 or 6",
    "ambulance_incidents": "ambulance_incidents rows, by call date",
    "elective_admissions": "apc_spells rows with an elective admission method (11-13)",
    "prescribing_cost": "prescribing actual_cost in pounds",
    "referrals": "referrals rows, counted at the date the need arose (before any advice and guidance)",
}
COHORT_DEFINITIONS = {
    "all": "everyone registered at the site's practices",
    "care_home_residents": "events on days the person lived in a care home (care_home_residence)",
    "extensive_care": "events on days the person was 60 or over with two or more long-term conditions (conditions)",
    "extensive_care_enrolled": "events on days the person was enrolled in the site's extensive care service "
    "(service_enrolments); prescribing is by practice and has none",
}


class PracticeTally:
    """Counts for one practice: [measure, cohort, financial year, (with, without)], plus advice and
    guidance diverted by a planted effect: [financial year, (requests, referred)]."""

    def __init__(self, first_year: int, years: int) -> None:
        self.first_year = first_year
        self.counts = np.zeros((len(MEASURES), len(COHORTS), years, 2))
        self.advice = np.zeros((years, 2))

    def add(
        self,
        measure: Measure,
        financial_year: np.ndarray,
        resident: np.ndarray,
        extensive: np.ndarray,
        with_effect: np.ndarray,
        without_effect: np.ndarray,
        enrolled: np.ndarray | None = None,
    ) -> None:
        """Add per-event weights (1 for a count, days or pounds) to the practice's counts;
        ``enrolled`` is None for prescribing, which is by practice (no one enrolled)."""
        index = MEASURES.index(measure)
        year = financial_year - self.first_year
        years = self.counts.shape[2]
        if enrolled is None:
            enrolled = np.zeros(len(financial_year), dtype=bool)
        for cohort_index, mask in enumerate((None, resident, extensive, enrolled)):
            selected = slice(None) if mask is None else mask
            for column, weights in enumerate((with_effect, without_effect)):
                self.counts[index, cohort_index, :, column] += np.bincount(
                    year[selected], weights=weights[selected], minlength=years
                )[:years]

    def add_advice(self, financial_year: np.ndarray, referred: np.ndarray) -> None:
        year = financial_year - self.first_year
        years = self.advice.shape[0]
        self.advice[:, 0] += np.bincount(year, minlength=years)[:years]
        self.advice[:, 1] += np.bincount(year, weights=referred.astype(np.float64), minlength=years)[:years]


class SiteTally:
    """Practice counts summed by site (and the rest of England), in the order practices arrive."""

    def __init__(self, first_year: int, years: int) -> None:
        self.first_year, self.years = first_year, years
        self.counts: dict[str, np.ndarray] = {}
        self.advice: dict[str, np.ndarray] = {}

    def add(self, site_ids: tuple[str, ...], tally: PracticeTally) -> None:
        for site in site_ids or (REST_OF_ENGLAND,):
            if site not in self.counts:
                self.counts[site] = np.zeros_like(tally.counts)
                self.advice[site] = np.zeros_like(tally.advice)
            self.counts[site] += tally.counts
            self.advice[site] += tally.advice


def _number(measure: str, value: float) -> float | int:
    return round(float(value), 2) if measure == "prescribing_cost" else round(float(value))


def truth_document(config: SynthConfig, tally: SiteTally) -> dict[str, Any]:
    """The ``truth.json`` document (see docs/synthetic-data.md for its fields)."""
    realised, by_year, advice = [], [], []
    for site in sorted(tally.counts):
        counts = tally.counts[site]
        for measure_index, measure in enumerate(MEASURES):
            totals = counts[measure_index, 0].sum(axis=0)
            realised.append(
                {
                    "site": site,
                    "measure": measure,
                    "events_with_effect": _number(measure, totals[0]),
                    "events_without_effect": _number(measure, totals[1]),
                }
            )
            for cohort_index, cohort in enumerate(COHORTS):
                for year in range(tally.years):
                    with_effect, without_effect = counts[measure_index, cohort_index, year]
                    by_year.append(
                        {
                            "site": site,
                            "measure": measure,
                            "cohort": cohort,
                            "financial_year": financial_year_label(tally.first_year + year),
                            "events_with_effect": _number(measure, with_effect),
                            "events_without_effect": _number(measure, without_effect),
                        }
                    )
        requests, referred = tally.advice[site].sum(axis=0)
        if requests:
            advice.append(
                {
                    "site": site,
                    "requests_instead_of_referral": int(requests),
                    "referred_after_advice": int(referred),
                }
            )
    return {
        "seed": config.seed,
        "config": json.loads(config.model_dump_json(exclude={"effects"})),
        "effects": [json.loads(effect.model_dump_json()) for effect in config.effects.effects],
        "non_causal": [json.loads(factor.model_dump_json()) for factor in config.effects.non_causal],
        "generated_measures": list(MEASURES),
        "definitions": {"measures": MEASURE_DEFINITIONS, "cohorts": COHORT_DEFINITIONS},
        "realised": realised,
        "realised_by_year": by_year,
        "advice_and_guidance": advice,
    }
