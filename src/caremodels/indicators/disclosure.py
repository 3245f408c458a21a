"""Disclosure control for published counts (HES rules by default): sub-national counts from 1 to 7
are suppressed and all other counts rounded to the nearest 5. Rates and intervals are computed from
the true counts before this is applied; a suppressed row has its rate and interval withheld too,
because a rate and its denominator would give the count back.

Counts that are not whole numbers (a mean list size, resident-years, a sum of pounds) are suppressed
when they are above 0 and below ``suppress_to + 1`` (so 0.4 resident-years, which may be one
person, is withheld), and rounded like whole counts. The rules can be configured
(``DisclosurePolicy``, ``load_disclosure_policy``); national (England) rows are controlled too
unless the policy exempts them, as HES allows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from pydantic import ValidationError

from caremodels.errors import DataError
from caremodels.reference import DisclosureControl, disclosure_control

__all__ = [
    "DisclosurePolicy",
    "apply_disclosure_control",
    "load_disclosure_policy",
    "round_count",
]


@dataclass(frozen=True)
class DisclosurePolicy:
    """The rules applied to every export: small-number rules, and whether England rows are exempt."""

    rules: DisclosureControl = field(default_factory=disclosure_control)
    exempt_national: bool = False


def load_disclosure_policy(path: Path) -> DisclosurePolicy:
    """A YAML file with ``suppress_from``, ``suppress_to``, ``round_to`` and optionally
    ``exempt_national`` (default false)."""
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise DataError(f"cannot read disclosure rules: {error.strerror}", file=path) from error
    except yaml.YAMLError as error:
        raise DataError(f"not valid YAML: {error}", file=path) from error
    if not isinstance(document, dict):
        raise DataError("expected a mapping of suppress_from, suppress_to, round_to", file=path)
    exempt = document.pop("exempt_national", False)
    if not isinstance(exempt, bool):
        raise DataError("must be true or false", file=path, field="exempt_national")
    try:
        rules = DisclosureControl.model_validate(document)
    except ValidationError as error:
        first = error.errors()[0]
        raise DataError(first["msg"], file=path, field=".".join(str(p) for p in first["loc"])) from error
    return DisclosurePolicy(rules=rules, exempt_national=exempt)


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


def apply_disclosure_control(
    frame: pd.DataFrame,
    count_columns: Sequence[str],
    *,
    withheld_columns: Sequence[str] = (),
    rules: DisclosureControl | None = None,
    also_suppress_on: Sequence[str] = (),
    exempt: pd.Series | None = None,
) -> pd.DataFrame:
    """A copy of ``frame`` with counts rounded, small counts suppressed, and a ``suppressed`` column.

    A row is suppressed when any of its ``count_columns`` or ``also_suppress_on`` columns (counts
    that are used but not published, such as the events behind a sum of bed days) is small; its
    ``withheld_columns`` (rates, limits) become missing as well. Rows where ``exempt`` is true are
    published as they are.
    """
    rules = rules or disclosure_control()
    published = frame.copy()
    keep_as_is = np.zeros(len(frame), dtype=bool) if exempt is None else exempt.to_numpy(dtype=bool)
    suppressed = np.zeros(len(frame), dtype=bool)
    for column in [*count_columns, *also_suppress_on]:
        suppressed |= _is_small(frame[column].to_numpy(dtype=np.float64), rules)
    suppressed &= ~keep_as_is
    for column in count_columns:
        values = frame[column].to_numpy(dtype=np.float64)
        shown = np.where(keep_as_is, np.round(values), _rounded(values, rules))
        published[column] = pd.array(np.where(suppressed, np.nan, shown), dtype="Int64")
    for column in withheld_columns:
        published[column] = published[column].astype("Float64").mask(suppressed)
    published["suppressed"] = suppressed
    return published
