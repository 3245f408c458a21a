"""Disclosure control for published figures, as HES and the GSS guidance practise it, built to
survive arithmetic on what is published.

Rules (``DisclosurePolicy``, configurable with ``load_disclosure_policy``; HES defaults):

1. *Primary suppression*: sub-national counts from 1 to 7 are suppressed, all others rounded to the
   nearest 5. Counts that are not whole numbers (a mean list size, resident-years, a sum of pounds)
   are suppressed when above 0 and below ``suppress_to + 1`` (0.4 resident-years may be one person).
2. *Complements*: a proportion's complement (denominator - numerator, the people who did not have
   the event) is a count too; a row whose complement is small is suppressed like a small count.
3. *Secondary (complementary) suppression*: within one published table, every additive relation
   (a parent and its children: practices in their CCG or site, CCGs in England, a care model and the
   rest of England, months in their quarter, year or rolling year) holds either no suppressed row or
   at least two, so that no suppressed row is the difference of published ones. The extra rows
   suppressed are the smallest that are not small themselves.
4. *Values from published counts*: published values and intervals are recomputed from the published
   (rounded) counts by the indicator's own method (``caremodels.indicators.output.publish``), so that
   ``ci_low / value`` or ``value x denominator`` give back the rounded count and nothing finer; a
   standardised rate is scaled by published/true count and its Dobson interval recomputed at the
   published count. They are then shown to ``significant_figures``. A suppressed row has its value
   and interval withheld. Statistics inside the tool (SPC, evaluations, funnel limits) use true counts.

National (England) rows are controlled too unless the policy exempts them, as HES allows.
``publish_count`` and ``controlled_counts`` put any person count (an evaluation's diagnostics) through
the same rules.

Boundaries: pure functions on numbers and frames; knows nothing of indicators or the warehouse
(``caremodels.indicators.output.publish`` applies these rules to indicator results).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from scipy import sparse

from caremodels.errors import DataError
from caremodels.reference import DisclosureControl, disclosure_control

__all__ = [
    "DisclosurePolicy",
    "DisclosurePolicyFile",
    "apply_disclosure_control",
    "complementary_suppression",
    "controlled_counts",
    "load_disclosure_policy",
    "publish_count",
    "round_count",
    "significant",
]


@dataclass(frozen=True)
class DisclosurePolicy:
    """The rules applied to every export (see the module docstring)."""

    rules: DisclosureControl = field(default_factory=disclosure_control)
    exempt_national: bool = False
    secondary_suppression: bool = True
    control_complements: bool = True
    significant_figures: int | None = 4


class DisclosurePolicyFile(BaseModel):
    """A disclosure policy file (YAML). Its JSON Schema is ``docs/schemas/disclosure-policy.schema.json``."""

    model_config = ConfigDict(extra="forbid")

    suppress_from: int = Field(default=1, ge=1, description="Smallest count suppressed (HES: 1).")
    suppress_to: int = Field(default=7, ge=0, description="Largest count suppressed (HES: 7).")
    round_to: int = Field(
        default=5, ge=1, description="Other counts are rounded to a multiple of this (HES: 5)."
    )
    exempt_national: bool = Field(default=False, description="Publish England rows unrounded (HES allows).")
    secondary_suppression: bool = Field(
        default=True,
        description="Suppress further rows so that no suppressed row is the difference of published ones.",
    )
    control_complements: bool = Field(
        default=True, description="Suppress a proportion whose complement (denominator - numerator) is small."
    )
    significant_figures: int | None = Field(
        default=4, ge=2, le=15, description="Published values and limits to this many significant figures."
    )

    def policy(self) -> DisclosurePolicy:
        return DisclosurePolicy(
            rules=DisclosureControl(
                suppress_from=self.suppress_from, suppress_to=self.suppress_to, round_to=self.round_to
            ),
            exempt_national=self.exempt_national,
            secondary_suppression=self.secondary_suppression,
            control_complements=self.control_complements,
            significant_figures=self.significant_figures,
        )


def load_disclosure_policy(path: Path) -> DisclosurePolicy:
    """A YAML file of ``DisclosurePolicyFile`` fields (every one optional; HES defaults)."""
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise DataError(f"cannot read disclosure rules: {error.strerror}", file=path) from error
    except yaml.YAMLError as error:
        raise DataError(f"not valid YAML: {error}", file=path) from error
    if not isinstance(document, dict):
        raise DataError("expected a mapping of suppress_from, suppress_to, round_to", file=path)
    try:
        return DisclosurePolicyFile.model_validate(document).policy()
    except ValidationError as error:
        first = error.errors()[0]
        raise DataError(first["msg"], file=path, field=".".join(str(p) for p in first["loc"])) from error


def _is_small(values: np.ndarray, rules: DisclosureControl) -> np.ndarray:
    if rules.suppress_to < rules.suppress_from:
        return np.zeros(values.shape, dtype=bool)
    small: np.ndarray = (values > rules.suppress_from - 1) & (values < rules.suppress_to + 1)
    return small


def _rounded(values: np.ndarray, rules: DisclosureControl) -> np.ndarray:
    # Round half up (numpy rounds half to even): 2.5 fives is 15, as HES publishes.
    rounded: np.ndarray = np.floor(values / rules.round_to + 0.5) * rules.round_to
    return rounded


def round_count(count: float, rules: DisclosureControl | None = None) -> int | None:
    """A single count as published: None when suppressed."""
    rules = rules or disclosure_control()
    value = np.array([float(count)])
    if _is_small(value, rules)[0]:
        return None
    return int(_rounded(value, rules)[0])


def publish_count(count: float | None, policy: DisclosurePolicy | None = None) -> int | None:
    """A person or event count as published (None when suppressed or not a finite number)."""
    if count is None or not math.isfinite(float(count)):
        return None
    return round_count(float(count), (policy or DisclosurePolicy()).rules)


def controlled_counts(counts: Any, policy: DisclosurePolicy | None = None) -> Any:
    """A copy of a nested structure (mappings, lists) with every whole number controlled by
    ``publish_count``; floats, text and booleans are left as they are. For the person counts in an
    evaluation's diagnostics (matched people, donors with events...)."""
    if isinstance(counts, bool) or counts is None:
        return counts
    if isinstance(counts, int | np.integer):
        return publish_count(float(counts), policy)
    if isinstance(counts, Mapping):
        return {key: controlled_counts(value, policy) for key, value in counts.items()}
    if isinstance(counts, list | tuple):
        return [controlled_counts(value, policy) for value in counts]
    return counts


