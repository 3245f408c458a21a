"""FHIR resources in the store: validation on write (fhir.resources R4B models and UK Core checks),
versioned storage of the validated JSON, the search index, and allow-listed search.

Boundaries: no policy and no audit here; ``caremodels.care_record.service`` calls these inside the
transaction that also decides and audits. Errors name the element and the reason, never its value.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from pydantic import ValidationError
from sqlalchemy.engine import Connection

from caremodels.care_record.registry import NHS_NUMBER_SYSTEM, ResourceType, SearchParam, values_at
from caremodels.care_record.store import current_versions, resource_versions, resources, search_index
from caremodels.errors import CaremodelsError
from caremodels.synth.nhs_number import is_valid_nhs_number

__all__ = [
    "MAX_COUNT",
    "CareRecordError",
    "Criteria",
    "CrossPatientProbe",
    "Invalid",
    "contents",
    "index_values",
    "matching",
    "parse_search",
    "patient_of",
    "problems",
    "read_resource",
    "validate",
    "write_resource",
]

DEFAULT_COUNT = 20
MAX_COUNT = 100
_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")


class CareRecordError(CaremodelsError):
    """A request the care record refuses, with the HTTP status and FHIR issue code to answer it with."""

    status = 400
    code = "invalid"

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None) -> None:
        super().__init__(message)
        if status is not None:
            self.status = status
        if code is not None:
            self.code = code


class Invalid(CareRecordError):
    status = 422
    code = "processing"


class CrossPatientProbe(CareRecordError):
    """A search that would reach one patient's data through another's (chained or ``_has``)."""

    status = 403
    code = "forbidden"


def now_text(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat(timespec="microseconds")


@functools.cache
def _model(name: str) -> Any:
    from fhir.resources.R4B import get_fhir_model_class

    return get_fhir_model_class(name)


def problems(rt: ResourceType, body: dict[str, Any]) -> list[tuple[str, str]]:
    """What is wrong with a resource of this type, as (field, reason) pairs (the first five): the R4B
    model, then NHS numbers (modulus 11). Reasons name the kind of fault, never a value."""
    try:
        _model(rt.name).model_validate(body)
    except ValidationError as error:
        return [
            (".".join(str(part) for part in issue["loc"]) or rt.name, str(issue["type"]))
            for issue in error.errors()[:5]
        ]
    except (ValueError, TypeError) as error:
        return [(rt.name, type(error).__name__)]
    return [
        (f"identifier[{position}]", "not a valid NHS number (ten digits with a modulus-11 check digit)")
        for position, identifier in enumerate(_identifiers(body))
        if identifier.get("system") == NHS_NUMBER_SYSTEM
        and not is_valid_nhs_number(str(identifier.get("value", "")))
    ][:5]


def validate(rt: ResourceType, body: Any) -> dict[str, Any]:
    """The resource, checked: its type, the R4B model, and NHS numbers (modulus 11)."""
    if not isinstance(body, dict):
        raise CareRecordError("the body must be a FHIR resource (a JSON object)")
    if body.get("resourceType") != rt.name:
        raise CareRecordError(f"resourceType must be {rt.name}")
    found = problems(rt, body)
    if found and found[0][0].startswith("identifier[") and found[0][1].startswith("not a valid NHS"):
        raise Invalid(f"{found[0][0]}: {found[0][1]}")
    if found:
        listed = "; ".join(f"{field}: {reason}" for field, reason in found)
        raise Invalid(f"{rt.name} does not validate against the FHIR R4 model: {listed}")
    return body


def _identifiers(body: dict[str, Any]) -> Iterable[dict[str, Any]]:
    value = body.get("identifier")
    items = value if isinstance(value, list) else [value] if isinstance(value, dict) else []
    return [item for item in items if isinstance(item, dict)]


def patient_of(rt: ResourceType, body: dict[str, Any]) -> str | None:
    """The id of the one patient whose record the resource is in (None outside patients' records)."""
    if rt.name == "Patient":
        return str(body["id"]) if body.get("id") else None
    if not rt.patient_paths:
        return None
    patients = {
        str(value).removeprefix("Patient/")
        for path in rt.patient_paths
        for value in values_at(body, path)
        if isinstance(value, str) and value.startswith("Patient/")
    }
    if len(patients) != 1:
        raise Invalid(
            f"{rt.name} must reference exactly one Patient at {' or '.join(rt.patient_paths)} "
            f"(found {len(patients)})"
        )
    return patients.pop()


def _token_values(value: Any) -> list[str]:
    if isinstance(value, str | bool | int):
        return [str(value).lower() if isinstance(value, bool) else str(value)]
    if not isinstance(value, dict):
        return []
    if "coding" in value:
        return [item for coding in value.get("coding") or [] for item in _token_values(coding)]
    code = value.get("code", value.get("value"))
    if code is None:
        return []
    system = value.get("system")
    return [str(code), f"{system}|{code}"] if system else [str(code)]


def index_values(param: SearchParam, body: dict[str, Any]) -> set[str]:
    values: set[str] = set()
    for path in param.paths:
        for value in values_at(body, path):
            if param.kind == "token":
                values.update(_token_values(value))
            elif param.kind == "string" and isinstance(value, str):
                values.add(value.lower()[:512])
            elif param.kind == "reference" and isinstance(value, str):
                values.add(value[:512])
            elif param.kind == "date" and isinstance(value, str):
                # Dates are compared by day (the first ten characters of a date or dateTime).
                values.add(value[:10])
    return values


@dataclass(frozen=True)
class Stored:
    resource_type: str
    id: str
    version_id: int
    patient_id: str | None
    content: dict[str, Any]


def read_resource(
    conn: Connection, resource_type: str, resource_id: str, version: int | None = None
) -> Stored | None:
    """The current version (or ``version``) of a resource, with its patient; None when unknown."""
    if version is None:
        row = conn.execute(_CURRENT, {"type": resource_type, "id": resource_id}).first()
    else:
        row = conn.execute(_VERSION, {"type": resource_type, "id": resource_id, "version": version}).first()
    if row is None:
        return None
    return Stored(resource_type, resource_id, int(row.version_id), row.patient_id, json.loads(row.content))


def _reading(version: Any) -> sa.Select[Any]:
    return (
        sa.select(resource_versions.c.version_id, resources.c.patient_id, resource_versions.c.content)
        .join(
            resource_versions,
            sa.and_(
                resource_versions.c.resource_type == resources.c.resource_type,
                resource_versions.c.id == resources.c.id,
                resource_versions.c.version_id == version,
            ),
        )
        .where(resources.c.resource_type == sa.bindparam("type"), resources.c.id == sa.bindparam("id"))
    )


# Built once (every access reads through these; building a statement costs more than SQLite runs it).
_CURRENT = _reading(resources.c.version_id)
_VERSION = _reading(sa.bindparam("version", type_=sa.Integer))
_CONTENTS = (
    sa.select(resource_versions.c.id, resource_versions.c.content)
    .select_from(current_versions)
    .where(
        resource_versions.c.resource_type == sa.bindparam("type"),
        resource_versions.c.id.in_(sa.bindparam("ids", expanding=True)),
    )
)


def new_id() -> str:
    return str(uuid.uuid4())


def check_id(value: str) -> str:
    if not _ID.fullmatch(value):
        raise CareRecordError("a resource id is 1 to 64 letters, digits, '-' or '.'")
    return value


def prepare(
    rt: ResourceType, body: dict[str, Any], resource_id: str, version_id: int, moment: str
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The resource with its id and meta set, and its search index rows."""
    body = dict(body)
    body["id"] = resource_id
    meta = dict(body.get("meta") or {})
    meta["versionId"] = str(version_id)
    meta["lastUpdated"] = moment
    body["meta"] = meta
    rows = [
        {"resource_type": rt.name, "resource_id": resource_id, "param": name, "value": value}
        for name, param in rt.search.items()
        if name != "_id"  # matched on resources.id itself
        for value in sorted(index_values(param, body))
    ]
    return body, rows


def write_resource(
    conn: Connection,
    rt: ResourceType,
    body: dict[str, Any],
    *,
    resource_id: str,
    patient_id: str | None,
    moment: str,
    expected_version: int | None,
) -> Stored:
    """Insert a resource (``expected_version`` None) or its next version (``expected_version`` = current)."""
    version_id = 1 if expected_version is None else expected_version + 1
    body, rows = prepare(rt, body, resource_id, version_id, moment)
    if expected_version is None:
        conn.execute(
            resources.insert().values(
                resource_type=rt.name,
                id=resource_id,
                version_id=1,
                last_updated=moment,
                patient_id=patient_id,
            )
        )
    else:
        changed = conn.execute(
            resources.update()
            .where(
                resources.c.resource_type == rt.name,
                resources.c.id == resource_id,
                resources.c.version_id == expected_version,
            )
            .values(version_id=version_id, last_updated=moment, patient_id=patient_id)
        ).rowcount
        if changed != 1:
            raise CareRecordError(
                f"{rt.name}/{resource_id} was changed by someone else meanwhile: read it again",
                status=409,
                code="conflict",
            )
        conn.execute(
            search_index.delete().where(
                search_index.c.resource_type == rt.name, search_index.c.resource_id == resource_id
            )
        )
    conn.execute(
        resource_versions.insert().values(
            resource_type=rt.name,
            id=resource_id,
            version_id=version_id,
            last_updated=moment,
            content=json.dumps(body, separators=(",", ":"), ensure_ascii=False),
        )
    )
    if rows:
        conn.execute(search_index.insert(), rows)
    return Stored(rt.name, resource_id, version_id, patient_id, body)


@dataclass(frozen=True)
class Criteria:
    """A parsed search: (parameter, prefix, values ORed) triples ANDed, and the page wanted."""

    terms: tuple[tuple[SearchParam, str, tuple[str, ...]], ...] = ()
    count: int = DEFAULT_COUNT
    offset: int = 0
    query: str = ""
    names: tuple[str, ...] = field(default=())


_DATE_PREFIXES = {"eq": "=", "ge": ">=", "le": "<=", "gt": ">", "lt": "<"}
_DATE = re.compile(r"\d{4}(-\d{2}(-\d{2})?)?")


def parse_search(rt: ResourceType, items: Sequence[tuple[str, str]]) -> Criteria:
    """Check a search against the type's allow-list; chained and ``_has`` searches are refused."""
    terms: list[tuple[SearchParam, str, tuple[str, ...]]] = []
    count, offset = DEFAULT_COUNT, 0
    for name, raw in items:
        if name.startswith("_has") or "." in name:
            raise CrossPatientProbe(
                "chained and _has searches are refused: they reach one record through another's"
            )
        if name == "_count":
            count = _integer(name, raw, minimum=0)
            count = min(count, MAX_COUNT)
            continue
        if name == "_offset":
            offset = _integer(name, raw, minimum=0)
            continue
        if name == "_format":
            if raw not in ("json", "application/json", "application/fhir+json"):
                raise CareRecordError("_format: only JSON is served", status=400, code="not-supported")
            continue
        if ":" in name:
            raise CareRecordError(f"{name}: search modifiers are not supported", code="not-supported")
        param = rt.search.get(name)
        if param is None:
            allowed = ", ".join([*rt.search, "_count", "_offset"])
            raise CareRecordError(
                f"{name} is not a search parameter this service allows on {rt.name} (allowed: {allowed})",
                code="not-supported",
            )
        prefix = "eq"
        values = [value for value in raw.split(",") if value]
        if not values:
            raise CareRecordError(f"{name}: a value is needed")
        if param.kind == "date":
            parsed = []
            for value in values:
                head = value[:2]
                if head in _DATE_PREFIXES:
                    prefix, value = head, value[2:]
                if not _DATE.fullmatch(value[:10]):
                    raise CareRecordError(
                        f"{name}: dates are YYYY, YYYY-MM or YYYY-MM-DD, with eq/ge/le/gt/lt"
                    )
                parsed.append(value[:10])
            values = parsed
        elif param.kind == "reference" and param.target:
            values = [value if "/" in value else f"{param.target}/{value}" for value in values]
        elif param.kind == "token":
            values = [value.removeprefix("|") for value in values]
            for value in values:
                system, _, code = value.rpartition("|")
                if system == NHS_NUMBER_SYSTEM and not is_valid_nhs_number(code):
                    raise CareRecordError(f"{name}: not a valid NHS number (modulus-11 check)")
        elif param.kind == "string":
            values = [value.lower() for value in values]
        terms.append((param, prefix, tuple(values)))
    from urllib.parse import urlencode

    return Criteria(tuple(terms), count, offset, urlencode(list(items)))


def _integer(name: str, raw: str, *, minimum: int) -> int:
    if not raw.isdigit() or int(raw) < minimum:
        raise CareRecordError(f"{name} must be a whole number of at least {minimum}")
    return int(raw)


def _escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def matching(conn: Connection, rt: ResourceType, criteria: Criteria) -> list[tuple[str, str | None]]:
    """(id, patient id) of every current resource matching, newest first, before any paging."""
    query = sa.select(resources.c.id, resources.c.patient_id).where(resources.c.resource_type == rt.name)
    for param, prefix, values in criteria.terms:
        if param.name == "_id":
            query = query.where(resources.c.id.in_(values))
            continue
        index = search_index.alias()
        if param.kind == "string":
            condition = sa.or_(
                *(index.c.value.like(_escape_like(value) + "%", escape="\\") for value in values)
            )
        elif param.kind == "date":
            operator = _DATE_PREFIXES[prefix]
            # A stored day compares with a shorter value by its own prefix of the same length.
            parts = []
            for value in values:
                stored = sa.func.substr(index.c.value, 1, len(value))
                parts.append(stored.op(operator)(value))
            condition = sa.or_(*parts)
        else:
            condition = index.c.value.in_(values)
        # Driven from the index (type, parameter, value), then the resources by primary key: a
        # correlated EXISTS made both databases walk every resource of the type (100,000 patients).
        query = query.where(
            resources.c.id.in_(
                sa.select(index.c.resource_id).where(
                    index.c.resource_type == rt.name, index.c.param == param.name, condition
                )
            )
        )
    query = query.order_by(resources.c.last_updated.desc(), resources.c.id)
    return [(row.id, row.patient_id) for row in conn.execute(query)]


def contents(conn: Connection, resource_type: str, ids: Sequence[str]) -> list[dict[str, Any]]:
    """The current JSON of the resources, in the order of ``ids``."""
    found: dict[str, dict[str, Any]] = {}
    for start in range(0, len(ids), 500):
        chunk = list(ids[start : start + 500])
        rows = conn.execute(_CONTENTS, {"type": resource_type, "ids": chunk})
        found.update({row.id: json.loads(row.content) for row in rows})
    return [found[resource_id] for resource_id in ids if resource_id in found]
