"""Names of areas beside their codes, so that every output says which area a figure is for.

Practices and CCGs are named from the shipped reference data (``caremodels.reference``) when it
has a name for them; vanguard sites by their short name; care model types by their name; England as
"England"; the rest of England for a care model type as "Rest of England (outside <type> sites)".
The shipped CCG names are those of the April 2021 CCGs: a January 2021 CCG that merged in April 2021
has no name there and is called "CCG <code>".
User-defined groups and PCNs are named by their code (the name the user gave them). A code the
reference data cannot name is its own name.

Boundaries: reads only reference data; no warehouse access.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable

from caremodels.indicators.geography import ENGLAND_CODE
from caremodels.reference import area_names as reference_area_names
from caremodels.reference import care_model_types, trust_names, vanguard_sites

__all__ = ["area_name", "area_names"]


@functools.cache
def _named() -> dict[str, dict[str, str]]:
    shipped = reference_area_names()
    types = {model.code: model.name for model in care_model_types()}
    return {
        "practice": dict(shipped.get("practice", {})),
        "ccg": dict(shipped.get("ccg", {})),
        "site": {site.id: site.short_name for site in vanguard_sites()},
        "care_model": {code: f"{name} ({code})" for code, name in types.items()},
        "rest_of_england": {code: f"Rest of England (outside {code} sites)" for code in types},
        "england": {ENGLAND_CODE: "England"},
        "provider": dict(trust_names()),
    }


def _fallback(level: str, code: str) -> str:
    # A CCG code alone reads as noise; say what it is.
    return f"CCG {code}" if level == "ccg" else code


def area_name(level: str, code: str) -> str:
    """The name of area ``code`` of ``level`` (the code itself, or "CCG <code>", when the
    reference data has no name for it)."""
    found = _named().get(level, {}).get(code)
    return found if found is not None else _fallback(level, code)


def area_names(levels: Iterable[str], codes: Iterable[str]) -> list[str]:
    """``area_name`` of each (level, code) pair."""
    return [area_name(level, code) for level, code in zip(levels, codes, strict=True)]
