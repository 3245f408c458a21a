"""Disclosure control for published counts (HES rules by default): sub-national counts from 1 to 7
are suppressed and all other counts rounded to the nearest 5. Rates and intervals are computed from
the true counts before this is applied; a suppressed row has its rate and interval withheld too,
because a rate and its denominator would give the count back.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from caremodels.reference import DisclosureControl, disclosure_control

__all__ = ["apply_disclosure_control", "round_count"]


def round_count(count: int, rules: DisclosureControl | None = None) -> int | None:
    """A single count as published: None when suppressed."""
    rules = rules or disclosure_control()
    if rules.suppress_from <= count <= rules.suppress_to:
        return None
    return int((count + rules.round_to // 2) // rules.round_to * rules.round_to)


def apply_disclosure_control(
    frame: pd.DataFrame,
    count_columns: Sequence[str],
    *,
    withheld_columns: Sequence[str] = (),
    rules: DisclosureControl | None = None,
) -> pd.DataFrame:
    """A copy of ``frame`` with counts rounded, small counts suppressed, and a ``suppressed`` column.

    A row is suppressed when any of its counts is small; its ``withheld_columns`` (rates, limits)
    become missing as well.
    """
    rules = rules or disclosure_control()
    published = frame.copy()
    suppressed = np.zeros(len(frame), dtype=bool)
    for column in count_columns:
        values = frame[column].to_numpy(dtype=np.float64)
        suppressed |= (values >= rules.suppress_from) & (values <= rules.suppress_to)
    for column in count_columns:
        values = frame[column].to_numpy(dtype=np.float64)
        # Round half up (numpy rounds half to even): 2.5 fives is 15, as HES publishes.
        rounded = np.floor(values / rules.round_to + 0.5) * rules.round_to
        published[column] = pd.array(np.where(suppressed, np.nan, rounded), dtype="Int64")
    for column in withheld_columns:
        published[column] = published[column].astype("Float64").mask(suppressed)
    published["suppressed"] = suppressed
    return published