def significant(values: np.ndarray, figures: int | None) -> np.ndarray:
    """``values`` rounded to ``figures`` significant figures (NaN and 0 kept; None: unchanged)."""
    if figures is None:
        return values
    with np.errstate(divide="ignore", invalid="ignore"):
        magnitude = np.where(np.isfinite(values) & (values != 0), np.floor(np.log10(np.abs(values))), 0.0)
        scale = 10.0 ** (figures - 1 - magnitude)
        rounded: np.ndarray = np.where(np.isfinite(values), np.round(values * scale) / scale, values)
    return rounded


def complementary_suppression(
    suppressed: np.ndarray,
    relations: Sequence[np.ndarray],
    sizes: np.ndarray,
    *,
    protected: np.ndarray | None = None,
    small_below: float = 8,
) -> np.ndarray:
    """Primary suppressions widened until no relation (an array of row positions: a parent and its
    children, which sum to it) holds exactly one suppressed row.

    In a relation with one suppressed row, the unsuppressed row with the smallest ``sizes`` that is
    not itself small (``sizes >= small_below``; else the smallest of any) and not ``protected`` is
    suppressed too; repeated until nothing changes, since a new suppression may leave another
    relation with exactly one. Returns the new mask (``suppressed`` is not changed).
    """
    result = suppressed.copy()
    relations = [relation for relation in relations if len(relation) > 1]
    if not relations or not result.any():
        return result
    keep = np.zeros(len(result), dtype=bool) if protected is None else protected.astype(bool)
    rows = np.concatenate(relations)
    columns = np.repeat(np.arange(len(relations)), [len(relation) for relation in relations])
    incidence = sparse.csr_matrix((np.ones(len(rows)), (columns, rows)), shape=(len(relations), len(result)))
    # Choice order: first rows that are not small, then the smallest.
    order_key = np.where(sizes >= small_below, sizes, sizes - 1e12)
    while True:
        per_relation = incidence @ result.astype(np.float64)
        exposed = np.flatnonzero(np.isclose(per_relation, 1.0))
        changed = False
        for index in exposed:
            members = relations[index]
            if result[members].sum() != 1:
                continue  # an earlier pick in this pass already fixed it
            candidates = members[~result[members] & ~keep[members]]
            if len(candidates) == 0:
                # Nothing left to suppress beside it: suppress the only one that is allowed, the
                # protected ones stay (an exempt England row is published by policy).
                continue
            pick = candidates[np.argmin(order_key[candidates])]
            result[pick] = True
            changed = True
        if not changed:
            return result


