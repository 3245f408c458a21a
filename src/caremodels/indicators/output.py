"""Publish an indicator's results: disclosure control, then a file (CSV, Parquet or JSON).

Columns (``OUTPUT_COLUMNS``): indicator_id, title, level, code, name, period, period_start,
period_end, numerator, denominator, denominator_unit, value, ci_low, ci_high, unit, suppressed.
Every figure says what it is: the indicator's title, the area's name beside its code, and the
value's unit with its period basis ("per 1,000 registered patients per year").

Disclosure control (``caremodels.indicators.disclosure``): counts are rounded and small ones
suppressed, with secondary suppression inside the published table; values and intervals are
recomputed from the published counts, so none can be inverted to a true count, then rounded for
publication in one place (``round_figure``: 4 significant figures, or 1 decimal place from 100 up).
Every export, the dashboard's included, goes through ``publish``.
"""

from __future__ import annotations

import bisect
import datetime as dt
import itertools
from collections.abc import Collection, Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from caremodels.errors import CaremodelsError
from caremodels.indicators.compute import RateBasis, indicator_results_many, value_unit
from caremodels.indicators.definition import IndicatorDefinition, catalogue, find_indicator
from caremodels.indicators.disclosure import DisclosurePolicy, apply_disclosure_control, significant
from caremodels.indicators.engines import CountingEngine
from caremodels.indicators.geography import ENGLAND_CODE, Level, area_set, level_name, provider_level_note
from caremodels.indicators.names import area_names
from caremodels.indicators.periods import PERIOD_KINDS, period_kind
from caremodels.stats import crude_rate_ci_arrays, poisson_count_limits, proportion_ci_arrays
from caremodels.stats.dsr import DSR_MIN_TOTAL_COUNT

__all__ = [
    "OUTPUT_COLUMNS",
    "OUTPUT_SUFFIXES",
    "ROW_KEY",
    "PublishedHierarchy",
    "additive_relations",
    "compute_to_file",
    "denominator_unit",
    "format_figure",
    "open_engine",
    "publish",
    "published_statistics",
    "round_figure",
    "write_results",
]

OUTPUT_COLUMNS = [
    "indicator_id",
    "title",
    "level",
    "code",
    "name",
    "period",
    "period_start",
    "period_end",
    "numerator",
    "denominator",
    "denominator_unit",
    "value",
    "ci_low",
    "ci_high",
    "unit",
    "suppressed",
]
OUTPUT_SUFFIXES = (".csv", ".parquet", ".json")
ROW_KEY = ("indicator_id", "level", "code", "period", "period_start", "period_end")
"""The columns that name one published row."""
HIERARCHY_LEVELS: tuple[Level, ...] = ("practice", "ccg", "site", "care_model", "rest_of_england", "england")
"""The levels that sum to one another through their practices: every export publishes them together."""
_SIGNIFICANT = 4
_DECIMALS_FROM_100 = 1


def round_figure(values: pd.Series | np.ndarray | Sequence[float]) -> np.ndarray:
    """Values as published: 4 significant figures, or 1 decimal place from 100 up (so 11,098.3
    per 100,000 keeps its units digit); NaN stays NaN."""
    numbers = np.asarray(values, dtype=np.float64)
    finite = np.isfinite(numbers) & (numbers != 0)
    magnitude = np.floor(np.log10(np.abs(np.where(finite, numbers, 1.0))))
    decimals = np.where(magnitude >= 2, _DECIMALS_FROM_100, _SIGNIFICANT - 1 - magnitude).astype(int)
    rounded = numbers.copy()
    for places in np.unique(decimals[finite]):
        chosen = finite & (decimals == places)
        rounded[chosen] = np.round(numbers[chosen], int(places))
    return rounded


def format_figure(value: float | None) -> str:
    """A published value as text, with the digits ``round_figure`` keeps and thousands separators
    ("11,098.3", "97.69", "0.7543"); "" for None."""
    if value is None or not np.isfinite(value):
        return ""
    (rounded,) = round_figure([value])
    if rounded == 0:
        return "0"
    magnitude = int(np.floor(np.log10(abs(rounded))))
    decimals = _DECIMALS_FROM_100 if magnitude >= 2 else _SIGNIFICANT - 1 - magnitude
    return f"{rounded:,.{decimals}f}"


