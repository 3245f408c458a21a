"""Staff surveys: a questionnaire, its responses (or a CSV of counts), agreement with each statement
with a Wilson interval and the number of respondents, by team and over repeat surveys.

Inputs:
- a FHIR R4 ``Questionnaire`` (JSON; one resource, a Bundle or a list of them: each version of a
  repeated survey is a Questionnaire with the same ``url`` and its own ``version`` and ``date``), and
  anonymous or pseudonymous ``QuestionnaireResponse``s (JSON Bundle, list or NDJSON) whose
  ``questionnaire`` is the canonical ``url|version``. Resources are plain JSON checked against the
  few fields used here (pydantic), not full FHIR validation. A team is the answer to the item whose
  ``linkId`` is ``team``; a pseudonymous response's ``author.identifier.value`` keeps one response
  (the latest authored) per respondent per survey. Agreement is an answer coded ``agree`` or
  ``strongly-agree`` (configurable).
- or a CSV of counts: ``survey,survey_date,team,link_id,text,agree,answered`` (team blank or ``all``
  for the whole survey).

Statistics: the proportion agreeing with a Wilson score interval (``caremodels.stats.proportion``).
Team rows go through disclosure control (``caremodels.indicators.disclosure``): a team whose agree,
disagree or answered count is small is suppressed with its proportion and interval; published counts
are rounded as the rules say. The whole-survey row is published as counted (a survey total is not a
small area, and the respondent count is what readers need to judge it) unless it is small itself.

Boundaries: secondary use; reads only the files given. Never imports the care record.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from caremodels.errors import DataError
from caremodels.indicators.disclosure import round_count
from caremodels.reference import DisclosureControl, disclosure_control
from caremodels.stats import proportion

__all__ = [
    "ALL_TEAMS",
    "DEFAULT_AGREE_CODES",
    "QuestionResult",
    "Survey",
    "SurveyChange",
    "SurveyCounts",
    "SurveyQuestion",
    "SurveyResults",
    "compare_surveys",
    "counts_from_csv",
    "counts_from_responses",
    "load_questionnaires",
    "load_responses",
    "survey_results",
]

ALL_TEAMS = "all"
TEAM_LINK_ID = "team"
DEFAULT_AGREE_CODES = ("agree", "strongly-agree")


class _Coding(BaseModel):
    model_config = ConfigDict(extra="allow")

    code: str
    display: str | None = None


class _AnswerOption(BaseModel):
    model_config = ConfigDict(extra="allow")

    valueCoding: _Coding | None = None
    valueString: str | None = None


class _QuestionnaireItem(BaseModel):
    model_config = ConfigDict(extra="allow")

    linkId: str = Field(min_length=1)
    text: str = ""
    type: str
    answerOption: tuple[_AnswerOption, ...] = ()


class _Questionnaire(BaseModel):
    model_config = ConfigDict(extra="allow")

    resourceType: Literal["Questionnaire"]
    url: str = Field(min_length=1)
    version: str = Field(min_length=1)
    title: str = ""
    status: str
    date: dt.date
    item: tuple[_QuestionnaireItem, ...] = Field(min_length=1)


class _Answer(BaseModel):
    model_config = ConfigDict(extra="allow")

    valueCoding: _Coding | None = None
    valueString: str | None = None

    def code(self) -> str | None:
        if self.valueCoding is not None:
            return self.valueCoding.code
        return self.valueString


class _ResponseItem(BaseModel):
    model_config = ConfigDict(extra="allow")

    linkId: str
    answer: tuple[_Answer, ...] = ()


class _Identifier(BaseModel):
    model_config = ConfigDict(extra="allow")

    value: str | None = None


class _Author(BaseModel):
    model_config = ConfigDict(extra="allow")

    identifier: _Identifier | None = None


class _QuestionnaireResponse(BaseModel):
    model_config = ConfigDict(extra="allow")

    resourceType: Literal["QuestionnaireResponse"]
    questionnaire: str = Field(min_length=1)
    status: Literal["completed", "amended", "in-progress", "stopped", "entered-in-error"]
    authored: dt.datetime | dt.date | None = None
    author: _Author | None = None
    item: tuple[_ResponseItem, ...] = ()


class SurveyQuestion(BaseModel):
    model_config = ConfigDict(frozen=True)

    link_id: str
    text: str


class Survey(BaseModel):
    """One run of a questionnaire (a version), with its statements."""

    model_config = ConfigDict(frozen=True)

    url: str
    version: str
    title: str
    date: dt.date
    questions: tuple[SurveyQuestion, ...]

    @property
    def canonical(self) -> str:
        return f"{self.url}|{self.version}"


class SurveyCounts(BaseModel):
    """Counts of one statement for one team (or ``all``) in one survey."""

    model_config = ConfigDict(frozen=True)

    survey: str
    survey_date: dt.date
    team: str
    link_id: str
    text: str
    agree: int = Field(ge=0)
    answered: int = Field(ge=0)
    respondents: int = Field(ge=0)


def _resources(path: Path) -> list[dict[str, Any]]:
    """Resources from a JSON resource, a JSON list, a Bundle, or NDJSON."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise DataError(f"cannot read file: {error.strerror}", file=path) from error
    documents: list[Any]
    if path.suffix == ".ndjson":
        documents = []
        for number, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                try:
                    documents.append(json.loads(line))
                except json.JSONDecodeError as error:
                    raise DataError(f"not JSON: {error.msg}", file=path, row=number) from error
    else:
        try:
            loaded = json.loads(text)
        except json.JSONDecodeError as error:
            raise DataError(f"not JSON: {error.msg} (line {error.lineno})", file=path) from error
        documents = loaded if isinstance(loaded, list) else [loaded]
    resources: list[dict[str, Any]] = []
    for document in documents:
        if isinstance(document, dict) and document.get("resourceType") == "Bundle":
            resources.extend(entry.get("resource", {}) for entry in document.get("entry", []))
        elif isinstance(document, dict):
            resources.append(document)
        else:
            raise DataError("expected FHIR resources (JSON objects)", file=path)
    return resources


