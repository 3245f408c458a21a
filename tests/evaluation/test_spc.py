"""Tests for caremodels.evaluation.spc: Making Data Count XmR charts.

Most series here are built on a "zig-zag" baseline, 10, 14, 10, 14, ...: every step reverses
direction (so no trend) and the points alternate sides of the mean (so no shift), and its
moving range is a constant 4. Signals are then planted in it one at a time.
"""

from __future__ import annotations

import datetime as dt
import json
import warnings
from collections.abc import Sequence

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from caremodels.evaluation.spc import (
    ShortSeriesWarning,
    SpcResult,
    spc,
)

pytestmark = pytest.mark.filterwarnings("ignore::caremodels.evaluation.spc.ShortSeriesWarning")

ZIG = [10.0, 14.0]  # one period of the zig-zag baseline
ZAG = [14.0, 10.0]  # the same, starting high


def monthly(values: Sequence[float], start: str = "2020-01-01") -> pd.DataFrame:
    return pd.DataFrame(
        {
            "month": pd.date_range(start, periods=len(values), freq="MS"),
            "value": values,
        }
    )


def chart(values: Sequence[float], **options: object) -> SpcResult:
    results = spc(monthly(values), value="value", date="month", **options)
    assert len(results) == 1
    return results[0]


def winners(result: SpcResult) -> dict[int, str]:
    """Index -> winning rule, for the flagged points only."""
    return {i: p.special_cause_rule for i, p in enumerate(result.points) if p.special_cause_rule is not None}


def flagged(result: SpcResult, rule: str) -> list[int]:
    """Indices of the points that this rule flags (whether or not it wins)."""
    return [i for i, p in enumerate(result.points) if rule in p.rules]


# --------------------------------------------------------------------------------------------
# Limits
# --------------------------------------------------------------------------------------------


def test_limits_hand_worked_example() -> None:
    # values            5   7   6   8   9
    # moving ranges         2   1   2   1
    # mean              = (5 + 7 + 6 + 8 + 9) / 5 = 35 / 5 = 7
    # mean mR           = (2 + 1 + 2 + 1) / 4 = 6 / 4 = 1.5
    # outlier screen    3.267 x 1.5 = 4.9005: no moving range above it, so nothing dropped
    # process limits    = 7 +/- 2.66 x 1.5 = 7 +/- 3.99 -> 3.01 and 10.99
    # sigma             = 2.66 / 3 x 1.5 = 1.33 (MDC's 2.66/3, not 1/1.128 = 0.8865)
    # two-sigma lines   = 7 +/- 2 x 1.33 = 7 +/- 2.66 -> 4.34 and 9.66
    result = chart([5, 7, 6, 8, 9])
    (segment,) = result.segments
    assert segment.mean == pytest.approx(7.0)
    assert segment.mean_moving_range == pytest.approx(1.5)
    assert segment.moving_ranges_screened_out == 0
    assert segment.sigma == pytest.approx(1.33)
    assert segment.lower_limit == pytest.approx(3.01)
    assert segment.upper_limit == pytest.approx(10.99)
    assert segment.lower_two_sigma == pytest.approx(4.34)
    assert segment.upper_two_sigma == pytest.approx(9.66)
    assert (result.centre, result.lower_limit, result.upper_limit) == pytest.approx((7.0, 3.01, 10.99))
    assert [p.moving_range for p in result.points] == [None, 2, 1, 2, 1]
    assert all(p.upper_limit == pytest.approx(10.99) for p in result.points)
    assert winners(result) == {}