def denominator_unit(definition: IndicatorDefinition) -> str:
    """What a published denominator counts."""
    kind = definition.denominator.kind
    if kind == "registered_population":
        return "registered patients (mean mid-month list over the period)"
    if kind == "care_home_resident_years":
        return "care home resident-years"
    return f"{definition.denominator.table.replace('_', ' ')} (events)"  # type: ignore[union-attr]


def publish(
    results: pd.DataFrame,
    policy: DisclosurePolicy | None = None,
    *,
    rate_basis: RateBasis = "per_year",
    also_publish: Sequence[str] = (),
    groups_file: Path | None = None,
    site_membership_file: Path | None = None,
    present_practices: Iterable[str] = (),
    fixed: np.ndarray | None = None,
    groups: Mapping[str, Collection[str]] | None = None,
) -> pd.DataFrame:
    """``OUTPUT_COLUMNS`` of true results (``RESULT_COLUMNS``, any indicators, levels and periods)
    after disclosure control, labelled and rounded, in the same row order; then any
    ``also_publish`` counts (such as ``events``), controlled the same way.

    Publish a table whole, in one call: secondary suppression protects the relations within the
    table given (practices in their areas, areas in England, months in their periods), using the
    memberships of ``groups_file`` and ``site_membership_file`` as the results were computed with
    and the warehouse's practices (``present_practices``, else those with practice rows). Values and
    intervals are recomputed from the published counts (see ``published_statistics``). ``fixed``
    holds suppression decided by an earlier publication of some rows (see
    ``apply_disclosure_control``); ``PublishedHierarchy`` uses it so that tables published in
    separate calls cannot be differenced against each other.

    Labels missing from ``results`` are added: the title and denominator unit from the indicator
    catalogue, the area name from ``caremodels.indicators.names``, and the unit from the
    indicator, the period and ``rate_basis`` (results from ``finish`` carry their own unit).
    """
    policy = policy or DisclosurePolicy()
    results = results.reset_index(drop=True)
    exempt = (results["level"] == "england") & (results["code"] == ENGLAND_CODE) & policy.exempt_national
    complements: list[tuple[str, str]] = []
    if policy.control_complements:
        proportions = {definition.id for definition in catalogue() if definition.statistic == "proportion"}
        # Only proportions' numerators are a subset of their denominators: complement n - k.
        results = results.assign(
            _complement_of=results["numerator"].where(results["indicator_id"].isin(proportions), 0.0),
            _whole=results["denominator"].where(results["indicator_id"].isin(proportions), 0.0),
        )
        complements.append(("_complement_of", "_whole"))
    relations = (
        additive_relations(
            results,
            groups_file=groups_file,
            site_membership_file=site_membership_file,
            present_practices=present_practices,
            groups=groups,
        )
        if policy.secondary_suppression
        else []
    )
    published = apply_disclosure_control(
        results,
        ["numerator", "denominator", *also_publish],
        withheld_columns=["value", "ci_low", "ci_high"],
        rules=policy.rules,
        also_suppress_on=["events"],
        exempt=exempt,
        complements=complements,
        relations=relations,
        fixed=fixed,
    )
    labelled = published_statistics(
        results, _labelled(published, rate_basis), policy, exempt.to_numpy(dtype=bool)
    )
    for column in ("value", "ci_low", "ci_high"):
        labelled[column] = pd.array(round_figure(labelled[column].astype("float64")), dtype="Float64").fillna(
            pd.NA
        )
    return labelled[[*OUTPUT_COLUMNS, *also_publish]].reset_index(drop=True)


