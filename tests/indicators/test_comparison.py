"""Fingertips-style comparisons with England and the rest of England, at 95% and 99.8%."""

from __future__ import annotations

import numpy as np

from caremodels.indicators import find_indicator
from caremodels.indicators.comparison import compare_with_benchmark, comparisons
from caremodels.indicators.compute import finish_arrays


def test_an_interval_above_or_below_the_benchmark_reads_by_the_direction_of_improvement() -> None:
    lower_is_better = find_indicator("emergency_admissions")
    higher_is_better = find_indicator("ae_four_hour_performance")
    low, high = np.array([1.0, 5.0, 1.0, np.nan]), np.array([2.0, 6.0, 9.0, 3.0])
    benchmark = np.array([4.0, 4.0, 4.0, 4.0])
    assert list(compare_with_benchmark(lower_is_better, low, high, benchmark)) == [
        "better",
        "worse",
        "similar",
        "not compared",
    ]
    assert list(compare_with_benchmark(higher_is_better, low, high, benchmark)) == [
        "worse",
        "better",
        "similar",
        "not compared",
    ]
    neither = lower_is_better.model_copy(update={"direction_of_improvement": "neither"})
    assert list(compare_with_benchmark(neither, low, high, benchmark))[:2] == ["lower", "higher"]


def test_the_rest_of_england_leaves_the_area_out_and_99_8_is_stricter_than_95() -> None:
    definition = find_indicator("emergency_admissions")
    # Two areas, one month each; England's sums hold both. Denominators are summed mid-month lists.
    numerator, denominator = np.array([130.0, 100.0]), np.array([10_000.0, 10_000.0])
    events, months = numerator.copy(), np.array([1.0, 1.0])
    total = np.array([230.0, 230.0]), np.array([20_000.0, 20_000.0]), np.array([230.0, 230.0])
    found = comparisons(definition, numerator, denominator, events, months, *total)
    area = finish_arrays(definition, numerator, denominator, events, months)
    rest = finish_arrays(definition, total[0] - numerator, total[1] - denominator, total[2] - events, months)
    england = finish_arrays(definition, *total, months)
    # Area 1 against the rest (area 2's value) and against England (both together, nearer to it).
    assert area.ci_low[0] > rest.value[0]
    assert found["rest_95"][0] == "worse"
    assert (area.ci_low[0] > england.value[0]) == (found["england_95"][0] == "worse")
    strict = finish_arrays(definition, numerator, denominator, events, months, confidence=0.998)
    assert strict.ci_low[0] < area.ci_low[0] and strict.ci_high[0] > area.ci_high[0]
    expected_998 = "worse" if strict.ci_low[0] > rest.value[0] else "similar"
    assert found["rest_99_8"][0] == expected_998
    assert found["rest_95"][1] == "better"
