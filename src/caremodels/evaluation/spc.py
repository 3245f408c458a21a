"""Statistical process control (XmR charts) the way NHS England's *Making Data Count* does it.

The calculations follow the Making Data Count (MDC) guidance, NHS England's "SPC charts SQL
query" (v2.6) and the NHS-R Community's NHSRplotthedots R package. Where those sources differ
the choice made here is stated next to the code and in ``docs/spc.md``.

Summary of the method, per series (one series per group):

* centre line = mean of the segment's values;
* moving range ``mR_i = |x_i - x_{i-1}|`` within a segment (never across a rebase);
* optional screening: moving ranges above ``3.267 x mean mR`` are dropped and the mean moving
  range is recomputed (the centre line is left alone, as in NHSRplotthedots);
* process limits = mean +/- 2.66 x mean mR; "two sigma" lines = mean +/- (2/3) x 2.66 x mean mR;
* special-cause rules in precedence order: a point outside the limits, a trend, two of three
  points beyond two sigma, a shift. Each point keeps the highest-precedence rule that flags it.

Use :func:`spc`; each :class:`SpcResult` turns into JSON-ready data with
``result.model_dump(mode="json")``.
"""

from __future__ import annotations

import datetime as dt
import itertools
import warnings
from collections.abc import Hashable, Mapping, Sequence
from typing import Literal, TypeAlias

import numpy as np
import numpy.typing as npt
import pandas as pd
from pydantic import BaseModel, ConfigDict

__all__ = [
    "LIMIT_FACTOR",
    "MIN_RECOMMENDED_POINTS",
    "MOVING_RANGE_OUTLIER_FACTOR",
    "RULE_PRECEDENCE",
    "AssuranceIcon",
    "Improvement",
    "ShortSeriesWarning",
    "SpcPoint",
    "SpcResult",
    "SpcSegment",
    "SpecialCauseRule",
    "SpecialCauseType",
    "VariationIcon",
    "spc",
]

Improvement: TypeAlias = Literal["increase", "decrease", "neither"]
SpecialCauseRule: TypeAlias = Literal["outside_limits", "trend", "two_of_three", "shift"]
SpecialCauseType: TypeAlias = Literal["improvement", "concern", "neither"]
Direction: TypeAlias = Literal["high", "low"]
VariationIcon: TypeAlias = Literal[
    "common_cause",
    "improvement_high",
    "improvement_low",
    "concern_high",
    "concern_low",
    "neither_high",
    "neither_low",
]
AssuranceIcon: TypeAlias = Literal["pass", "fail", "hit_and_miss"]
GroupKey: TypeAlias = str | int | float | None
DateLike: TypeAlias = str | dt.date | pd.Timestamp | np.datetime64

# 2.66 = 3 / d2 with d2 = 1.128 (the bias constant for moving ranges of two points), so
# mean +/- 2.66 x mean mR are the conventional "three sigma" limits. MDC uses the rounded 2.66.
LIMIT_FACTOR = 2.66
# MDC draws the one- and two-sigma lines as thirds of the distance to the process limit
# (2.66 / 3 = 0.8867) rather than 1 / 1.128 = 0.8865; we do the same so charts match.
SIGMA_FACTOR = LIMIT_FACTOR / 3
# 3.267 = D4 for subgroups of two: the upper limit of a moving-range chart.
MOVING_RANGE_OUTLIER_FACTOR = 3.267
# MDC advises 15-20 points to set a baseline; fewer gives limits that move a lot.
MIN_RECOMMENDED_POINTS = 15
RULE_PRECEDENCE: tuple[SpecialCauseRule, ...] = ("outside_limits", "trend", "two_of_three", "shift")
_RUN_LENGTHS = range(6, 9)  # MDC's SQL accepts 6-8 points for trends and shifts
_IMPROVEMENTS: tuple[Improvement, ...] = ("increase", "decrease", "neither")
# Values this close (relative) count as equal, so that floating-point noise such as
# 0.1 + 0.2 != 0.3 neither creates nor breaks a run, a tie or a limit breach.
_REL_TOL = 1e-9

IntArray: TypeAlias = npt.NDArray[np.int8]
FloatArray: TypeAlias = npt.NDArray[np.float64]
BoolArray: TypeAlias = npt.NDArray[np.bool_]