class PublishedHierarchy:
    """An indicator table's complete hierarchy (every level and period that sum to one another),
    published once; every output then takes its rows from it.

    Secondary suppression holds within one ``publish`` call: two calls for parts of one hierarchy (a
    CCG's total from one, its practices from another) would each be safe alone and could still be
    subtracted from each other. Publishing the whole hierarchy once and looking rows up gives every
    call the same suppression, so any two outputs are parts of one safe table. Rows outside it (a
    user's groups, a PCN) are published with the hierarchy's suppression fixed (``publish``'s
    ``fixed``): a relation they leave exposed is closed by suppressing the new row, never by
    changing a row already published. ``groups`` gives the practices of rows at the ``group``
    level that no file describes.
    """

    def __init__(
        self,
        complete: pd.DataFrame,
        policy: DisclosurePolicy | None = None,
        *,
        rate_basis: RateBasis = "per_year",
        also_publish: Sequence[str] = (),
        present_practices: Iterable[str] = (),
    ) -> None:
        self.complete = complete.reset_index(drop=True)
        self._options = {
            "policy": policy,
            "rate_basis": rate_basis,
            "also_publish": tuple(also_publish),
            "present_practices": frozenset(present_practices),
        }
        self.table = publish(self.complete, **self._options)  # type: ignore[arg-type]
        self._index = _keys(self.complete)

    def rows(
        self,
        results: pd.DataFrame,
        *,
        groups_file: Path | None = None,
        site_membership_file: Path | None = None,
        look_up: bool = True,
        groups: Mapping[str, Collection[str]] | None = None,
    ) -> pd.DataFrame:
        """``results`` (true rows, ``ROW_KEY`` naming each) as published, in their order: rows of the
        hierarchy as it published them, the others published beside it with its suppression fixed
        (all of them when not ``look_up``: rows named as the hierarchy's but counted otherwise)."""
        results = results.reset_index(drop=True)
        if results.empty:
            return self.table.iloc[:0].copy()
        positions = self._index.get_indexer(_keys(results)) if look_up else np.full(len(results), -1)
        if (positions >= 0).all():
            return self.table.iloc[positions].reset_index(drop=True)
        outside = results[positions < 0]
        combined = pd.concat([self.complete, outside], ignore_index=True)
        fixed = np.concatenate(
            [self.table["suppressed"].to_numpy(dtype=np.float64), np.full(len(outside), np.nan)]
        )
        extra = publish(
            combined,
            **self._options,  # type: ignore[arg-type]
            groups_file=groups_file,
            site_membership_file=site_membership_file,
            fixed=fixed,
            groups=groups,
        ).iloc[len(self.complete) :]
        inside = positions >= 0
        return (
            pd.concat(
                [
                    self.table.iloc[positions[inside]].set_axis(np.flatnonzero(inside)),
                    extra.set_axis(np.flatnonzero(~inside)),
                ]
            )
            .sort_index()
            .reset_index(drop=True)
        )


def _keys(frame: pd.DataFrame) -> pd.MultiIndex:
    """``ROW_KEY`` of each row, with dates as days (dates and timestamps name the same day)."""
    columns = [frame[column].astype(str).to_numpy() for column in ROW_KEY[:4]]
    days = [
        pd.to_datetime(frame[column]).to_numpy(dtype="datetime64[D]").astype(np.int64)
        for column in ROW_KEY[4:]
    ]
    return pd.MultiIndex.from_arrays([*columns, *days], names=ROW_KEY)


def _labelled(frame: pd.DataFrame, rate_basis: RateBasis) -> pd.DataFrame:
    frame = frame.copy()
    definitions = {
        indicator_id: find_indicator(str(indicator_id)) for indicator_id in frame["indicator_id"].unique()
    }
    ids = frame["indicator_id"]
    if "title" not in frame:
        frame["title"] = ids.map({key: definition.title for key, definition in definitions.items()})
    if "denominator_unit" not in frame:
        frame["denominator_unit"] = ids.map(
            {key: denominator_unit(definition) for key, definition in definitions.items()}
        )
    if "unit" not in frame:
        pairs = frame[["indicator_id", "period"]].drop_duplicates().itertuples(index=False)
        units = {
            (key, period): value_unit(definitions[key], str(period), rate_basis) for key, period in pairs
        }
        frame["unit"] = [units[pair] for pair in zip(frame["indicator_id"], frame["period"], strict=True)]
    if "name" not in frame:
        frame["name"] = area_names(frame["level"].astype(str), frame["code"].astype(str))
    return frame