def _first_error(error: ValidationError) -> tuple[str, str]:
    first = error.errors()[0]
    return first["msg"], ".".join(str(part) for part in first["loc"])


def load_questionnaires(path: Path) -> list[Survey]:
    surveys = []
    for index, resource in enumerate(_resources(path), start=1):
        try:
            questionnaire = _Questionnaire.model_validate(resource)
        except ValidationError as error:
            message, field = _first_error(error)
            raise DataError(f"Questionnaire {index}: {message}", file=path, field=field) from error
        questions = tuple(
            SurveyQuestion(link_id=item.linkId, text=item.text)
            for item in questionnaire.item
            if item.linkId != TEAM_LINK_ID and item.type in ("choice", "open-choice", "coding")
        )
        surveys.append(
            Survey(
                url=questionnaire.url,
                version=questionnaire.version,
                title=questionnaire.title,
                date=questionnaire.date,
                questions=questions,
            )
        )
    canonicals = [survey.canonical for survey in surveys]
    if len(set(canonicals)) != len(canonicals):
        raise DataError("two Questionnaires have the same url and version", file=path)
    return sorted(surveys, key=lambda survey: survey.date)


def load_responses(path: Path) -> list[_QuestionnaireResponse]:
    responses = []
    for index, resource in enumerate(_resources(path), start=1):
        try:
            responses.append(_QuestionnaireResponse.model_validate(resource))
        except ValidationError as error:
            message, field = _first_error(error)
            # The row is the resource's position; no answer value is quoted.
            raise DataError(f"QuestionnaireResponse: {message}", file=path, row=index, field=field) from error
    return responses


def _authored_key(response: _QuestionnaireResponse) -> str:
    return "" if response.authored is None else response.authored.isoformat()