class ShortSeriesWarning(UserWarning):
    """Some series (or rebased segments) have fewer points than MDC recommends."""


class SpcPoint(BaseModel):
    """One point of an XmR chart and the special-cause rule (if any) that flags it."""

    model_config = ConfigDict(frozen=True)

    date: dt.date | dt.datetime
    value: float
    segment: int
    """Index into :attr:`SpcResult.segments` of the segment this point belongs to."""
    mean: float
    upper_limit: float
    lower_limit: float
    upper_two_sigma: float
    lower_two_sigma: float
    moving_range: float | None
    """``|value - previous value|``; None for the first point of a segment."""
    moving_range_screened_out: bool
    """True when this moving range was above 3.267 x mean mR and left out of the limits."""
    rules: list[SpecialCauseRule]
    """Every rule that flags the point, in precedence order."""
    special_cause_rule: SpecialCauseRule | None
    """The highest-precedence rule that flags the point (``rules[0]``), else None."""
    special_cause_direction: Direction | None
    """Whether the winning rule signals high or low values."""
    special_cause_type: SpecialCauseType | None


class SpcSegment(BaseModel):
    """Mean and limits of one stretch of a series between rebases."""

    model_config = ConfigDict(frozen=True)

    index: int
    start_date: dt.date | dt.datetime
    end_date: dt.date | dt.datetime
    n_points: int
    mean: float
    mean_moving_range: float
    """Mean moving range used for the limits (after screening, when screening is on)."""
    mean_moving_range_unscreened: float
    moving_ranges_screened_out: int
    baseline_points: int
    """Points the mean and limits were computed from: ``n_points`` unless the limits were
    fixed on a baseline period inside this segment."""
    sigma: float
    """Estimated standard deviation: 2.66 / 3 x mean moving range."""
    upper_limit: float
    lower_limit: float
    upper_two_sigma: float
    lower_two_sigma: float


class SpcResult(BaseModel):
    """XmR chart of one series: limits, per-point signals and the MDC summary icons."""

    model_config = ConfigDict(frozen=True)

    group: GroupKey
    improvement: Improvement
    target: float | None
    trend_length: int
    shift_length: int
    screen_outliers: bool
    n_points: int
    centre: float
    """Mean of the latest segment."""
    upper_limit: float
    """Upper process limit of the latest segment."""
    lower_limit: float
    """Lower process limit of the latest segment."""
    segments: list[SpcSegment]
    variation_icon: VariationIcon
    assurance_icon: AssuranceIcon | None
    caveats: list[str]
    points: list[SpcPoint]