def published_statistics(
    results: pd.DataFrame, published: pd.DataFrame, policy: DisclosurePolicy, exempt: np.ndarray
) -> pd.DataFrame:
    """``published`` with value, ci_low and ci_high recomputed from its published counts.

    Crude rates, proportions and rates of sums are computed from the published numerator and
    denominator by the indicator's own method (Byar / exact Poisson, Wilson, none), so inverting a
    value or an interval gives the rounded count back, never the true one. A directly standardised
    rate is scaled by published / true count and its Dobson interval recomputed at the published
    count with the true spread (sd(DSR) / sd(O)), which depends on the age-sex mix, not the count;
    it is withheld when the true count could be below 10 (published count under 10 + round_to / 2),
    because PHE withholds a DSR there and withholding only the true ones would say which they are.
    Exempt rows keep their true statistics. Then every value and limit goes to
    ``policy.significant_figures``.
    """
    out = published.copy()
    numerator = out["numerator"].astype("Float64").to_numpy(dtype=np.float64, na_value=np.nan)
    denominator = out["denominator"].astype("Float64").to_numpy(dtype=np.float64, na_value=np.nan)
    value = np.full(len(out), np.nan)
    low, high = value.copy(), value.copy()
    # Rates over person-time are published per year by default (``rate_basis``): the published
    # denominator is the mean list over the period, so the exposure is that times the period's
    # share of a year. The share comes from the period's dates, never from the true counts.
    starts = pd.to_datetime(out["period_start"])
    ends = pd.to_datetime(out["period_end"])
    months = ((ends.dt.year - starts.dt.year) * 12 + ends.dt.month - starts.dt.month + 1).to_numpy(
        dtype=float
    )
    annual = (
        out["unit"].astype(str).str.endswith("per year").to_numpy(dtype=bool)
        if "unit" in out
        else np.zeros(len(out), dtype=bool)
    )
    year_share = np.where(annual, months / 12, 1.0)
    for indicator_id, rows in out.groupby("indicator_id", sort=False).indices.items():
        definition = find_indicator(str(indicator_id))
        n, d = numerator[rows], denominator[rows]
        if definition.denominator.kind != "events":
            d = d * year_share[rows]
        usable = np.where(d > 0, d, np.nan)
        n = np.where(np.isnan(usable), np.nan, n)
        method = definition.interval_method
        if method == "wilson":
            interval = proportion_ci_arrays(np.minimum(n, usable), usable, multiplier=definition.multiplier)
            value[rows], low[rows], high[rows] = interval
        elif method == "byar_or_exact":
            value[rows], low[rows], high[rows] = crude_rate_ci_arrays(
                n, usable, multiplier=definition.multiplier
            )
        elif method == "none":
            value[rows] = n / usable * definition.multiplier
        else:
            value[rows], low[rows], high[rows] = _standardised(results.iloc[rows], n, policy.rules.round_to)
    true = results[["value", "ci_low", "ci_high"]].to_numpy(dtype=np.float64)
    suppressed = out["suppressed"].to_numpy(dtype=bool)
    for index, (column, computed) in enumerate((("value", value), ("ci_low", low), ("ci_high", high))):
        chosen = np.where(exempt, true[:, index], computed)
        chosen = np.where(suppressed, np.nan, significant(chosen, policy.significant_figures))
        out[column] = pd.array(chosen, dtype="Float64")
    return out


