"""The enhanced health in care homes framework self-assessment: each site rates, from time to time,
how far each sub-element of the framework's seven elements (``caremodels.reference.ehch_framework``)
is in place, and progress over time is read from the ratings.

A site keeps its assessments as a CSV with columns ``site`` (a vanguard site's id, name or short name),
``assessed`` (the date, ISO), ``element`` (1-7), ``sub_element`` (its text as in the framework, or its
position within the element, 1-based) and ``rating``: ``not_started`` (0), ``planned`` (1),
``partly_in_place`` (2) or ``fully_in_place`` (3), the scale of NHS England's EHCH self-assessment
tool's maturity levels, simplified. ``read_assessments`` validates it (errors name the file, row and
field); ``progress`` gives per site, per assessment date and per element the share of the way to
"fully in place" (the mean rating over 3), with the sub-elements not yet rated counted as
``not_started``, so that a site that assesses only part of the framework is not shown as further on
than it is.

Boundaries: reads reference data and the user's file only.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections import defaultdict
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict

from caremodels.errors import DataError, ReferenceDataError
from caremodels.reference import ehch_framework, find_site

__all__ = ["RATINGS", "Assessment", "ElementProgress", "SiteProgress", "progress", "read_assessments"]

Rating = Literal["not_started", "planned", "partly_in_place", "fully_in_place"]
RATINGS: dict[str, int] = {"not_started": 0, "planned": 1, "partly_in_place": 2, "fully_in_place": 3}
_COLUMNS = ("site", "assessed", "element", "sub_element", "rating")


class Assessment(BaseModel):
    model_config = ConfigDict(frozen=True)

    site_id: str
    assessed: dt.date
    element: int
    sub_element: str
    rating: Rating


class ElementProgress(BaseModel):
    model_config = ConfigDict(frozen=True)

    number: int
    name: str
    rated: int
    sub_elements: int
    share: float  # mean rating over "fully in place" (3), unrated sub-elements as not started


class SiteProgress(BaseModel):
    model_config = ConfigDict(frozen=True)

    site_id: str
    assessed: dt.date
    elements: list[ElementProgress]
    overall: float  # mean over every sub-element of the framework


def _fail(path: Path, row: int, field: str, reason: str) -> DataError:
    return DataError(reason, file=path, row=row, field=field)


def read_assessments(path: Path) -> list[Assessment]:
    """Read and validate a self-assessment CSV (see the module docstring); one rating per site, date
    and sub-element."""
    framework = {element.number: element for element in ehch_framework()}
    try:
        handle = path.open(newline="", encoding="utf-8")
    except OSError as error:
        raise DataError(f"cannot read the self-assessment: {error.strerror}", file=path) from error
    with handle:
        reader = csv.DictReader(handle)
        missing = [column for column in _COLUMNS if column not in (reader.fieldnames or [])]
        if missing:
            raise DataError(f"missing column(s) {', '.join(missing)}", file=path)
        found: list[Assessment] = []
        seen: set[tuple[str, dt.date, int, str]] = set()
        for number, line in enumerate(reader, start=2):
            try:
                site = find_site(line["site"] or "")
            except ReferenceDataError as error:
                raise _fail(path, number, "site", str(error)) from error
            if site.care_model != "EHCH":
                raise _fail(
                    path, number, "site", f"{site.short_name} is not an enhanced health in care homes site"
                )
            try:
                assessed = dt.date.fromisoformat((line["assessed"] or "").strip())
            except ValueError as error:
                raise _fail(path, number, "assessed", "not a date (YYYY-MM-DD)") from error
            text = (line["element"] or "").strip()
            if not text.isdigit() or int(text) not in framework:
                raise _fail(path, number, "element", "not an element of the framework (1-7)")
            element = framework[int(text)]
            wanted = (line["sub_element"] or "").strip()
            if wanted.isdigit() and 1 <= int(wanted) <= len(element.sub_elements):
                sub_element = element.sub_elements[int(wanted) - 1]
            elif wanted in element.sub_elements:
                sub_element = wanted
            else:
                raise _fail(path, number, "sub_element", f"not a sub-element of element {element.number}")
            rating = (line["rating"] or "").strip()
            if rating not in RATINGS:
                raise _fail(path, number, "rating", f"not one of {', '.join(RATINGS)}")
            key = (site.id, assessed, element.number, sub_element)
            if key in seen:
                raise _fail(path, number, "sub_element", "rated twice for this site and date")
            seen.add(key)
            found.append(
                Assessment(
                    site_id=site.id,
                    assessed=assessed,
                    element=element.number,
                    sub_element=sub_element,
                    rating=rating,
                )
            )
    return found


def progress(assessments: list[Assessment]) -> list[SiteProgress]:
    """Per site and assessment date (in order), each element's share of the way to fully in place."""
    framework = ehch_framework()
    by_assessment: dict[tuple[str, dt.date], dict[tuple[int, str], int]] = defaultdict(dict)
    for assessment in assessments:
        by_assessment[(assessment.site_id, assessment.assessed)][
            (assessment.element, assessment.sub_element)
        ] = RATINGS[assessment.rating]
    result = []
    top = max(RATINGS.values())
    for (site_id, assessed), ratings in sorted(by_assessment.items()):
        elements = []
        for element in framework:
            values = [ratings.get((element.number, sub), 0) for sub in element.sub_elements]
            rated = sum((element.number, sub) in ratings for sub in element.sub_elements)
            elements.append(
                ElementProgress(
                    number=element.number,
                    name=element.name,
                    rated=rated,
                    sub_elements=len(element.sub_elements),
                    share=sum(values) / (top * len(values)),
                )
            )
        every = [
            ratings.get((element.number, sub), 0) for element in framework for sub in element.sub_elements
        ]
        result.append(
            SiteProgress(
                site_id=site_id, assessed=assessed, elements=elements, overall=sum(every) / (top * len(every))
            )
        )
    return result