def test_outlier_screening_changes_the_limits() -> None:
    # values   10  12  11  13  12  40  12  11  13  12        mean = 146 / 10 = 14.6
    # mR            2   1   2   1  28  28   1   2   1        mean mR = 66 / 9 = 7.333
    # screen: 3.267 x 7.333 = 23.96, so both 28s go; mean mR = (2+1+2+1+1+2+1) / 7 = 10 / 7
    # screened limits   = 14.6 +/- 2.66 x 10/7 = 14.6 +/- 3.8       -> 10.8 and 18.4
    # unscreened limits = 14.6 +/- 2.66 x 66/9 = 14.6 +/- 19.5067   -> -4.9067 and 34.1067
    values = [10, 12, 11, 13, 12, 40, 12, 11, 13, 12]
    screened = chart(values)
    unscreened = chart(values, screen_outliers=False)

    assert screened.segments[0].mean == unscreened.segments[0].mean == pytest.approx(14.6)
    assert screened.segments[0].mean_moving_range_unscreened == pytest.approx(66 / 9)
    assert screened.segments[0].mean_moving_range == pytest.approx(10 / 7)
    assert screened.segments[0].moving_ranges_screened_out == 2
    assert (screened.lower_limit, screened.upper_limit) == pytest.approx((10.8, 18.4))
    assert unscreened.segments[0].mean_moving_range == pytest.approx(66 / 9)
    assert (unscreened.lower_limit, unscreened.upper_limit) == pytest.approx(
        (14.6 - 2.66 * 66 / 9, 14.6 + 2.66 * 66 / 9)
    )
    # the moving ranges into and out of the 40 are the ones screened out
    assert [i for i, p in enumerate(screened.points) if p.moving_range_screened_out] == [5, 6]
    assert not any(p.moving_range_screened_out for p in unscreened.points)
    # with the tighter limits the first point (10 < 10.8) is outside too
    assert flagged(screened, "outside_limits") == [0, 5]
    assert flagged(unscreened, "outside_limits") == [5]
    assert any("moving range" in c for c in screened.caveats)


def test_moving_range_exactly_at_the_screen_threshold_is_kept() -> None:
    # moving ranges 1, 1, 1, a: the mean mR is (3 + a) / 4, and a sits exactly on the screen
    # threshold 3.267 x (3 + a) / 4 when a = 3 x 3.267 / (4 - 3.267) = 13.371...
    # MDC's SQL keeps mR <= 3.267 x mean mR, so it stays; anything above it goes.
    a = 3 * 3.267 / (4 - 3.267)
    on_threshold = chart([0, 1, 0, 1, 1 + a])
    assert on_threshold.segments[0].moving_ranges_screened_out == 0
    assert on_threshold.segments[0].mean_moving_range == pytest.approx((3 + a) / 4)
    above = chart([0, 1, 0, 1, 1 + a * 1.001])
    assert above.segments[0].moving_ranges_screened_out == 1
    assert above.segments[0].mean_moving_range == pytest.approx(1.0)


# --------------------------------------------------------------------------------------------
# Rule 1: a point outside the process limits
# --------------------------------------------------------------------------------------------


def test_point_outside_limits() -> None:
    values = [*ZIG * 3, 10, 40, *ZIG * 4]  # mean 13.625; mean mR 4 (both 30s screened)
    result = chart(values)
    assert result.upper_limit == pytest.approx(13.625 + 2.66 * 4)  # 24.265
    assert winners(result) == {7: "outside_limits"}
    assert result.points[7].special_cause_direction == "high"


def test_points_on_the_limits_are_not_outside() -> None:
    # with no variation the limits collapse onto the mean, so every point sits exactly on
    # both limits and on the mean: no limit breach (MDC uses strict > and <), no shift
    result = chart([7, 7, 7, 7, 7, 7, 7, 7])
    assert result.upper_limit == result.lower_limit == 7
    assert winners(result) == {}
    assert any("zero width" in c for c in result.caveats)


def test_screening_can_collapse_the_limits_of_a_nearly_constant_series() -> None:
    # e.g. a unit that meets the 4-hour standard 100% every month but one: the single pair of
    # non-zero moving ranges is screened out, so the limits have no width (as in MDC's tools)
    result = chart([1.0] * 10 + [0.9] + [1.0] * 5)
    assert result.segments[0].moving_ranges_screened_out == 2
    assert result.upper_limit == result.lower_limit == result.centre
    assert any("zero width" in c and "after screening" in c for c in result.caveats)
    assert len(flagged(result, "outside_limits")) == 16  # every point is off the mean