def _standardised(rows: pd.DataFrame, published_count: np.ndarray, round_to: int) -> tuple[np.ndarray, ...]:
    true_count = rows["numerator"].to_numpy(dtype=np.float64)
    true_value = rows["value"].to_numpy(dtype=np.float64)
    true_high = rows["ci_high"].to_numpy(dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = published_count / true_count
        upper_true = poisson_count_limits(np.nan_to_num(true_count)).upper
        spread = (true_high - true_value) / (upper_true - true_count)
        value = true_value * scale
        limits = poisson_count_limits(np.nan_to_num(published_count))
        low = np.maximum(value + spread * (limits.lower - published_count), 0.0)
        high = value + spread * (limits.upper - published_count)
    withheld = ~(published_count >= DSR_MIN_TOTAL_COUNT + round_to / 2) | ~np.isfinite(spread)
    return tuple(np.where(withheld, np.nan, array) for array in (value, low, high))


def additive_relations(
    results: pd.DataFrame,
    *,
    groups_file: Path | None = None,
    site_membership_file: Path | None = None,
    present_practices: Iterable[str] = (),
    groups: Mapping[str, Collection[str]] | None = None,
) -> list[np.ndarray]:
    """Row positions of ``results`` that sum (a parent and its children), for secondary suppression:
    each area with the practices in it, England with its CCGs, a care model with the rest of England,
    each coarser period of an area with its months, a financial year with its quarters, and two
    consecutive rolling years with the month that entered and the month that left. Rows at the
    ``group`` level take their practices from ``groups`` when given, else from ``groups_file``."""
    frame = results.reset_index(drop=True)
    relations: list[np.ndarray] = []
    present = frozenset(present_practices) | frozenset(frame.loc[frame["level"] == "practice", "code"])
    members = _members(frame, present, groups_file, site_membership_file)
    for name, practices_in in (groups or {}).items():
        members[("group", name)] = frozenset(practices_in) & present
    # Plain lists and dicts: hundreds of thousands of rows, grouped two ways, in one pass each.
    indicator = frame["indicator_id"].astype(str).tolist()
    level = frame["level"].astype(str).tolist()
    code = frame["code"].astype(str).tolist()
    period = frame["period"].astype(str).tolist()
    start = [day.toordinal() for day in pd.to_datetime(frame["period_start"]).dt.date]
    end = [day.toordinal() for day in pd.to_datetime(frame["period_end"]).dt.date]
    by_time: dict[tuple[str, str, int], dict[str, list[int]]] = {}
    by_area: dict[tuple[str, str, str], dict[str, list[int]]] = {}
    for row in range(len(frame)):
        by_time.setdefault((indicator[row], period[row], start[row]), {}).setdefault(level[row], []).append(
            row
        )
        by_area.setdefault((indicator[row], level[row], code[row]), {}).setdefault(period[row], []).append(
            row
        )
    for by_level in by_time.values():
        practice_rows = by_level.get("practice")
        if practice_rows is not None:
            position = {code[row]: row for row in practice_rows}
            for area_level, rows in by_level.items():
                if area_level == "practice":
                    continue
                for row in rows:
                    inside = members.get((area_level, code[row]), frozenset())
                    relations.append(np.array([row, *(position[c] for c in inside if c in position)]))
        england = by_level.get("england")
        if england is not None:
            if "ccg" in by_level:
                relations.append(np.array([*england, *by_level["ccg"]]))
            rest = {code[row]: row for row in by_level.get("rest_of_england", [])}
            for row in by_level.get("care_model", []):
                if code[row] in rest:
                    relations.append(np.array([*england, row, rest[code[row]]]))
    for by_period in by_area.values():
        relations.extend(_period_relations(by_period, start, end))
    return relations


def _members(
    frame: pd.DataFrame, present: frozenset[str], groups_file: Path | None, site_membership_file: Path | None
) -> dict[tuple[str, str], frozenset[str]]:
    found: dict[tuple[str, str], frozenset[str]] = {}
    for level in frame["level"].unique():
        if level == "practice":
            continue
        try:
            areas = area_set(
                level_name(str(level)), groups_file=groups_file, site_membership_file=site_membership_file
            )
        except (CaremodelsError, ValueError):
            continue  # a level whose membership was not given: no relation is known for it
        for code in frame.loc[frame["level"] == level, "code"].unique():
            try:
                found[(str(level), str(code))] = areas.practices_of(str(code), present)
            except KeyError:
                continue
    return found


def _period_relations(by_period: dict[str, list[int]], start: list[int], end: list[int]) -> list[np.ndarray]:
    relations: list[np.ndarray] = []
    months = sorted(by_period.get("month", []), key=start.__getitem__)
    quarters = sorted(by_period.get("quarter", []), key=start.__getitem__)
    for children, coarser in (
        (months, ("quarter", "financial_year", "rolling_12_months")),
        (quarters, ("financial_year",)),
    ):
        if not children:
            continue
        starts = [start[row] for row in children]
        for kind in coarser:
            for row in by_period.get(kind, []):
                first = bisect.bisect_left(starts, start[row])
                last = bisect.bisect_right(starts, end[row])
                relations.append(np.array([row, *children[first:last]]))
    rolling = sorted(by_period.get("rolling_12_months", []), key=start.__getitem__)
    if months and len(rolling) > 1:
        month_at = {start[row]: row for row in months}
        for previous, row in itertools.pairwise(rolling):
            # R(t) - R(t-1) = M(t) - M(t-12): the month that entered and the month that left.
            entered = month_at.get(_month_start_of(end[row]))
            left = month_at.get(start[previous])
            relations.append(np.array([row, previous, *(m for m in (entered, left) if m is not None)]))
    return relations


def _month_start_of(ordinal: int) -> int:
    return dt.date.fromordinal(ordinal).replace(day=1).toordinal()


def write_results(published: pd.DataFrame, out_file: Path) -> None:
    """Write published results by the file's suffix: .csv, .parquet or .json."""
    if out_file.suffix not in OUTPUT_SUFFIXES:
        raise CaremodelsError(f"cannot write {out_file.name}: use .csv, .parquet or .json")
    if list(published.columns) != OUTPUT_COLUMNS:
        raise CaremodelsError("only published results (see caremodels.indicators.output.publish) are written")
    out_file.parent.mkdir(parents=True, exist_ok=True)
    if out_file.suffix == ".csv":
        published.to_csv(out_file, index=False)
    elif out_file.suffix == ".parquet":
        published.to_parquet(out_file, index=False)
    else:
        published.assign(
            period_start=published["period_start"].map(dt.date.isoformat),
            period_end=published["period_end"].map(dt.date.isoformat),
        ).to_json(out_file, orient="records", indent=1)


def open_engine(
    engine: str, warehouse_path: Path | str, *, spark_master: str | None = None
) -> CountingEngine:
    """An engine by name: ``duckdb`` (default), ``spark`` or ``reference`` (slow; small data only)."""
    from caremodels.indicators.ibis_engine import duckdb_engine, spark_engine
    from caremodels.indicators.reference_engine import ReferenceEngine

    if engine == "duckdb":
        return duckdb_engine(Path(warehouse_path))
    if engine == "spark":
        return spark_engine(warehouse_path, master=spark_master)
    if engine == "reference":
        return ReferenceEngine(Path(warehouse_path))
    raise CaremodelsError(f"no engine {engine!r} (choose duckdb, spark or reference)")


def compute_to_file(
    warehouse_path: Path | str,
    indicator_id: str | Sequence[str],
    *,
    level: str,
    period: str,
    out_file: Path,
    engine: str = "duckdb",
    spark_master: str | None = None,
    groups_file: Path | None = None,
    site_membership_file: Path | None = None,
    first_month: dt.date | None = None,
    last_month: dt.date | None = None,
    policy: DisclosurePolicy | None = None,
    rate_basis: RateBasis = "per_year",
) -> int:
    """Compute one indicator (or several, or ``"all"``: the whole catalogue) at one level and period
    on one engine, publish the results and write ``out_file``; returns the number of rows written.
    Rates over person-time are annual unless ``rate_basis`` is ``per_period``."""
    if out_file.suffix not in OUTPUT_SUFFIXES:
        raise CaremodelsError(f"cannot write {out_file.name}: use .csv, .parquet or .json")
    if isinstance(indicator_id, str):
        definitions = list(catalogue()) if indicator_id == "all" else [find_indicator(indicator_id)]
    else:
        definitions = [find_indicator(one) for one in indicator_id]
    try:
        chosen_level, chosen_period = level_name(level), period_kind(period)
    except ValueError as error:
        raise CaremodelsError(str(error)) from error
    if chosen_level == "provider" and not any(provider_level_note(d)[0] for d in definitions):
        reasons = "; ".join(f"{d.id}: {provider_level_note(d)[1]}" for d in definitions)
        raise CaremodelsError(f"no indicator asked for can be computed at provider level ({reasons})")
    counting = open_engine(engine, warehouse_path, spark_master=spark_master)
    try:
        results = indicator_results_many(
            counting,
            definitions,
            levels=[chosen_level],
            periods=[chosen_period],
            groups_file=groups_file,
            site_membership_file=site_membership_file,
            first_month=first_month,
            last_month=last_month,
            rate_basis=rate_basis,
        )
        # The whole hierarchy, whatever was asked for: every export is a part of one published
        # table, so two exports (a CCG's months, its practices' months) cannot be subtracted.
        complete = indicator_results_many(
            counting, definitions, levels=HIERARCHY_LEVELS, periods=PERIOD_KINDS, rate_basis=rate_basis
        )
    finally:
        counting.close()
    hierarchy = PublishedHierarchy(
        pd.concat(list(complete.values()), ignore_index=True), policy, rate_basis=rate_basis
    )
    # Sites drawn from the user's own membership file are not the hierarchy's sites.
    published = hierarchy.rows(
        pd.concat(list(results.values()), ignore_index=True),
        groups_file=groups_file,
        site_membership_file=site_membership_file,
        look_up=not (chosen_level == "site" and site_membership_file is not None),
    )
    write_results(published, out_file)
    return len(published)
