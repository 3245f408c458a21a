"""How close a generated economy comes to its realism targets, and to the seed results.

Generates an economy (default: the region, about 2 million people, with the default effects) or reads
one already made (--out DIR with --reuse), then prints each measure beside its target and source, and
the seed results as an analyst would measure them beside the planted truth. The figures in
docs/synthetic-data.md come from this script.

Run from the repository root:
    .venv/bin/python benchmarks/synth_realism.py --scale region --workers 2
    .venv/bin/python benchmarks/synth_realism.py --out /tmp/economy --reuse
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pyarrow.compute as pc
import pyarrow.parquet as pq

from caremodels.reference import site_memberships
from caremodels.synth import SynthConfig, default_effects_path, generate, load_effects, rates
from caremodels.synth.realism import emergency_growth, measure_realism, seed_results

TARGETS: list[tuple[str, str, str]] = [
    ("emergency_admissions_per_1000", "about 100 (2015/16)", "HES APC 2015-16"),
    ("elective_admissions_per_1000", "about 140", "HES APC 2015-16"),
    ("ae_attendances_per_1000", "about 410", "NHS England A&E statistics 2015-16"),
    ("first_outpatient_attended_per_1000", "about 425", "HES Outpatients 2015-16 (approximate)"),
    ("ambulance_incidents_per_1000", "about 150", "Ambulance Quality Indicators 2015-16"),
    ("referrals_per_1000", "about 180", "NHS England Monthly Activity Return 2015-16"),
    ("deaths_per_1000", "about 9", "ONS deaths registered 2015"),
    ("deaths_in_hospital_share", "about 0.47", "ONS/PHE place of death 2015"),
    ("emergency_mean_stay_days", "about 6", "HES APC 2015-16"),
    ("emergency_same_day_share", "about 0.33", "HES APC 2015-16"),
    ("emergency_january_to_july", "about 1.15 (winter peak)", "planted seasonality"),
    ("emergency_admissions_growth_count", "2-3% a year", "HES APC 2013-14 to 2019-20"),
    ("ae_type1_admitted_share", "0.275-0.30", "NHS England A&E file 2016-19"),
    ("ambulance_conveyed_share", "about 0.6", "Ambulance Quality Indicators"),
    ("outpatient_follow_ups_per_first", "about 1.8 (cut by the period's end)", "HES Outpatients"),
    ("outpatient_did_not_attend_share", "about 0.07", "HES Outpatients 2015-16"),
    ("prescription_items_per_person", "about 19.5", "Prescription Cost Analysis 2015"),
    ("prescribing_cost_per_item", "about 8.0 (actual cost)", "Prescription Cost Analysis 2015"),
    ("list_growth", "about 0.008", "NHS Digital registered patients"),
    ("care_home_residents_share_of_65_plus", "about 0.028", "Improvement Analytics Unit 2019 (2016/17)"),
    ("care_home_residents_aged_65_plus_share", "nearly all", "Improvement Analytics Unit 2019"),
    (
        "care_home_residents_in_year_to_point",
        "about 1.45 (398,000 / 274,000)",
        "Improvement Analytics Unit 2019",
    ),
    ("care_home_emergency_admissions_per_resident_year", "0.70", "Improvement Analytics Unit 2019"),
    ("care_home_ae_attendances_per_resident_year", "0.98", "Improvement Analytics Unit 2019"),
    ("deprivation_log_slope_per_imd_point", "about 0.014 (planted)", "Q5/Q1 about 1.6-1.8"),
    ("deprivation_most_to_least_quintile", "about 1.6-1.8", "age-standardised, published gradients"),
    ("practice_dispersion_ratio", "well above 1", "over-dispersion between practices"),
]


def _show(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_show(v)}" for k, v in value.items())
    return str(value)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", default="region", choices=["tiny", "region", "england"])
    parser.add_argument("--fraction", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=20150310)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--out", type=Path, help="Folder for the economy (default: a temporary one).")
    parser.add_argument("--reuse", action="store_true", help="Read the economy already in --out.")
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        folder = arguments.out or Path(scratch)
        if not arguments.reuse:
            config = SynthConfig(
                scale=arguments.scale,
                fraction=arguments.fraction,
                seed=arguments.seed,
                effects=load_effects(default_effects_path()),
            )
            started = time.perf_counter()
            result = generate(config, folder, workers=arguments.workers)
            print(
                f"generated {arguments.scale} (fraction {arguments.fraction:g}, seed {arguments.seed}): "
                f"{result.people:,} people at {result.practices} practices, "
                f"{sum(result.events.values()):,} rows in {time.perf_counter() - started:.0f} s"
            )
        measured = measure_realism(folder)
        in_sites = {code for m in site_memberships().values() for code in m.practice_codes}
        practices = set(
            pc.unique(
                pq.read_table(folder / "gp_registrations.parquet", columns=["practice_code"])["practice_code"]
            ).to_pylist()
        )
        measured["emergency_admissions_growth_count_rest_of_england"] = emergency_growth(
            folder, {code for code in practices if code not in in_sites}
        )
        print(f"\nreference year {measured['reference_year']}/{(measured['reference_year'] + 1) % 100:02d}")
        print(f"{'measure':52} {'measured':>10}  target (source)")
        for name, target, source in [
            *TARGETS,
            ("emergency_admissions_growth_count_rest_of_england", "2-3% a year", "no effects there"),
        ]:
            print(f"{name:52} {_show(measured[name]):>10}  {target} ({source})")
        print("\n4-hour performance by financial year (measured / target):")
        for year, value in measured["ae_four_hour_by_year"].items():
            print(f"  {year}/{(year + 1) % 100:02d}: {value:.3f} / {rates.ae_four_hour_target(year):.3f}")
        print(
            "A&E department type shares:",
            _show(measured["ae_type_shares"]),
            "(A&E file 2016-19: 0.64/0.025/0.335)",
        )
        print(
            "eFI categories, people 65+:",
            _show(measured["efi_category_shares"]),
            "(Clegg 2016: 0.50/0.35/0.12/0.03)",
        )
        print(
            "emergency admissions a year, people 65+, by conditions:",
            _show(measured["emergency_rate_65_plus_by_conditions"]),
        )
        print(
            "emergency admissions a year by the last eFI category:",
            _show(measured["emergency_rate_by_prior_efi"]),
        )
        print("condition prevalence (measured / QOF 2015-16):")
        for condition, target in rates.CONDITION_PREVALENCE.items():
            print(f"  {condition:24} {measured['condition_prevalence'][condition]:.4f} / {target:.4f}")
        seeds = seed_results(folder)
        print("\nseed results")
        print(
            "  Wakefield care homes, 2016/17 against 2015/16 (reported: ambulance -9%, A&E -12%, "
            "admissions -19%, bed days -26%):"
        )
        naive = seeds["wakefield_care_homes_before_after_2015_16"]
        true = seeds["wakefield_care_homes_true_effect_2016_17"]
        for measure in naive:
            print(
                f"    {measure:22} before-and-after {naive[measure]:+.3f}   planted effect {true[measure]:+.3f}"
            )
        print(
            "  Fylde Coast extensive care, planted effect in 2017/18 (reported -19% admissions, -16% A&E, -16% first OP):"
        )
        for measure, value in seeds["fylde_coast_extensive_care_true_effect_2017_18"].items():
            print(f"    {measure:22} {value:+.3f}")
        if "morecambe_bay_advice_referred_share" in seeds:
            print(
                "  Morecambe Bay advice and guidance: "
                f"{seeds['morecambe_bay_advice_requests']:,} would-be referrals went to advice, "
                f"{seeds['morecambe_bay_advice_referred_share']:.3f} were referred (reported 820 / 2,422 = 0.339)"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
