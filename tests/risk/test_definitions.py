"""Published scores shipped as reference data, validated when read."""

from __future__ import annotations

from pathlib import Path

import pytest

from caremodels.errors import ReferenceDataError
from caremodels.risk.definitions import hfrs_weights, parr30


def test_hfrs_has_its_109_categories_with_the_published_extremes() -> None:
    weights = {w.icd10_3: w.points for w in hfrs_weights()}
    assert len(weights) == 109
    assert weights["F00"] == 7.1 and weights["R50"] == 0.1
    # A checksum of the transcription: the points of the appendix add up to 173.2.
    assert sum(weights.values()) == pytest.approx(173.2, abs=1e-9)


def test_parr30_has_eleven_conditions_and_banded_deprivation() -> None:
    model = parr30()
    assert len(model.conditions) == 11
    assert model.constant == pytest.approx(-2.91821)
    assert model.deprivation_bands[0] == (0, 0.0)


def test_a_bad_definition_names_the_file_and_field(tmp_path: Path) -> None:
    bad = tmp_path / "parr30.yaml"
    bad.write_text(
        "source: x\nconstant: -2\nterms: {age_squared: 1}\ndeprivation_bands: [[0, 0]]\nconditions: {}\n"
    )
    with pytest.raises(ReferenceDataError, match=r"parr30\.yaml.*terms"):
        parr30(bad)
    csv = tmp_path / "hfrs.csv"
    csv.write_text("icd10_3,points,description\nF00,7.1,ok\nF0,2,too short\n")
    with pytest.raises(ReferenceDataError, match=r"row 3.*icd10_3"):
        hfrs_weights(csv)