def counts_from_responses(
    surveys: Sequence[Survey],
    responses: Iterable[_QuestionnaireResponse],
    *,
    agree_codes: Sequence[str] = DEFAULT_AGREE_CODES,
) -> list[SurveyCounts]:
    """Counts per survey, team (and ``all``) and statement. Responses not completed or amended are
    left out; a pseudonymous respondent counts once per survey (their latest response)."""
    by_canonical = {survey.canonical: survey for survey in surveys}
    kept: dict[str, dict[str, _QuestionnaireResponse]] = {canonical: {} for canonical in by_canonical}
    for index, response in enumerate(responses):
        if response.status not in ("completed", "amended"):
            continue
        if response.questionnaire not in by_canonical:
            raise DataError(
                f"a response refers to questionnaire {response.questionnaire!r}, which is not loaded",
                row=index + 1,
                field="questionnaire",
            )
        identity = (
            response.author.identifier.value
            if response.author and response.author.identifier and response.author.identifier.value
            else f"anonymous-{index}"
        )
        current = kept[response.questionnaire].get(identity)
        if current is None or _authored_key(response) >= _authored_key(current):
            kept[response.questionnaire][identity] = response
    agree_set = set(agree_codes)
    counts = []
    for canonical, survey in by_canonical.items():
        tallies: dict[tuple[str, str], list[int]] = {}
        respondents: dict[str, int] = {}
        for response in kept[canonical].values():
            answers = {item.linkId: item.answer for item in response.item}
            team_answer = answers.get(TEAM_LINK_ID, ())
            team = (team_answer[0].code() if team_answer else None) or "unknown"
            for group in (team, ALL_TEAMS):
                respondents[group] = respondents.get(group, 0) + 1
                for question in survey.questions:
                    given = [answer.code() for answer in answers.get(question.link_id, ())]
                    tally = tallies.setdefault((group, question.link_id), [0, 0])
                    if given and given[0] is not None:
                        tally[1] += 1
                        tally[0] += given[0] in agree_set
        for (team, link_id), (agree, answered) in sorted(tallies.items()):
            question = next(q for q in survey.questions if q.link_id == link_id)
            counts.append(
                SurveyCounts(
                    survey=survey.canonical,
                    survey_date=survey.date,
                    team=team,
                    link_id=link_id,
                    text=question.text,
                    agree=agree,
                    answered=answered,
                    respondents=respondents[team],
                )
            )
    return counts


def counts_from_csv(path: Path) -> list[SurveyCounts]:
    """Counts from a CSV with columns ``survey,survey_date,team,link_id,text,agree,answered``; the
    respondents of a team are the largest ``answered`` of its statements."""
    try:
        handle = path.open(newline="", encoding="utf-8")
    except OSError as error:
        raise DataError(f"cannot open survey counts: {error.strerror}", file=path) from error
    required = {"survey", "survey_date", "team", "link_id", "text", "agree", "answered"}
    rows = []
    with handle:
        reader = csv.DictReader(handle)
        missing = required - set(reader.fieldnames or [])
        if missing:
            raise DataError(f"missing column(s) {', '.join(sorted(missing))}", file=path, row=1)
        for number, row in enumerate(reader, start=2):
            values: dict[str, int] = {}
            for column in ("agree", "answered"):
                try:
                    values[column] = int(row[column])
                except ValueError as error:
                    raise DataError("not a whole number", file=path, row=number, field=column) from error
                if values[column] < 0:
                    raise DataError("cannot be negative", file=path, row=number, field=column)
            if values["agree"] > values["answered"]:
                raise DataError("more agreeing than answering", file=path, row=number, field="agree")
            try:
                day = dt.date.fromisoformat(row["survey_date"].strip())
            except ValueError as error:
                raise DataError(
                    "not a date such as 2017-03-01", file=path, row=number, field="survey_date"
                ) from error
            if not row["survey"].strip() or not row["link_id"].strip():
                raise DataError("survey and link_id are required", file=path, row=number)
            rows.append((row, values, day))
    respondents: dict[tuple[str, str], int] = {}
    for row, values, _ in rows:
        key = (row["survey"].strip(), row["team"].strip() or ALL_TEAMS)
        respondents[key] = max(respondents.get(key, 0), values["answered"])
    return [
        SurveyCounts(
            survey=row["survey"].strip(),
            survey_date=day,
            team=row["team"].strip() or ALL_TEAMS,
            link_id=row["link_id"].strip(),
            text=row["text"].strip(),
            agree=values["agree"],
            answered=values["answered"],
            respondents=respondents[(row["survey"].strip(), row["team"].strip() or ALL_TEAMS)],
        )
        for row, values, day in rows
    ]