# --------------------------------------------------------------------------------------------
# Rule 2: trend
# --------------------------------------------------------------------------------------------

SEVEN_UP = [*ZIG * 3, 10, 9, 10, 11, 12, 13, 14, 15, 10, 14, 10, 14]  # 9..15 at indices 7..13
SIX_UP = [*ZIG * 3, 10, 9, 10, 11, 12, 13, 14, 10, 14, 10, 14, 10]  # 9..14 at indices 7..12


def test_seven_point_trend() -> None:
    result = chart(SEVEN_UP)
    assert winners(result) == dict.fromkeys(range(7, 14), "trend")
    assert {p.special_cause_direction for p in result.points[7:14]} == {"high"}


def test_six_point_trend_needs_the_six_option() -> None:
    assert winners(chart(SIX_UP)) == {}
    assert winners(chart(SIX_UP, trend_length=6)) == dict.fromkeys(range(7, 13), "trend")
    # and a seven-point trend is also a six-point trend
    assert flagged(chart(SEVEN_UP, trend_length=6), "trend") == list(range(7, 14))


def test_a_tie_breaks_a_trend() -> None:
    # 9 10 11 12 12 13 14 15: eight points rising but for one repeat. MDC's SQL counts a
    # point as rising only if strictly above the previous one, so the repeat ends the run:
    # two runs of four points, no trend even with the six-point option.
    tied = [*ZIG * 3, 10, 9, 10, 11, 12, 12, 13, 14, 15, 10, 14, 10, 14]
    assert flagged(chart(tied, trend_length=6), "trend") == []
    # the same values without the repeat are a trend
    untied = [*ZIG * 3, 10, 9, 10, 11, 12, 12.5, 13, 14, 15, 10, 14, 10, 14]
    assert flagged(chart(untied, trend_length=7), "trend") == list(range(7, 15))


def test_trend_through_a_peak_takes_the_later_direction() -> None:
    # 10 rising to 16 (7 points), then 16 falling to 10 (7 points); the 16 is in both.
    values = [*ZIG * 3, 10, 11, 12, 13, 14, 15, 16, 15, 14, 13, 12, 11, 10, 14, 10, 14]
    result = chart(values, improvement="increase")
    assert flagged(result, "trend") == list(range(6, 19))
    peak = result.points[12]
    assert peak.value == 16
    assert (peak.special_cause_direction, peak.special_cause_type) == ("low", "concern")
    assert result.points[11].special_cause_type == "improvement"


def test_trend_classified_by_its_direction_not_by_side_of_mean() -> None:
    # a falling trend entirely above the mean, where higher is better: the points are also a
    # shift above the mean (improvement), but the trend wins and it is falling (concern)
    values = [*ZIG * 6, 20, 19, 18, 17, 16, 15, 14, 15, *ZIG * 3]
    result = chart(values, improvement="increase")
    for p in result.points[12:19]:
        assert p.rules == ["trend", "shift"]
        assert (p.special_cause_rule, p.special_cause_type) == ("trend", "concern")
    # the shift's other points are improvement
    assert result.points[11].special_cause_type == "improvement"
    assert result.points[19].special_cause_type == "improvement"


# --------------------------------------------------------------------------------------------
# Rule 3: two of three points beyond two sigma
# --------------------------------------------------------------------------------------------


def test_two_of_three_flags_only_the_points_beyond_two_sigma() -> None:
    # 22 14 22: two points beyond the upper two-sigma line (21.45) with a point between them
    # that is above the mean but not beyond two sigma. MDC flags the two, not the middle one.
    result = chart([*ZIG * 8, 22, 14, 22, *ZIG * 3])
    assert result.segments[0].upper_two_sigma == pytest.approx(21.4511, abs=1e-4)
    assert result.upper_limit > 22
    assert winners(result) == {16: "two_of_three", 18: "two_of_three"}


