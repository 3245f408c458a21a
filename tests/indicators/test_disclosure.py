from __future__ import annotations

import pandas as pd
from hypothesis import given
from hypothesis import strategies as st

from caremodels.indicators.disclosure import apply_disclosure_control, round_count
from caremodels.reference import DisclosureControl


def test_hes_rules() -> None:
    assert [round_count(n) for n in (0, 1, 7, 8, 12, 13, 15, 1002)] == [0, None, None, 10, 10, 15, 15, 1000]


def test_rows_with_a_small_count_are_suppressed_with_their_rates() -> None:
    frame = pd.DataFrame({"numerator": [3, 12, 0], "denominator": [100, 100, 4], "rate": [30.0, 120.0, 0.0]})
    published = apply_disclosure_control(frame, ["numerator", "denominator"], withheld_columns=["rate"])
    assert published["suppressed"].tolist() == [True, False, True]
    assert published["numerator"].tolist()[1] == 10
    assert pd.isna(published["rate"][0]) and published["rate"][1] == 120.0  # from the true count


def test_rules_can_be_configured() -> None:
    rules = DisclosureControl(suppress_from=1, suppress_to=9, round_to=10)
    assert round_count(9, rules) is None and round_count(14, rules) == 10 and round_count(15, rules) == 20


@given(st.lists(st.integers(min_value=0, max_value=10**7), min_size=1, max_size=50))
def test_no_published_count_is_between_1_and_7(counts: list[int]) -> None:
    published = apply_disclosure_control(pd.DataFrame({"count": counts}), ["count"])
    values = published["count"].dropna()
    assert not values.between(1, 7).any()
    assert (values % 5 == 0).all()
    assert (abs(values - pd.Series(counts)[values.index]) <= 2).all()
