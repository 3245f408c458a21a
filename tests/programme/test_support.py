"""The support log: validation, who got what, and groups for comparing outcomes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from caremodels.cli import main
from caremodels.errors import DataError
from caremodels.programme.support import enabler_support, outcome_groups, site_support, support_log
from caremodels.reference import site_memberships

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "programme" / "support_log.csv"


def test_the_example_log_summarises_by_site_and_enabler() -> None:
    log = support_log(EXAMPLE)
    assert len(log) == 5
    fylde = next(site for site in site_support(log) if site.site_id == "fylde-coast")
    assert (fylde.entries, fylde.received, fylde.unmet_requests, fylde.enablers_received) == (2, 1, 1, (2,))
    technology = next(enabler for enabler in enabler_support(log) if enabler.number == 6)
    assert technology.sites_received == ("better-care-together-morecambe-bay",)
    assert technology.sites_asked_not_received == ("fylde-coast",)
    assert len(enabler_support(log)) == 8
    assert len(site_support(log, every_site=True)) == 50


def test_outcome_groups_split_sites_by_support() -> None:
    groups = outcome_groups(support_log(EXAMPLE), 6)
    received = set(site_memberships()["better-care-together-morecambe-bay"].practice_codes)
    assert set(groups["received-enabler-6"]) == received
    assert not received & set(groups["not-received-enabler-6"])


def test_bad_rows_are_located(tmp_path: Path) -> None:
    path = tmp_path / "log.csv"
    path.write_text("site,enabler,date,asked_for,received\nfylde-coast,9,2016-01-01,x,\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"row 2, field enabler"):
        support_log(path)
    path.write_text("site,enabler,date,asked_for,received\nnowhere,1,2016-01-01,x,\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"row 2, field site"):
        support_log(path)
    path.write_text("site,enabler,date,asked_for,received\nfylde-coast,1,2016-13-01,x,\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"row 2, field date"):
        support_log(path)


def test_support_command_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["programme", "support", str(EXAMPLE), "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert len(document["enablers"]) == 8 and len(document["sites"]) == 4
    assert main(["programme", "support", str(EXAMPLE), "--entries", "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 5