def test_two_of_three_needs_all_three_points_on_the_same_side() -> None:
    # 22 22 with a point below the mean on each side: no window of three is all above the
    # mean, so no signal (MDC's SQL since v2.1, NHSRplotthedots since 0.2)
    assert flagged(chart([*ZAG * 8, 22, 22, 10, *ZAG * 3]), "two_of_three") == []
    # the same pair after a point above the mean is a signal
    assert flagged(chart([*ZIG * 8, 22, 22, 10, *ZAG * 3]), "two_of_three") == [16, 17]


def test_two_of_three_counts_a_point_beyond_the_limit() -> None:
    # 30 is above the process limit and 21 is beyond two sigma: as in MDC's SQL the 30 counts
    # towards the two of three, so the 21 is flagged; the 30 reports the stronger rule.
    result = chart([*ZIG * 8, 30, 21, 14, *ZIG * 3])
    assert result.points[16].rules == ["outside_limits", "two_of_three"]
    assert result.points[16].special_cause_rule == "outside_limits"
    assert result.points[17].special_cause_rule == "two_of_three"


# --------------------------------------------------------------------------------------------
# Rule 4: shift
# --------------------------------------------------------------------------------------------

UP7 = [13, 13.5, 13, 13.5, 13, 13.5, 13]
DOWN7 = [11, 10.5, 11, 10.5, 11, 10.5, 11]  # mirror image of UP7, so the mean stays at 12


def test_seven_point_shift_each_side() -> None:
    values = [*ZIG * 2, 10, *UP7, *ZIG * 3, *DOWN7, *ZAG * 2, 14]
    result = chart(values, improvement="decrease")
    assert result.centre == 12
    assert winners(result) == {
        **dict.fromkeys(range(5, 12), "shift"),
        **dict.fromkeys(range(18, 25), "shift"),
    }
    assert {p.special_cause_type for p in result.points[5:12]} == {"concern"}
    assert {p.special_cause_type for p in result.points[18:25]} == {"improvement"}


def test_a_point_on_the_mean_breaks_a_shift() -> None:
    # the middle point of each block is exactly 12, the mean: 3 + 3 points, not 7
    up = [13, 13.5, 13, 12, 13, 13.5, 13]
    down = [11, 10.5, 11, 12, 11, 10.5, 11]
    result = chart([*ZIG * 2, 10, *up, *ZIG * 3, *down, *ZAG * 2, 14])
    assert result.centre == 12
    assert flagged(result, "shift") == []


def test_point_on_the_mean_allows_for_floating_point_noise() -> None:
    # The previous series in hundredths: its mean is 0.12000000000000002 in binary floating
    # point, yet the points 0.12 must still count as on the mean (so they break the runs).
    up = [13, 13.5, 13, 12, 13, 13.5, 13]
    down = [11, 10.5, 11, 12, 11, 10.5, 11]
    values = [x / 100 for x in [*ZIG * 2, 10, *up, *ZIG * 3, *down, *ZAG * 2, 14]]
    result = chart(values)
    assert result.centre != 0.12  # genuinely noisy
    assert result.centre == pytest.approx(0.12)
    assert flagged(result, "shift") == []
    # and with the 0.12s nudged off the mean the shifts reappear, so the test can fail
    nudged = [0.1301 if v == 0.12 and i < 12 else 0.1099 if v == 0.12 else v for i, v in enumerate(values)]
    assert flagged(chart(nudged), "shift") == [*range(5, 12), *range(18, 25)]


def test_six_point_shift_needs_the_six_option() -> None:
    up6 = [13, 13.5, 13, 13.5, 13, 13.5]
    values = [*ZIG * 2, 10, *up6, *ZIG * 4]
    assert flagged(chart(values), "shift") == []
    assert flagged(chart(values, shift_length=6), "shift") == list(range(5, 11))


# --------------------------------------------------------------------------------------------
# Precedence
# --------------------------------------------------------------------------------------------