def spc(
    frame: pd.DataFrame,
    *,
    value: str,
    date: str,
    group: str | None = None,
    target: float | Mapping[Hashable, float] | None = None,
    improvement: Improvement = "decrease",
    trend_length: int = 7,
    shift_length: int = 7,
    rebase: DateLike | Sequence[DateLike] | Mapping[Hashable, Sequence[DateLike]] | None = None,
    screen_outliers: bool = True,
    baseline: tuple[DateLike, DateLike] | None = None,
) -> list[SpcResult]:
    """Run Making Data Count XmR charts on one series or on one series per group.

    Args:
        frame: one row per point.
        value: column holding the measure (numeric, no missing values).
        date: column holding the period (anything :func:`pandas.to_datetime` reads).
        group: optional column splitting the rows into separate series.
        target: optional target for the assurance icon; a mapping gives one per group
            (groups missing from the mapping get no assurance icon).
        improvement: which direction is good: "increase", "decrease" or "neither".
        trend_length: points in a row all going up (or all down) that make a trend, 6-8.
        shift_length: points in a row on one side of the mean that make a shift, 6-8.
        rebase: dates at which the mean and limits are recalculated: one date, a list for
            every group, or a mapping from group to list. A rebase date starts a new segment
            at the first point on or after it.
        screen_outliers: leave moving ranges above 3.267 x mean mR out of the limits.
        baseline: optional (first, last) dates, both included. The segment holding them
            takes its mean and limits from those points only and keeps them ("fixed
            limits") to its end; the other segments are unaffected. The period must lie in
            one segment and hold at least 2 points of every group.

    Returns:
        One :class:`SpcResult` per group, in sorted group order (one result when ``group``
        is None).

    Raises:
        ValueError: on bad options, missing columns, missing or non-numeric values,
            duplicate dates within a group, or a series or segment with fewer than 2 points.

    Warns:
        ShortSeriesWarning: when a series or segment has fewer than 15 points; each affected
            result also carries a caveat.
    """
    _check_options(improvement, trend_length, shift_length)
    for role, column in (("value", value), ("date", date), ("group", group)):
        if column is not None and column not in frame.columns:
            raise ValueError(f"{role} column {column!r} is not in the frame")
    if frame.empty:
        raise ValueError("the frame has no rows: SPC needs at least 2 points per series")
    if not pd.api.types.is_numeric_dtype(frame[value]) or pd.api.types.is_bool_dtype(frame[value]):
        raise ValueError(f"value column {value!r} must be numeric, not {frame[value].dtype}")
    try:
        dates = pd.to_datetime(frame[date])
    except (ValueError, TypeError) as error:
        raise ValueError(f"date column {date!r} could not be read as dates: {error}") from error
    if dates.isna().any():
        raise ValueError(f"date column {date!r} has missing dates")
    # Show plain dates unless some timestamp carries a time of day (e.g. hourly data).
    as_datetime = bool((dates != dates.dt.normalize()).any())

    work = pd.DataFrame(
        {"value": frame[value].astype("float64").to_numpy(), "date": dates.to_numpy()},
        index=frame.index,
    )
    if group is None:
        pieces: list[tuple[Hashable, pd.DataFrame]] = [(None, work)]
    else:
        keys = frame[group]
        if keys.isna().any():
            raise ValueError(f"group column {group!r} has missing values")
        pieces = list(work.groupby(keys.to_numpy(), sort=True))

    results = [
        _spc_series(
            key,
            piece,
            as_datetime=as_datetime,
            target=_for_group(target, key),
            improvement=improvement,
            trend_length=trend_length,
            shift_length=shift_length,
            rebase=_rebase_for_group(rebase, key),
            screen_outliers=screen_outliers,
            baseline=None if baseline is None else (pd.Timestamp(baseline[0]), pd.Timestamp(baseline[1])),
        )
        for key, piece in pieces
    ]
    short = [r for r in results if any(s.n_points < MIN_RECOMMENDED_POINTS for s in r.segments)]
    if short:
        # One warning per call, not per group: a national run has hundreds of groups.
        warnings.warn(
            f"{len(short)} of {len(results)} series have a segment with fewer than "
            f"{MIN_RECOMMENDED_POINTS} points; their limits are provisional (see caveats)",
            ShortSeriesWarning,
            stacklevel=2,
        )
    return results


def _check_options(improvement: str, trend_length: int, shift_length: int) -> None:
    if improvement not in _IMPROVEMENTS:
        raise ValueError(f"improvement must be one of {_IMPROVEMENTS}, not {improvement!r}")
    for name, length in (("trend_length", trend_length), ("shift_length", shift_length)):
        # bool is an int subclass; True would silently mean a run of 1.
        if isinstance(length, bool) or not isinstance(length, int) or length not in _RUN_LENGTHS:
            raise ValueError(
                f"{name} must be an integer from {_RUN_LENGTHS.start} to "
                f"{_RUN_LENGTHS.stop - 1} (MDC uses 6 or 7), not {length!r}"
            )


def _for_group(target: float | Mapping[Hashable, float] | None, key: Hashable) -> tuple[float | None, bool]:
    """Return the group's target and whether a per-group mapping lacked this group."""
    if target is None:
        return None, False
    if isinstance(target, Mapping):
        if key not in target:
            return None, True
        chosen = float(target[key])
    else:
        chosen = float(target)
    # A NaN target would compare false with both limits and read as "hit and miss".
    if not np.isfinite(chosen):
        raise ValueError(f"target must be a finite number, not {chosen!r}")
    return chosen, False


