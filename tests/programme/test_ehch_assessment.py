"""The enhanced health in care homes framework self-assessment: validation and progress over time."""

from __future__ import annotations

from pathlib import Path

import pytest

from caremodels.errors import DataError
from caremodels.programme.ehch_assessment import progress, read_assessments
from caremodels.reference import ehch_framework

HEADER = "site,assessed,element,sub_element,rating\n"


def _file(tmp_path: Path, rows: str) -> Path:
    path = tmp_path / "assessment.csv"
    path.write_text(HEADER + rows, encoding="utf-8")
    return path


def test_progress_over_time_counts_unrated_sub_elements_as_not_started(tmp_path: Path) -> None:
    first_sub = ehch_framework()[0].sub_elements[0]
    path = _file(
        tmp_path,
        f'Wakefield care homes,2016-04-01,1,"{first_sub}",planned\n'
        "Wakefield care homes,2016-04-01,4,2,partly_in_place\n"
        "Wakefield care homes,2017-04-01,1,1,fully_in_place\n"
        "Wakefield care homes,2017-04-01,1,2,fully_in_place\n"
        "Wakefield care homes,2017-04-01,4,2,fully_in_place\n",
    )
    first, second = progress(read_assessments(path))
    assert (first.assessed.isoformat(), second.assessed.isoformat()) == ("2016-04-01", "2017-04-01")
    element_1 = ehch_framework()[0]
    assert first.elements[0].share == pytest.approx(1 / (3 * len(element_1.sub_elements)))
    assert second.elements[0].share == pytest.approx(6 / (3 * len(element_1.sub_elements)))
    assert second.elements[0].rated == 2 and second.elements[3].share == pytest.approx(0.5)
    total = sum(len(element.sub_elements) for element in ehch_framework())
    assert second.overall == pytest.approx(9 / (3 * total)) and second.overall > first.overall
    assert [element.number for element in second.elements] == list(range(1, 8))


@pytest.mark.parametrize(
    ("row", "field"),
    [
        ("Fylde Coast,2016-04-01,1,1,planned\n", "site"),
        ("Sutton,2016-13-01,1,1,planned\n", "assessed"),
        ("Sutton,2016-04-01,8,1,planned\n", "element"),
        ("Sutton,2016-04-01,1,9,planned\n", "sub_element"),
        ("Sutton,2016-04-01,1,1,done\n", "rating"),
        ("Sutton,2016-04-01,1,1,planned\nSutton,2016-04-01,1,1,planned\n", "sub_element"),
    ],
)
def test_a_bad_row_is_named(tmp_path: Path, row: str, field: str) -> None:
    with pytest.raises(DataError) as error:
        read_assessments(_file(tmp_path, row))
    assert error.value.field == field and error.value.row in (2, 3)
