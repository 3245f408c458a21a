"""The person-level output of the indicator engines (``person_day_events``), in the spec suite: for
every catalogue indicator whose events carry a person, DuckDB, Spark and the pandas reference give
the same rows on the hand-built fixture, and those rows add up to the engine's own practice-by-month
numerators (one definition, one count, whichever output it comes through)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from caremodels.errors import CaremodelsError
from caremodels.indicators import catalogue, find_indicator
from caremodels.indicators.engines import PERSON_DAY_COLUMNS, CountingEngine
from caremodels.indicators.geography import AreaSet
from caremodels.indicators.periods import complete_periods, month_index
from caremodels.indicators.tables import EVENT_TABLES

PERSON_LEVEL_IDS = [
    definition.id for definition in catalogue() if EVENT_TABLES[definition.numerator.table].has_person
]
pytestmark = [
    pytest.mark.filterwarnings("ignore:The 'future.infer_string' option is deprecated"),
    pytest.mark.filterwarnings("ignore:fetch_arrow_table\\(\\) is deprecated"),
    pytest.mark.filterwarnings("ignore:The copy keyword is deprecated"),
]
_reference_rows: dict[str, pd.DataFrame] = {}


@pytest.fixture
def engine(request: pytest.FixtureRequest) -> CountingEngine:
    fixture: CountingEngine = request.getfixturevalue(f"{request.param}_fixture_engine")
    return fixture


def _expected(reference: CountingEngine, indicator_id: str) -> pd.DataFrame:
    if indicator_id not in _reference_rows:
        _reference_rows[indicator_id] = reference.person_day_events(find_indicator(indicator_id))
    return _reference_rows[indicator_id]


def _assert_same(rows: pd.DataFrame, expected: pd.DataFrame, label: str) -> None:
    assert list(rows.columns) == PERSON_DAY_COLUMNS
    keys = ["person_id", "practice_code", "day"]
    assert rows[keys].astype(str).values.tolist() == expected[keys].astype(str).values.tolist(), label
    np.testing.assert_allclose(rows["numerator"], expected["numerator"], rtol=1e-9, err_msg=label)
    assert rows["events"].tolist() == expected["events"].tolist(), label


def test_every_catalogue_indicator_with_people_has_person_level_rows_on_the_fixture(
    reference_fixture_engine: CountingEngine,
) -> None:
    empty = [i for i in PERSON_LEVEL_IDS if _expected(reference_fixture_engine, i).empty]
    assert not empty, f"the fixture gives no person-level rows for {empty}"


@pytest.mark.parametrize(
    ("engine", "indicator_id"),
    [
        pytest.param(name, indicator_id, id=f"{name}-{indicator_id}")
        for name in ("duckdb", "spark")
        for indicator_id in PERSON_LEVEL_IDS
    ],
    indirect=["engine"],
)
def test_person_day_events_agree_with_the_reference(
    engine: CountingEngine, indicator_id: str, reference_fixture_engine: CountingEngine
) -> None:
    rows = engine.person_day_events(find_indicator(indicator_id))
    _assert_same(rows, _expected(reference_fixture_engine, indicator_id), f"{engine.name} {indicator_id}")


@pytest.mark.parametrize("indicator_id", PERSON_LEVEL_IDS)
def test_person_rows_add_up_to_the_practice_month_numerators(
    indicator_id: str, duckdb_fixture_engine: CountingEngine
) -> None:
    definition = find_indicator(indicator_id)
    rows = duckdb_fixture_engine.person_day_events(definition)
    months = duckdb_fixture_engine.data_months(definition.numerator)
    assert months is not None
    periods = complete_periods("month", *months)
    counts = duckdb_fixture_engine.counts(
        definition, [AreaSet("practice", "each_practice", {}, "each practice")], periods
    )
    if "sex" in counts.columns:  # standardised: bands summed back together
        counts = counts.groupby(["code", "first_month"], as_index=False)[["numerator", "events"]].sum()
    counted = counts.set_index(["code", "first_month"])[["numerator", "events"]]
    counted = counted[counted["events"] > 0]
    rows = rows.assign(first_month=[month_index(day.date()) for day in rows["day"]])
    summed = rows.groupby(["practice_code", "first_month"])[["numerator", "events"]].sum()
    summed.index.names = ["code", "first_month"]
    if definition.standardisation == "esp2013":
        # Standardised counts leave out events of people whose sex is not stated.
        assert (summed["events"].reindex(counted.index) >= counted["events"]).all()
        return
    pd.testing.assert_frame_equal(
        summed.sort_index().astype(float), counted.sort_index().astype(float), check_names=False
    )


def test_days_and_people_narrow_the_rows(duckdb_fixture_engine: CountingEngine) -> None:
    definition = find_indicator("emergency_admissions")
    every = duckdb_fixture_engine.person_day_events(definition)
    day = every["day"].iloc[len(every) // 2].date()
    person = every["person_id"].iloc[0]
    later = duckdb_fixture_engine.person_day_events(definition, first_day=day)
    earlier = duckdb_fixture_engine.person_day_events(definition, last_day=day - dt.timedelta(days=1))
    assert len(later) + len(earlier) == len(every)
    assert (later["day"] >= pd.Timestamp(day)).all()
    one = duckdb_fixture_engine.person_day_events(definition, people={person})
    assert set(one["person_id"]) == {person}
    assert len(one) == int((every["person_id"] == person).sum())


def test_an_indicator_without_people_has_no_person_level_output(
    reference_fixture_engine: CountingEngine,
) -> None:
    with pytest.raises(CaremodelsError, match="holds no people"):
        reference_fixture_engine.person_day_events(find_indicator("prescribing_items"))