def _rebase_for_group(
    rebase: DateLike | Sequence[DateLike] | Mapping[Hashable, Sequence[DateLike]] | None,
    key: Hashable,
) -> list[pd.Timestamp]:
    if rebase is None:
        return []
    if isinstance(rebase, Mapping):
        chosen: DateLike | Sequence[DateLike] = rebase.get(key, [])
    else:
        chosen = rebase
    # A lone string or date is one rebase date, not a sequence of characters.
    if isinstance(chosen, str | dt.date | np.datetime64):
        chosen = [chosen]
    return sorted(pd.Timestamp(d) for d in chosen)


def _spc_series(
    key: Hashable,
    piece: pd.DataFrame,
    *,
    as_datetime: bool,
    target: tuple[float | None, bool],
    improvement: Improvement,
    trend_length: int,
    shift_length: int,
    rebase: list[pd.Timestamp],
    screen_outliers: bool,
    baseline: tuple[pd.Timestamp, pd.Timestamp] | None = None,
) -> SpcResult:
    label = "the series" if key is None else f"group {key!r}"
    piece = piece.sort_values("date", kind="stable")
    dates = pd.DatetimeIndex(piece["date"])
    x: FloatArray = piece["value"].to_numpy(dtype=np.float64)

    duplicated = dates.duplicated()
    if duplicated.any():
        first = dates[duplicated][0]
        raise ValueError(f"{label} has more than one row for date {_fmt(first)}")
    bad = ~np.isfinite(x)
    if bad.any():
        first = dates[bad][0]
        raise ValueError(f"{label} has a missing or infinite value at {_fmt(first)}")
    n = len(x)
    if n < 2:
        raise ValueError(
            f"{label} has {n} point; an XmR chart needs at least 2 (one moving range), "
            f"and MDC recommends {MIN_RECOMMENDED_POINTS} or more"
        )

    caveats: list[str] = []
    starts = _segment_starts(dates, rebase, label, caveats)
    bounds = [*starts, n]
    segment_of = np.zeros(n, dtype=np.int64)
    for index, (lo, hi) in enumerate(itertools.pairwise(bounds)):
        segment_of[lo:hi] = index
        if hi - lo < 2:
            raise ValueError(
                f"{label}: the segment starting {_fmt(dates[lo])} has only {hi - lo} point; "
                "each rebased segment needs at least 2 points to have a moving range"
            )

    fixed = _baseline_span(dates, bounds, baseline, label)

    def stamp(ts: pd.Timestamp) -> dt.date | dt.datetime:
        return ts.to_pydatetime() if as_datetime else ts.date()

    segments: list[SpcSegment] = []
    moving_range = np.full(n, np.nan)
    screened_out = np.zeros(n, dtype=bool)
    for index, (lo, hi) in enumerate(itertools.pairwise(bounds)):
        seg = x[lo:hi]
        mrs = np.abs(np.diff(seg))
        moving_range[lo + 1 : hi] = mrs
        in_baseline = fixed is not None and lo <= fixed[0] < hi
        if fixed is not None and in_baseline:
            # Limits fixed on the baseline: only its points and the moving ranges between
            # them count; later points are judged against them, as MDC's "fix limits" does.
            seg = x[fixed[0] : fixed[1]]
            mrs = np.abs(np.diff(seg))
        mr_raw = float(mrs.mean())
        dropped = np.zeros(len(mrs), dtype=bool)
        if screen_outliers:
            # MDC's SQL keeps mR <= 3.267 x mean mR, i.e. drops only those strictly above.
            dropped = _compare(mrs, np.full(len(mrs), MOVING_RANGE_OUTLIER_FACTOR * mr_raw)) > 0
        first_mr = fixed[0] + 1 if fixed is not None and in_baseline else lo + 1
        screened_out[first_mr : first_mr + len(mrs)] = dropped
        # At least one moving range is <= the mean, so screening never empties the set.
        mr_bar = float(mrs[~dropped].mean())
        mean = float(seg.mean())
        segments.append(
            SpcSegment(
                index=index,
                start_date=stamp(dates[lo]),
                end_date=stamp(dates[hi - 1]),
                n_points=hi - lo,
                mean=mean,
                mean_moving_range=mr_bar,
                mean_moving_range_unscreened=mr_raw,
                moving_ranges_screened_out=int(dropped.sum()),
                baseline_points=len(seg),
                sigma=SIGMA_FACTOR * mr_bar,
                upper_limit=mean + LIMIT_FACTOR * mr_bar,
                lower_limit=mean - LIMIT_FACTOR * mr_bar,
                upper_two_sigma=mean + 2 * SIGMA_FACTOR * mr_bar,
                lower_two_sigma=mean - 2 * SIGMA_FACTOR * mr_bar,
            )
        )
        if dropped.any():
            caveats.append(
                f"segment {index}: {int(dropped.sum())} moving range(s) above "
                f"{MOVING_RANGE_OUTLIER_FACTOR} x mean moving range left out of the limits"
            )
        if mr_bar == 0:
            # Common for rates stuck at 0% or 100% (e.g. a unit with no breaches): the limits
            # have no width, so any departure from the usual value is a special cause.
            caveats.append(
                f"segment {index}: the mean moving range is 0"
                + (" after screening" if dropped.any() else "")
                + ", so the limits have zero width and any point off the mean is outside them"
            )

    n_seg = len(segments)
    if n < MIN_RECOMMENDED_POINTS:
        caveats.append(
            f"only {n} points: MDC recommends at least {MIN_RECOMMENDED_POINTS} (ideally 20) "
            "before relying on the limits, so treat them and any signals as provisional"
        )
    for s in segments:
        if s.baseline_points < s.n_points:
            caveats.append(
                f"segment {s.index}: mean and limits fixed on {s.baseline_points} baseline points"
                + (" (provisional: fewer than 15)" if s.baseline_points < MIN_RECOMMENDED_POINTS else "")
            )
        if n_seg > 1 and s.n_points < MIN_RECOMMENDED_POINTS:
            caveats.append(
                f"segment {s.index} (from {s.start_date.isoformat()}) has only {s.n_points} "
                f"points: its limits are provisional"
            )

    mean_at = np.array([s.mean for s in segments])[segment_of]
    upl = np.array([s.upper_limit for s in segments])[segment_of]
    lpl = np.array([s.lower_limit for s in segments])[segment_of]
    u2s = np.array([s.upper_two_sigma for s in segments])[segment_of]
    l2s = np.array([s.lower_two_sigma for s in segments])[segment_of]

    # direction per rule: +1 high, -1 low, 0 not flagged
    flags: dict[SpecialCauseRule, IntArray] = {
        "outside_limits": _outside_limits(x, upl, lpl),
        "trend": _trend(x, trend_length),
        "two_of_three": _two_of_three(x, mean_at, u2s, l2s, bounds),
        "shift": _shift(x, mean_at, bounds, shift_length),
    }

    points: list[SpcPoint] = []
    for i in range(n):
        rules = [rule for rule in RULE_PRECEDENCE if flags[rule][i] != 0]
        winner = rules[0] if rules else None
        direction: Direction | None = None
        kind: SpecialCauseType | None = None
        if winner is not None:
            direction = "high" if flags[winner][i] > 0 else "low"
            kind = _classify(direction, improvement)
        points.append(
            SpcPoint(
                date=stamp(dates[i]),
                value=float(x[i]),
                segment=int(segment_of[i]),
                mean=float(mean_at[i]),
                upper_limit=float(upl[i]),
                lower_limit=float(lpl[i]),
                upper_two_sigma=float(u2s[i]),
                lower_two_sigma=float(l2s[i]),
                moving_range=None if np.isnan(moving_range[i]) else float(moving_range[i]),
                moving_range_screened_out=bool(screened_out[i]),
                rules=rules,
                special_cause_rule=winner,
                special_cause_direction=direction,
                special_cause_type=kind,
            )
        )

    target_value, target_missing = target
    if target_missing:
        caveats.append("no target given for this group, so no assurance icon")
    latest = segments[-1]
    assurance = _assurance(target_value, improvement, latest.lower_limit, latest.upper_limit)
    if target_value is not None and improvement == "neither":
        caveats.append("no assurance icon: a target needs an improvement direction")

    return SpcResult(
        group=_group_key(key),
        improvement=improvement,
        target=target_value,
        trend_length=trend_length,
        shift_length=shift_length,
        screen_outliers=screen_outliers,
        n_points=n,
        centre=latest.mean,
        upper_limit=latest.upper_limit,
        lower_limit=latest.lower_limit,
        segments=segments,
        variation_icon=_variation_icon(points[-1]),
        assurance_icon=assurance,
        caveats=caveats,
        points=points,
    )