def apply_disclosure_control(
    frame: pd.DataFrame,
    count_columns: Sequence[str],
    *,
    withheld_columns: Sequence[str] = (),
    rules: DisclosureControl | None = None,
    also_suppress_on: Sequence[str] = (),
    exempt: pd.Series | None = None,
    complements: Sequence[tuple[str, str]] = (),
    relations: Sequence[np.ndarray] = (),
    fixed: np.ndarray | None = None,
) -> pd.DataFrame:
    """A copy of ``frame`` with counts rounded, small counts suppressed, and a ``suppressed`` column.

    A row is suppressed when any of its ``count_columns`` or ``also_suppress_on`` columns (counts
    that are used but not published, such as the events behind a sum of bed days) is small, or the
    difference ``whole - part`` of any of its ``complements`` pairs ``(part, whole)`` is small; then,
    given ``relations`` (row positions that sum: a parent and its children), further rows so that no
    relation has exactly one suppressed (``complementary_suppression``). A suppressed row has its
    counts and ``withheld_columns`` (rates, limits) missing. Rows where ``exempt`` is true are
    published as they are. ``withheld_columns`` are otherwise left as given: recompute them from the
    published counts (as ``caremodels.indicators.output.publish`` does) so they cannot be inverted.

    ``fixed`` (one value per row: 1.0 suppressed, 0.0 published, NaN to decide) gives rows whose
    suppression was decided before, in a table already published: they keep it and are never chosen
    for secondary suppression, so a relation that they leave exposed is closed by suppressing one of
    the new rows. That keeps every publication of those rows the same, whatever is added to them.
    """
    rules = rules or disclosure_control()
    published = frame.copy()
    keep_as_is = np.zeros(len(frame), dtype=bool) if exempt is None else exempt.to_numpy(dtype=bool)
    suppressed = np.zeros(len(frame), dtype=bool)
    for column in [*count_columns, *also_suppress_on]:
        suppressed |= _is_small(frame[column].to_numpy(dtype=np.float64), rules)
    for part, whole in complements:
        rest = frame[whole].to_numpy(dtype=np.float64) - frame[part].to_numpy(dtype=np.float64)
        suppressed |= _is_small(np.round(rest, 9), rules)
    suppressed &= ~keep_as_is
    decided = np.zeros(len(frame), dtype=bool) if fixed is None else ~np.isnan(fixed)
    if fixed is not None:
        suppressed = np.where(decided, np.nan_to_num(fixed) > 0, suppressed)
    if relations:
        sizes = frame[count_columns[0]].to_numpy(dtype=np.float64) if count_columns else np.zeros(len(frame))
        suppressed = complementary_suppression(
            suppressed,
            relations,
            np.nan_to_num(sizes),
            protected=keep_as_is | decided,
            small_below=rules.suppress_to + 1,
        )
    for column in count_columns:
        values = frame[column].to_numpy(dtype=np.float64)
        shown = np.where(keep_as_is, np.round(values), _rounded(values, rules))
        published[column] = pd.array(np.where(suppressed, np.nan, shown), dtype="Int64")
    for column in withheld_columns:
        published[column] = published[column].astype("Float64").mask(suppressed)
    published["suppressed"] = suppressed
    return published