def test_outside_limits_beats_a_trend_in_the_other_direction() -> None:
    # higher is better; -5 is far below the lower limit (concern) and also starts a rising
    # trend (improvement). Our precedence puts the limit first, so it is a concern.
    # (MDC's SQL resolves such clashes the other way round: trend, shift, 2-of-3, limit.)
    values = [*ZIG * 8, -5, 6, 7, 8, 9, 10, 11, *ZAG * 4]
    result = chart(values, improvement="increase")
    low = result.points[16]
    assert low.rules == ["outside_limits", "trend"]
    assert (low.special_cause_rule, low.special_cause_type) == ("outside_limits", "concern")
    assert result.points[17].special_cause_type == "improvement"


def test_trend_beats_two_of_three() -> None:
    # a rise 10 .. 21 whose last two points are beyond the upper two-sigma line (19.05)
    values = [*ZIG * 8, 10, 11, 12, 13, 14, 20, 21, *ZAG * 3]
    result = chart(values, improvement="increase")
    assert result.segments[0].upper_two_sigma == pytest.approx(19.0462, abs=1e-4)
    assert result.points[21].rules == ["trend", "two_of_three"]
    assert winners(result) == dict.fromkeys(range(16, 23), "trend")


def test_two_of_three_beats_shift() -> None:
    # seven points above the mean (12.69), two of them beyond two sigma (20.12)
    values = [*ZIG * 6, 10, 13, 21, 13.5, 21, 13, 13.5, 13, *ZIG * 6]
    result = chart(values)
    assert result.points[14].rules == ["two_of_three", "shift"]
    assert winners(result) == {
        **dict.fromkeys(range(13, 20), "shift"),
        14: "two_of_three",
        16: "two_of_three",
    }


def test_every_point_reports_its_first_rule() -> None:
    result = chart([*ZIG * 6, 20, 19, 18, 17, 16, 15, 14, 15, *ZIG * 3])
    for p in result.points:
        assert p.special_cause_rule == (p.rules[0] if p.rules else None)


# --------------------------------------------------------------------------------------------
# Classification and icons
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("improvement", "point_type", "icon"),
    [
        ("increase", "improvement", "improvement_high"),
        ("decrease", "concern", "concern_high"),
        ("neither", "neither", "neither_high"),
    ],
)
def test_variation_icon_from_the_latest_point(improvement: str, point_type: str, icon: str) -> None:
    values = [*ZIG * 6, 10, 40]  # the latest point is far above the upper limit
    result = chart(values, improvement=improvement)
    assert result.points[-1].special_cause_type == point_type
    assert result.variation_icon == icon


@pytest.mark.parametrize(
    ("improvement", "icon"),
    [("increase", "concern_low"), ("decrease", "improvement_low"), ("neither", "neither_low")],
)
def test_variation_icon_low(improvement: str, icon: str) -> None:
    result = chart([*ZIG * 6, 10, -20], improvement=improvement)
    assert result.variation_icon == icon


def test_variation_icon_is_common_cause_when_the_latest_point_is() -> None:
    # an earlier point is outside the limits but the latest is ordinary
    result = chart([*ZIG * 3, 10, 40, *ZIG * 4], improvement="increase")
    assert result.points[7].special_cause_type == "improvement"
    assert result.variation_icon == "common_cause"


# limits of 5 7 6 8 9 are 3.01 .. 10.99 (see the hand-worked example)
@pytest.mark.parametrize(
    ("improvement", "target", "icon"),
    [
        ("increase", 2.0, "pass"),  # target below the lower limit: always hit
        ("increase", 12.0, "fail"),  # target above the upper limit: always missed
        ("increase", 8.0, "hit_and_miss"),
        ("decrease", 12.0, "pass"),
        ("decrease", 2.0, "fail"),
        ("decrease", 8.0, "hit_and_miss"),
        # a target exactly on a limit counts as pass/fail (MDC's SQL v2.1 onwards)
        ("increase", 3.01, "pass"),
        ("increase", 10.99, "fail"),
        ("decrease", 10.99, "pass"),
        ("decrease", 3.01, "fail"),
    ],
)
def test_assurance_icon(improvement: str, target: float, icon: str) -> None:
    assert chart([5, 7, 6, 8, 9], improvement=improvement, target=target).assurance_icon == icon