class QuestionResult(BaseModel):
    """Agreement with one statement for one team (or ``all``) in one survey, as published."""

    model_config = ConfigDict(frozen=True)

    survey: str
    survey_date: dt.date
    team: str
    link_id: str
    text: str
    agree: int | None
    answered: int | None
    respondents: int | None
    share_agreeing: float | None
    ci_low: float | None
    ci_high: float | None
    suppressed: bool


class SurveyResults(BaseModel):
    model_config = ConfigDict(frozen=True)

    results: tuple[QuestionResult, ...]
    agree_codes: tuple[str, ...]
    confidence: float


def _is_small(count: int, rules: DisclosureControl) -> bool:
    return round_count(count, rules) is None


def survey_results(
    counts: Iterable[SurveyCounts],
    *,
    agree_codes: Sequence[str] = DEFAULT_AGREE_CODES,
    confidence: float = 0.95,
    rules: DisclosureControl | None = None,
) -> SurveyResults:
    """Proportions agreeing with Wilson intervals, with disclosure control for teams (see the module
    docstring)."""
    rules = rules or disclosure_control()
    results = []
    for count in counts:
        small = any(
            _is_small(value, rules) for value in (count.agree, count.answered - count.agree, count.answered)
        )
        whole_survey = count.team == ALL_TEAMS
        suppressed = small and not (whole_survey and not _is_small(count.answered, rules))
        estimate = proportion(count.agree, count.answered, confidence=confidence) if count.answered else None

        def shown(value: int, suppressed: bool = suppressed, whole_survey: bool = whole_survey) -> int | None:
            if suppressed:
                return None
            return value if whole_survey else round_count(value, rules)

        results.append(
            QuestionResult(
                survey=count.survey,
                survey_date=count.survey_date,
                team=count.team,
                link_id=count.link_id,
                text=count.text,
                agree=shown(count.agree),
                answered=shown(count.answered),
                respondents=shown(count.respondents),
                share_agreeing=None if suppressed or estimate is None else estimate.value,
                ci_low=None if suppressed or estimate is None else estimate.lower,
                ci_high=None if suppressed or estimate is None else estimate.upper,
                suppressed=suppressed,
            )
        )
    results.sort(
        key=lambda result: (
            result.survey_date,
            result.survey,
            result.team != ALL_TEAMS,
            result.team,
            result.link_id,
        )
    )
    return SurveyResults(results=tuple(results), agree_codes=tuple(agree_codes), confidence=confidence)


class SurveyChange(BaseModel):
    model_config = ConfigDict(frozen=True)

    team: str
    link_id: str
    text: str
    earlier: QuestionResult
    later: QuestionResult
    change: float | None
    intervals_overlap: bool | None


def compare_surveys(results: SurveyResults, earlier: str, later: str) -> list[SurveyChange]:
    """Statement by statement and team by team, the change in agreement between two surveys (matched
    by ``link_id``), and whether their intervals overlap (a rough guide, not a test)."""
    first = {(r.team, r.link_id): r for r in results.results if r.survey == earlier}
    second = {(r.team, r.link_id): r for r in results.results if r.survey == later}
    if not first or not second:
        missing = earlier if not first else later
        raise DataError(f"no results for survey {missing!r}")
    changes = []
    for key in sorted(set(first) & set(second), key=lambda k: (k[0] != ALL_TEAMS, k)):
        a, b = first[key], second[key]
        both = a.share_agreeing is not None and b.share_agreeing is not None
        overlap = None
        if (
            both
            and a.ci_low is not None
            and a.ci_high is not None
            and b.ci_low is not None
            and b.ci_high is not None
        ):
            overlap = a.ci_low <= b.ci_high and b.ci_low <= a.ci_high
        changes.append(
            SurveyChange(
                team=key[0],
                link_id=key[1],
                text=b.text,
                earlier=a,
                later=b,
                change=(b.share_agreeing or 0.0) - (a.share_agreeing or 0.0) if both else None,
                intervals_overlap=overlap,
            )
        )
    return changes