def _baseline_span(
    dates: pd.DatetimeIndex,
    bounds: list[int],
    baseline: tuple[pd.Timestamp, pd.Timestamp] | None,
    label: str,
) -> tuple[int, int] | None:
    """Positions [first, stop) of the baseline points, checked to lie in one segment."""
    if baseline is None:
        return None
    first, last = baseline
    if last < first:
        raise ValueError(f"the baseline ends ({_fmt(last)}) before it starts ({_fmt(first)})")
    lo = int(dates.searchsorted(first, side="left"))
    hi = int(dates.searchsorted(last, side="right"))
    if hi - lo < 2:
        raise ValueError(
            f"{label} has {hi - lo} point(s) in the baseline {_fmt(first)} to {_fmt(last)}; "
            "fixed limits need at least 2"
        )
    for seg_lo, seg_hi in itertools.pairwise(bounds):
        if seg_lo <= lo < seg_hi:
            if hi > seg_hi:
                raise ValueError(
                    f"{label}: the baseline {_fmt(first)} to {_fmt(last)} crosses a rebase; "
                    "it must lie within one segment"
                )
            break
    return lo, hi


def _segment_starts(
    dates: pd.DatetimeIndex, rebase: list[pd.Timestamp], label: str, caveats: list[str]
) -> list[int]:
    """Index of the first point of each segment; a rebase starts at the first date >= it."""
    starts = [0]
    for when in rebase:
        position = int(dates.searchsorted(when, side="left"))
        if position == 0 or position == len(dates):
            caveats.append(
                f"rebase date {_fmt(when)} is outside {label}'s dates "
                f"({_fmt(dates[0])} to {_fmt(dates[-1])}) and was ignored"
            )
        elif position != starts[-1]:
            starts.append(position)
    return starts