def test_no_assurance_without_target_or_direction() -> None:
    assert chart([5, 7, 6, 8, 9]).assurance_icon is None
    neither = chart([5, 7, 6, 8, 9], improvement="neither", target=8.0)
    assert neither.assurance_icon is None
    assert any("improvement direction" in c for c in neither.caveats)


# --------------------------------------------------------------------------------------------
# Rebasing
# --------------------------------------------------------------------------------------------

STEP = [10, 12, 11, 10, 12, 11, 10, 12, 11, 10, 12, 11, 20, 22, 21, 20, 22, 21, 20, 22, 21]
STEP_AT = "2021-01-01"  # the 13th month, where the values jump from about 11 to about 21


def test_rebase_gives_each_segment_its_own_limits() -> None:
    plain = chart(STEP)
    # without a rebase the step is two long shifts
    assert flagged(plain, "shift") == list(range(21))

    result = chart(STEP, rebase=[STEP_AT])
    first, second = result.segments
    assert (first.start_date, first.end_date, first.n_points) == (
        dt.date(2020, 1, 1),
        dt.date(2020, 12, 1),
        12,
    )
    assert (second.start_date, second.n_points) == (dt.date(2021, 1, 1), 9)
    assert first.mean == pytest.approx(11.0)
    assert second.mean == pytest.approx(21.0)
    # the 11 -> 20 jump is not a moving range: it would straddle the rebase
    assert result.points[12].moving_range is None
    # mR 2,1,1,2,1,1,2,1,1,2,1 and 2,1,1,2,1,1,2,1; the jump of 9 is in neither, even before
    # outlier screening
    assert first.mean_moving_range_unscreened == pytest.approx(15 / 11)
    assert second.mean_moving_range_unscreened == pytest.approx(11 / 8)
    assert first.mean_moving_range == pytest.approx(15 / 11)
    assert second.mean_moving_range == pytest.approx(11 / 8)
    assert result.centre == pytest.approx(21.0)
    assert result.upper_limit == second.upper_limit
    assert [p.segment for p in result.points] == [0] * 12 + [1] * 9
    assert result.points[0].mean == pytest.approx(11.0)
    assert result.points[-1].mean == pytest.approx(21.0)
    assert winners(result) == {}
    assert any("segment 1" in c and "9 points" in c for c in result.caveats)


def test_assurance_uses_the_latest_segment() -> None:
    # limits are about 7.4 .. 14.6 before the rebase and 17.7 .. 24.3 after it: a target of
    # 15 (higher is better) was always missed before and is always hit now
    result = chart(STEP, rebase=[STEP_AT], improvement="increase", target=15.0)
    assert result.segments[0].upper_limit < 15 < result.segments[1].lower_limit
    assert result.assurance_icon == "pass"


def test_rebase_date_between_points_starts_at_the_next_point() -> None:
    result = chart(STEP, rebase="2020-12-15")
    assert result.segments[1].start_date == dt.date(2021, 1, 1)


def test_rebase_outside_the_series_is_ignored_with_a_caveat() -> None:
    result = chart(STEP, rebase=["2019-01-01", "2030-01-01"])
    assert len(result.segments) == 1
    assert sum("ignored" in c for c in result.caveats) == 2


def test_rebase_leaving_a_one_point_segment_is_an_error() -> None:
    with pytest.raises(ValueError, match=r"segment starting 2021-09-01 has only 1 point"):
        chart(STEP, rebase=["2021-09-01"])


