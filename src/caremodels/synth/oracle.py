"""The test-only oracle: each person's expected emergency admissions in each financial year, the very
expected count the generator drew their admissions from.

A risk model can at best rank people by this number (their admissions are Poisson draws around it),
so the AUROC of the oracle is the best any model can reach on the economy. The generator knows things
no model can (the person's latent frailty and how long they stay registered that year), which is the
point: it bounds what is achievable.

It is written to ``oracle/expected_events.parquet``, a sub-folder, keyed by NHS number so that a test
can pseudonymise it with the warehouse's key and join. ``caremodels ingest DIR`` opens a folder one level
deep only and ``expected_events`` is the name of no source table, so the oracle is never loaded into a
warehouse (docs/risk-stratification.md).

Boundaries: one practice at a time; draws nothing (no random numbers), so adding it changes no other file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from caremodels.errors import CaremodelsError
from caremodels.synth.events import PracticeContext

__all__ = ["ORACLE_FILE", "ORACLE_FOLDER", "ORACLE_SCHEMA", "oracle_table", "read_oracle"]

ORACLE_FOLDER = "oracle"
ORACLE_FILE = "expected_events.parquet"
ORACLE_SCHEMA = pa.schema(
    [
        pa.field("nhs_number", pa.string(), nullable=False),
        pa.field("financial_year", pa.int64(), nullable=False),  # the year's starting calendar year
        pa.field("expected_emergency_admissions", pa.float64(), nullable=False),
        pa.field("latent_frailty", pa.float64(), nullable=False),
    ]
)


def oracle_table(context: PracticeContext) -> pa.Table:
    """One row per person and financial year in which they were registered for at least a day: the
    expected emergency admissions with the planted effects and non-causal factors, as drawn in
    ``events.draw_events`` (community and care-home parts, each times its cohort multiplier)."""
    people, calendar = context.people, context.calendar
    community, resident = context.expected("emergency", "emergency_admissions")
    community_effect, resident_effect = context.cohort_multipliers(
        context.effects_for("emergency_admissions")
    )
    expected = community.astype(np.float64) * community_effect + resident.astype(np.float64) * resident_effect
    exposure = context.community_years + context.resident_years
    years = calendar.financial_years
    starts = np.flatnonzero(np.r_[True, years[1:] != years[:-1]])
    by_year = np.add.reduceat(expected, starts, axis=1)
    registered = np.add.reduceat(exposure, starts, axis=1) > 0
    person, year_index = np.nonzero(registered)
    return pa.table(
        {
            "nhs_number": people.nhs_number.take(pa.array(person, type=pa.int64())),
            "financial_year": pa.array(years[starts][year_index].astype(np.int64)),
            "expected_emergency_admissions": pa.array(by_year[person, year_index]),
            "latent_frailty": pa.array(people.frailty[person].astype(np.float64)),
        },
        schema=ORACLE_SCHEMA,
    )


def read_oracle(synth_dir: Path, financial_year: int) -> pa.Table:
    """The oracle's rows for one financial year (``nhs_number``, ``expected_emergency_admissions``)."""
    path = synth_dir / ORACLE_FOLDER / ORACLE_FILE
    if not path.exists():
        raise CaremodelsError(
            f"no oracle at {path}: generate the economy with this version of caremodels synth"
        )
    table = pq.read_table(
        path,
        columns=["nhs_number", "financial_year", "expected_emergency_admissions"],
        filters=[("financial_year", "=", financial_year)],
    )
    return table.select(["nhs_number", "expected_emergency_admissions"])
