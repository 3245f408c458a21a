"""Writes the Sunderland-style staff survey fixture (run once; the output is committed).

Two runs of one questionnaire (2016 and 2017) for five locality teams. The 2017 run reproduces the
reported figures of All Together Better Sunderland: 80% saw a positive change in collaborative
working, 72% agreed there was trust and openness, 80% would recommend the service to family, of 125
respondents. Agreement per team is fixed below; answers are laid out deterministically. Three
superseded pseudonymous responses and two unfinished ones are included, and must not count.

Run:  .venv/bin/python tests/surveys/make_sunderland_fixture.py
"""

from __future__ import annotations

import json
from pathlib import Path

HERE = Path(__file__).parent / "data"
URL = "https://example.org/fhir/Questionnaire/integrated-team-staff-survey"
QUESTIONS = {
    "collaboration": "I have seen a positive change in the way I work collaboratively with other colleagues.",
    "trust": "There is trust and openness across all team members.",
    "recommend": "I would recommend the service we provide to my family members.",
}
OPTIONS = ["strongly-agree", "agree", "neither", "disagree", "strongly-disagree"]
# survey version -> team -> (respondents, agree per question in QUESTIONS order)
DESIGN = {
    "2016": {
        "coalfield": (35, (21, 19, 25)),
        "east": (25, (15, 14, 17)),
        "north": (20, (12, 11, 14)),
        "washington": (15, (9, 8, 10)),
        "west": (5, (3, 3, 4)),
    },
    "2017": {
        "coalfield": (40, (32, 30, 33)),
        "east": (30, (24, 21, 23)),
        "north": (25, (20, 18, 20)),
        "washington": (20, (16, 14, 16)),
        "west": (10, (8, 7, 8)),
    },
}


def questionnaire(version: str) -> dict[str, object]:
    team_options = [{"valueCoding": {"code": team}} for team in DESIGN[version]]
    return {
        "resourceType": "Questionnaire",
        "url": URL,
        "version": version,
        "title": f"Integrated teams staff survey {version}",
        "status": "active",
        "date": f"{version}-03-01",
        "item": [
            {"linkId": "team", "text": "Your locality team", "type": "choice", "answerOption": team_options},
            *(
                {
                    "linkId": link_id,
                    "text": text,
                    "type": "choice",
                    "answerOption": [{"valueCoding": {"code": code}} for code in OPTIONS],
                }
                for link_id, text in QUESTIONS.items()
            ),
        ],
    }


def response(
    version: str, team: str, who: str, codes: list[str], authored: str, status: str
) -> dict[str, object]:
    return {
        "resourceType": "QuestionnaireResponse",
        "questionnaire": f"{URL}|{version}",
        "status": status,
        "authored": authored,
        "author": {"identifier": {"system": "https://example.org/staff-pseudonym", "value": who}},
        "item": [
            {"linkId": "team", "answer": [{"valueCoding": {"code": team}}]},
            *(
                {"linkId": link_id, "answer": [{"valueCoding": {"code": code}}]}
                for link_id, code in zip(QUESTIONS, codes, strict=True)
            ),
        ],
    }


def main() -> None:
    HERE.mkdir(exist_ok=True)
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": questionnaire(version)} for version in DESIGN],
    }
    (HERE / "sunderland_questionnaire.json").write_text(json.dumps(bundle, indent=1) + "\n", encoding="utf-8")
    lines = []
    for version, teams in DESIGN.items():
        for team, (size, agrees) in teams.items():
            for person in range(size):
                who = f"{team}-{person:03d}"
                codes = [
                    OPTIONS[person % 2] if person < agree else OPTIONS[2 + person % 3] for agree in agrees
                ]
                lines.append(
                    response(version, team, who, codes, f"{version}-03-{10 + person % 15:02d}", "completed")
                )
                if version == "2017" and team == "east" and person < 3:
                    # An earlier answer from the same person, superseded by the one above.
                    lines.append(
                        response(
                            version, team, who, ["strongly-disagree"] * 3, f"{version}-03-02", "completed"
                        )
                    )
            if version == "2017" and team == "north":
                for person in range(2):
                    lines.append(
                        response(
                            version,
                            team,
                            f"{team}-x{person}",
                            ["agree"] * 3,
                            f"{version}-03-20",
                            "in-progress",
                        )
                    )
    (HERE / "sunderland_responses.ndjson").write_text(
        "".join(json.dumps(line, separators=(",", ":")) + "\n" for line in lines), encoding="utf-8"
    )


if __name__ == "__main__":
    main()