def _compare(a: FloatArray, b: FloatArray) -> IntArray:
    """Elementwise sign(a - b), with values within a relative 1e-9 counted as equal."""
    equal = np.isclose(a, b, rtol=_REL_TOL, atol=0.0)
    return np.where(equal, 0, np.sign(a - b)).astype(np.int8)


def _outside_limits(x: FloatArray, upl: FloatArray, lpl: FloatArray) -> IntArray:
    # A point exactly on a limit is not outside it (MDC uses strict > and <).
    high = _compare(x, upl) > 0
    low = _compare(x, lpl) < 0
    return np.where(high, 1, np.where(low, -1, 0)).astype(np.int8)


def _runs(signs: IntArray) -> list[tuple[int, int, int]]:
    """Maximal runs of equal non-zero values as (start, stop, sign), stop exclusive."""
    runs: list[tuple[int, int, int]] = []
    start = 0
    for i in range(1, len(signs) + 1):
        if i == len(signs) or signs[i] != signs[start]:
            if signs[start] != 0:
                runs.append((start, i, int(signs[start])))
            start = i
    return runs


def _trend(x: FloatArray, length: int) -> IntArray:
    """Points in ``length`` or more consecutive points each above (below) the one before.

    An equal value breaks the run, as in MDC's SQL (it counts a point as increasing only if
    it is strictly greater than the previous one) and in NHSRplotthedots (sign of the
    difference is 0). A trend needs ``length - 1`` consecutive rises, counting both ends.

    Trends run across rebases, as in MDC's SQL: a run of rising values is a signal whatever
    limits were recalculated part way through it.

    A point can end a rising run and start a falling one (a peak of two trends). It takes the
    direction of the later run, as NHSRplotthedots does, because that is the newer behaviour.
    """
    out = np.zeros(len(x), dtype=np.int8)
    steps = _compare(x[1:], x[:-1])  # steps[k] compares point k+1 with point k
    for start, stop, sign in _runs(steps):
        if stop - start >= length - 1:
            # steps start..stop-1 link points start..stop; runs are processed in time order
            # so a later run overwrites the shared point.
            out[start : stop + 1] = sign
    return out