def test_a_trend_runs_across_a_rebase() -> None:
    # As in MDC's SQL, a trend does not depend on the limits, so it is not cut by a rebase.
    values = [*ZIG * 4, 9, 10, 11, 12, 13, 14, 15, *ZAG * 4]
    result = chart(values, rebase=["2020-12-01"])  # splits the rise 9..15 after the 11
    assert len(result.segments) == 2
    assert flagged(result, "trend") == list(range(8, 15))


# --------------------------------------------------------------------------------------------
# Short series, grouping and input checks
# --------------------------------------------------------------------------------------------


def test_short_series_warns_and_carries_a_caveat() -> None:
    with pytest.warns(ShortSeriesWarning, match="1 of 1 series"):
        result = chart([*ZIG * 7])  # 14 points
    assert any("only 14 points" in c for c in result.caveats)

    with warnings.catch_warnings():
        warnings.simplefilter("error", ShortSeriesWarning)
        result = chart([*ZIG * 7, 10])  # 15 points
    assert not any("points" in c for c in result.caveats)


def test_two_points_is_the_minimum() -> None:
    result = chart([3, 5])
    assert result.segments[0].mean_moving_range == 2
    with pytest.raises(ValueError, match=r"1 point; an XmR chart needs at least 2"):
        chart([3])


def test_empty_frame_is_an_error() -> None:
    with pytest.raises(ValueError, match="no rows"):
        chart([])


def test_rows_are_sorted_by_date() -> None:
    frame = monthly([5, 7, 6, 8, 9]).iloc[::-1]
    result = spc(frame, value="value", date="month")[0]
    assert [p.value for p in result.points] == [5, 7, 6, 8, 9]
    assert result.points[0].date == dt.date(2020, 1, 1)


def _two_groups() -> pd.DataFrame:
    a = monthly([5, 7, 6, 8, 9]).assign(org="B")  # listed first, sorts second
    b = monthly([*ZIG * 3, 10, 40, *ZIG * 4]).assign(org="A")
    return pd.concat([a, b], ignore_index=True)


def test_grouped_input_gives_one_result_per_group() -> None:
    frame = _two_groups()
    results = spc(frame, value="value", date="month", group="org", improvement="increase")
    assert [r.group for r in results] == ["A", "B"]
    for r in results:
        alone = spc(frame[frame["org"] == r.group], value="value", date="month")[0]
        assert r.segments[0].mean == alone.segments[0].mean
        assert r.upper_limit == alone.upper_limit
    a, b = results
    assert a.variation_icon == "common_cause"
    assert flagged(a, "outside_limits") == [7]
    assert b.upper_limit == pytest.approx(10.99)


def test_per_group_target_and_rebase() -> None:
    frame = _two_groups()
    results = spc(
        frame,
        value="value",
        date="month",
        group="org",
        improvement="increase",
        target={"B": 2.0},
        rebase={"A": ["2020-04-01"]},
    )
    a, b = results
    assert len(a.segments) == 2
    assert len(b.segments) == 1
    assert b.assurance_icon == "pass"
    assert a.assurance_icon is None
    assert any("no target" in c for c in a.caveats)


def test_duplicate_dates_in_a_group_name_the_group_and_date() -> None:
    frame = _two_groups()
    frame.loc[frame.index[-1], "month"] = pd.Timestamp("2020-02-01")
    with pytest.raises(ValueError, match=r"group 'A' has more than one row for date 2020-02-01"):
        spc(frame, value="value", date="month", group="org")


def test_the_same_date_in_different_groups_is_fine() -> None:
    results = spc(_two_groups(), value="value", date="month", group="org")
    assert results[0].points[0].date == results[1].points[0].date


