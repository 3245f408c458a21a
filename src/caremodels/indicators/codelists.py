"""Clinical code lists used by indicator definitions (for example the ambulatory care sensitive
conditions), each a YAML file in ``indicators/code_lists`` naming its source and its simplifications.

A code matches a value when the value starts with it: ``I50`` matches ``I500`` and ``I509``, as HES
four-character ICD-10 codes (no dot, ``X`` filler) are matched against three- or four-character codes.
"""

from __future__ import annotations

import functools
from importlib import resources
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from caremodels.errors import ReferenceDataError

__all__ = ["CodeList", "Condition", "code_list", "code_lists", "load_code_list"]


class Condition(BaseModel):
    """One clinical condition of a list and its codes."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    codes: tuple[str, ...] = Field(min_length=1)


class CodeList(BaseModel):
    """A named list of codes for one warehouse field, with its source."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    title: str
    field: str
    match: Literal["prefix"]
    source: str
    simplifications: str = ""
    conditions: tuple[Condition, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _codes_are_icd10_prefixes(self) -> CodeList:
        for condition in self.conditions:
            for code in condition.codes:
                if not (3 <= len(code) <= 4 and code[0].isalpha() and code[1:3].isdigit()):
                    raise ValueError(f"{code!r} ({condition.name}) is not a 3 or 4 character ICD-10 code")
        return self

    @property
    def codes(self) -> tuple[str, ...]:
        """Every code of every condition, sorted, each once."""
        return tuple(sorted({code for condition in self.conditions for code in condition.codes}))

    def matches(self, value: str | None) -> bool:
        """Whether a field value is covered by the list (prefix match)."""
        return value is not None and any(value.startswith(code) for code in self.codes)


def load_code_list(path: Path) -> CodeList:
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
        return CodeList.model_validate(document)
    except (OSError, yaml.YAMLError) as error:
        raise ReferenceDataError(f"cannot read code list: {error}", file=path) from error
    except ValidationError as error:
        first = error.errors()[0]
        raise ReferenceDataError(
            first["msg"], file=path, field=".".join(str(part) for part in first["loc"])
        ) from error


@functools.cache
def code_lists() -> dict[str, CodeList]:
    """Every shipped code list by id."""
    folder = Path(str(resources.files("caremodels.indicators") / "code_lists"))
    lists: dict[str, CodeList] = {}
    for path in sorted(folder.glob("*.yaml")):
        loaded = load_code_list(path)
        if loaded.id in lists:
            raise ReferenceDataError(f"two code lists share the id {loaded.id!r}", file=path)
        lists[loaded.id] = loaded
    return lists


def code_list(list_id: str) -> CodeList:
    try:
        return code_lists()[list_id]
    except KeyError:
        known = ", ".join(sorted(code_lists()))
        raise ReferenceDataError(f"no code list {list_id!r} (known: {known})") from None