def _two_of_three(
    x: FloatArray,
    mean: FloatArray,
    upper_two_sigma: FloatArray,
    lower_two_sigma: FloatArray,
    bounds: list[int],
) -> IntArray:
    """Points beyond two sigma in a window of three with at least two beyond on one side.

    As MDC's SQL (v2.1 onwards) and NHSRplotthedots (0.2 onwards) do, all three points of
    the window must be on the same side of the mean, and only the points beyond two sigma are
    flagged, not the third point of the window. Following MDC's SQL, a point beyond the
    process limit also counts as beyond two sigma (NHSRplotthedots counts only points between
    two sigma and the limit); such a point is reported as ``outside_limits`` anyway because
    that rule takes precedence. Windows do not cross a rebase.
    """
    out = np.zeros(len(x), dtype=np.int8)
    side = _compare(x, mean)
    beyond = {
        1: _compare(x, upper_two_sigma) > 0,
        -1: _compare(x, lower_two_sigma) < 0,
    }
    for lo, hi in itertools.pairwise(bounds):
        for w in range(lo, hi - 2):
            window = slice(w, w + 3)
            for sign in (1, -1):
                if np.all(side[window] == sign) and int(beyond[sign][window].sum()) >= 2:
                    hits = w + np.flatnonzero(beyond[sign][window])
                    out[hits] = sign
    return out


def _shift(x: FloatArray, mean: FloatArray, bounds: list[int], length: int) -> IntArray:
    """Points in ``length`` or more consecutive points on one side of their segment's mean.

    A point on the mean is on neither side and breaks the run (MDC's SQL uses strict > and <;
    NHSRplotthedots uses the sign of the difference). Runs do not cross a rebase, because
    each segment has its own mean.
    """
    out = np.zeros(len(x), dtype=np.int8)
    side = _compare(x, mean)
    for lo, hi in itertools.pairwise(bounds):
        for start, stop, sign in _runs(side[lo:hi]):
            if stop - start >= length:
                out[lo + start : lo + stop] = sign
    return out


def _classify(direction: Direction, improvement: Improvement) -> SpecialCauseType:
    if improvement == "neither":
        return "neither"
    good: Direction = "high" if improvement == "increase" else "low"
    return "improvement" if direction == good else "concern"


def _variation_icon(last: SpcPoint) -> VariationIcon:
    """MDC's variation icon describes the latest point only."""
    if last.special_cause_type is None or last.special_cause_direction is None:
        return "common_cause"
    icon: VariationIcon
    match (last.special_cause_type, last.special_cause_direction):
        case ("improvement", "high"):
            icon = "improvement_high"
        case ("improvement", "low"):
            icon = "improvement_low"
        case ("concern", "high"):
            icon = "concern_high"
        case ("concern", "low"):
            icon = "concern_low"
        case ("neither", "high"):
            icon = "neither_high"
        case _:
            icon = "neither_low"
    return icon


def _assurance(
    target: float | None, improvement: Improvement, lower: float, upper: float
) -> AssuranceIcon | None:
    """MDC assurance icon from the latest segment's limits.

    A target on a limit counts as pass or fail (MDC's SQL uses <= and >= here, changed in
    its v2.1); NHSRplotthedots would call that inconsistent.
    """
    if target is None or improvement == "neither":
        return None
    t = np.array([target, target])
    below_lower, above_upper = _compare(t, np.array([lower, upper]))
    target_at_or_below_lower = below_lower <= 0
    target_at_or_above_upper = above_upper >= 0
    if improvement == "increase":
        if target_at_or_below_lower:
            return "pass"
        if target_at_or_above_upper:
            return "fail"
    else:
        if target_at_or_above_upper:
            return "pass"
        if target_at_or_below_lower:
            return "fail"
    return "hit_and_miss"


def _group_key(key: Hashable) -> GroupKey:
    # numpy scalars become Python ones so the result serialises to JSON cleanly.
    if isinstance(key, np.generic):
        key = key.item()
    if key is None or isinstance(key, str | int | float):
        return key
    return str(key)


def _fmt(when: pd.Timestamp) -> str:
    return when.isoformat() if when != when.normalize() else when.date().isoformat()