def test_group_with_one_point_is_named() -> None:
    frame = pd.concat([_two_groups(), monthly([1.0]).assign(org="C")], ignore_index=True)
    with pytest.raises(ValueError, match=r"group 'C' has 1 point"):
        spc(frame, value="value", date="month", group="org")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"value": "missing"}, "value column 'missing' is not in the frame"),
        ({"improvement": "up"}, "improvement must be one of"),
        ({"trend_length": 5}, "trend_length must be an integer from 6 to 8"),
        ({"shift_length": 9}, "shift_length must be an integer from 6 to 8"),
        ({"shift_length": True}, "shift_length must be an integer"),
        ({"target": float("nan")}, "target must be a finite number"),
    ],
)
def test_bad_options(change: dict[str, object], message: str) -> None:
    options: dict[str, object] = {"value": "value", "date": "month", **change}
    with pytest.raises(ValueError, match=message):
        spc(monthly([5, 7, 6, 8, 9]), **options)


def test_missing_and_non_numeric_values() -> None:
    with pytest.raises(ValueError, match=r"missing or infinite value at 2020-03-01"):
        chart([5, 7, float("nan"), 8, 9])
    text = monthly([5, 7, 6, 8, 9]).astype({"value": str})
    with pytest.raises(ValueError, match="must be numeric"):
        spc(text, value="value", date="month")


# --------------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------------


def test_json_round_trip() -> None:
    result = chart(STEP, rebase=[STEP_AT], target=15.0, improvement="increase")
    data = result.model_dump(mode="json")
    text = json.dumps(data)  # plain JSON: dates as ISO strings, no NaN
    assert '"date": "2020-01-01"' in text
    assert data["points"][12]["moving_range"] is None
    assert SpcResult.model_validate(json.loads(text)) == result


def test_timestamps_with_a_time_of_day_stay_datetimes() -> None:
    frame = pd.DataFrame(
        {
            "hour": pd.date_range("2024-01-01 08:00", periods=5, freq="h"),
            "value": [5, 7, 6, 8, 9],
        }
    )
    result = spc(frame, value="value", date="hour")[0]
    assert result.points[0].date == dt.datetime(2024, 1, 1, 8)


# --------------------------------------------------------------------------------------------
# Properties
# --------------------------------------------------------------------------------------------

series = st.lists(st.integers(min_value=0, max_value=40), min_size=2, max_size=40)


def _signals(result: SpcResult) -> list[tuple[list[str], str | None]]:
    return [(list(p.rules), p.special_cause_direction) for p in result.points]


@settings(max_examples=60, deadline=None)
@given(values=series, shift=st.integers(min_value=-1000, max_value=1000))
def test_adding_a_constant_moves_the_limits_but_not_the_signals(values: list[int], shift: int) -> None:
    base = chart([float(v) for v in values])
    moved = chart([float(v + shift) for v in values])
    assert moved.upper_limit == pytest.approx(base.upper_limit + shift)
    assert moved.lower_limit == pytest.approx(base.lower_limit + shift)
    assert _signals(moved) == _signals(base)


@settings(max_examples=60, deadline=None)
@given(values=series)
def test_mirroring_the_values_mirrors_the_verdicts(values: list[int]) -> None:
    up = chart([float(v) for v in values], improvement="increase", target=20.0)
    down = chart([-float(v) for v in values], improvement="decrease", target=-20.0)
    assert [p.rules for p in down.points] == [p.rules for p in up.points]
    assert [p.special_cause_type for p in down.points] == [p.special_cause_type for p in up.points]
    assert down.assurance_icon == up.assurance_icon
    flip = {"high": "low", "low": "high", None: None}
    assert [p.special_cause_direction for p in down.points] == [
        flip[p.special_cause_direction] for p in up.points
    ]


@settings(max_examples=60, deadline=None)
@given(values=series)
def test_limits_are_ordered_and_centred(values: list[int]) -> None:
    result = chart([float(v) for v in values])
    (s,) = result.segments
    assert s.mean == pytest.approx(sum(values) / len(values))
    assert s.lower_limit <= s.lower_two_sigma <= s.mean <= s.upper_two_sigma <= s.upper_limit
    assert s.upper_limit - s.mean == pytest.approx(s.mean - s.lower_limit)
    assert s.mean_moving_range <= s.mean_moving_range_unscreened + 1e-12
