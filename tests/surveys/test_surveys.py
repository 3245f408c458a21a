"""Staff surveys: the Sunderland-style fixture reproduces 80% / 72% / 80% with Wilson intervals and
the respondent count; teams are suppressed by the disclosure rules; repeat surveys compare."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from caremodels.cli import main
from caremodels.errors import DataError
from caremodels.stats import proportion
from caremodels.surveys import (
    compare_surveys,
    counts_from_csv,
    counts_from_responses,
    load_questionnaires,
    load_responses,
    survey_results,
)

DATA = Path(__file__).parent / "data"
QUESTIONNAIRE = DATA / "sunderland_questionnaire.json"
RESPONSES = DATA / "sunderland_responses.ndjson"


def _results():  # type: ignore[no-untyped-def]
    return survey_results(
        counts_from_responses(load_questionnaires(QUESTIONNAIRE), load_responses(RESPONSES))
    )


def test_sunderland_fixture_reproduces_the_reported_figures() -> None:
    rows = {
        row.link_id: row for row in _results().results if row.survey.endswith("|2017") and row.team == "all"
    }
    expected = {"collaboration": (100, 0.80), "trust": (90, 0.72), "recommend": (100, 0.80)}
    for link_id, (agree, share) in expected.items():
        row = rows[link_id]
        assert row.respondents == 125 and row.answered == 125 and row.agree == agree
        assert row.share_agreeing == pytest.approx(share)
        wilson = proportion(agree, 125)
        assert (row.ci_low, row.ci_high) == pytest.approx((wilson.lower, wilson.upper))
    # 72% of 125: the Wilson interval is about 63.6% to 79.1%.
    assert rows["trust"].ci_low == pytest.approx(0.636, abs=0.001)
    assert rows["trust"].ci_high == pytest.approx(0.791, abs=0.001)


def test_small_team_counts_are_suppressed() -> None:
    rows = [row for row in _results().results if row.survey.endswith("|2017") and row.team != "all"]
    west = [row for row in rows if row.team == "west"]  # 10 respondents
    assert west and all(
        row.suppressed and row.share_agreeing is None and row.respondents is None for row in west
    )
    coalfield = next(row for row in rows if row.team == "coalfield" and row.link_id == "collaboration")
    # 32 of 40 agree (8 do not): published, counts rounded to 5, share from the true counts.
    assert not coalfield.suppressed and coalfield.agree == 30 and coalfield.answered == 40
    assert coalfield.share_agreeing == pytest.approx(0.8)


def test_superseded_and_unfinished_responses_do_not_count() -> None:
    counts = counts_from_responses(load_questionnaires(QUESTIONNAIRE), load_responses(RESPONSES))
    east = next(
        c for c in counts if c.survey.endswith("|2017") and c.team == "east" and c.link_id == "collaboration"
    )
    assert east.respondents == 30 and east.agree == 24
    north = next(
        c for c in counts if c.survey.endswith("|2017") and c.team == "north" and c.link_id == "trust"
    )
    assert north.respondents == 25


def test_repeat_surveys_are_compared() -> None:
    results = _results()
    names = sorted({row.survey for row in results.results})
    changes = compare_surveys(results, names[0], names[1])
    overall = {change.link_id: change for change in changes if change.team == "all"}
    assert overall["collaboration"].change == pytest.approx(0.20)
    assert overall["collaboration"].intervals_overlap is False
    assert overall["trust"].change == pytest.approx(0.17)


def test_csv_counts_give_the_same_answer(tmp_path: Path) -> None:
    path = tmp_path / "counts.csv"
    path.write_text(
        "survey,survey_date,team,link_id,text,agree,answered\n"
        "2017,2017-03-01,,trust,Trust and openness,90,125\n"
        "2017,2017-03-01,west,trust,Trust and openness,7,10\n",
        encoding="utf-8",
    )
    rows = survey_results(counts_from_csv(path)).results
    assert (
        rows[0].team == "all" and rows[0].share_agreeing == pytest.approx(0.72) and rows[0].respondents == 125
    )
    assert rows[1].suppressed
    path.write_text(
        "survey,survey_date,team,link_id,text,agree,answered\n2017,2017-03-01,,q,t,9,5\n", encoding="utf-8"
    )
    with pytest.raises(DataError, match="row 2, field agree"):
        counts_from_csv(path)


def test_bad_response_is_located_without_quoting_answers(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    path.write_text(
        json.dumps([{"resourceType": "QuestionnaireResponse", "status": "done", "questionnaire": "x"}]),
        encoding="utf-8",
    )
    with pytest.raises(DataError, match=r"row 1, field status"):
        load_responses(path)


def test_survey_commands_print_json(capsys: pytest.CaptureFixture[str]) -> None:
    arguments = ["--questionnaire", str(QUESTIONNAIRE), "--responses", str(RESPONSES)]
    assert main(["survey", "results", *arguments, "--team", "all", "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    shares = sorted(
        round(row["share_agreeing"], 2) for row in document["results"] if row["survey"].endswith("|2017")
    )
    assert shares == [0.72, 0.8, 0.8]
    assert main(["survey", "compare", *arguments, "--earlier", "2016", "--later", "2017", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)
    assert main(["survey", "results", "--json"]) == 2
