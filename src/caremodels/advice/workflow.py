"""Advice and guidance as NHS e-RS models it: the states, the legal transitions, the working-day clock,
the FHIR shapes, and the write rules that hold the state machine for every route (the service's own
and the generic FHIR API alike).

The shapes (FHIR R4):

- the request is a ``CommunicationRequest`` (category advice-and-guidance and the specialty's treatment
  function code; ``requester`` the GP practice and the GP, ``recipient`` the provider's service; the
  question in ``payload``, attachments as ``DocumentReference``\\ s referenced from ``payload``) with two
  answers recorded when it is made and never changed after: "would you otherwise have referred?"
  (``EXT_INTENDED``) and "authorised to convert to a referral" (``EXT_AUTHORISED``);
- the provider's work is a ``Task`` (code advice-and-guidance, ``focus`` the request, ``owner`` the
  provider) due two working days (England bank holidays excluded) after the request; its
  ``businessStatus`` is the state below and its ``status`` follows from it;
- the conversation is ``Communication``\\ s ``basedOn`` the request;
- a conversion is a ``ServiceRequest`` ``basedOn`` the request, only when the GP authorised it.

States and transitions (``TRANSITIONS``): a request starts *awaiting-provider*; the provider may ask
the GP for more information (*awaiting-requester*, the GP replies back to *awaiting-provider*), or end
it with advice (*advice-given*), by converting it to a referral (*converted*), or by advising the GP to
refer (*referral-advised*); the GP may withdraw an open request (*withdrawn*). Anything else is refused.

Boundaries: pure functions and the write rules (which read the transaction's own rows through
``caremodels.care_record.resources``); no HTTP. Refusals never quote a patient-level value.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

import holidays
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from caremodels.care_record import resources as res
from caremodels.care_record.policy import IndexedRelationship, Principal, register_relationship_provider
from caremodels.care_record.registry import ODS_SYSTEM, ResourceType, SearchParam, register, resource_type
from caremodels.care_record.service import RuleRefused, register_write_rule
from caremodels.care_record.store import search_index
from caremodels.reference.fhir import (
    ADVICE_CATEGORY_SYSTEM,
    ADVICE_CODE,
    ADVICE_STATE_SYSTEM,
    AUTHORISED_TO_CONVERT_EXTENSION,
    TREATMENT_FUNCTION_SYSTEM,
    WOULD_OTHERWISE_REFER_EXTENSION,
)

__all__ = [
    "CATEGORY_SYSTEM",
    "EVENTS",
    "EXT_AUTHORISED",
    "EXT_INTENDED",
    "STATES",
    "TERMINAL",
    "TRANSITIONS",
    "Event",
    "Refused",
    "add_working_days",
    "install",
    "transition",
]

CATEGORY_SYSTEM = ADVICE_CATEGORY_SYSTEM
STATE_SYSTEM = ADVICE_STATE_SYSTEM
EXT_INTENDED = WOULD_OTHERWISE_REFER_EXTENSION
EXT_AUTHORISED = AUTHORISED_TO_CONVERT_EXTENSION

AWAITING_PROVIDER = "awaiting-provider"
AWAITING_REQUESTER = "awaiting-requester"
ADVICE_GIVEN = "advice-given"
CONVERTED = "converted"
REFERRAL_ADVISED = "referral-advised"
WITHDRAWN = "withdrawn"

# State -> FHIR Task.status (the generic view of the same state).
STATES: dict[str, str] = {
    AWAITING_PROVIDER: "requested",
    AWAITING_REQUESTER: "on-hold",
    ADVICE_GIVEN: "completed",
    CONVERTED: "completed",
    REFERRAL_ADVISED: "completed",
    WITHDRAWN: "cancelled",
}
TERMINAL = frozenset({ADVICE_GIVEN, CONVERTED, REFERRAL_ADVISED, WITHDRAWN})
STATE_NAMES = {
    AWAITING_PROVIDER: "awaiting the provider",
    AWAITING_REQUESTER: "awaiting the GP's reply",
    ADVICE_GIVEN: "advice given",
    CONVERTED: "converted to a referral",
    REFERRAL_ADVISED: "referral advised",
    WITHDRAWN: "withdrawn",
}

Actor = Literal["provider", "requester"]


@dataclass(frozen=True)
class Event:
    name: str
    actor: Actor
    sources: frozenset[str]
    target: str
    title: str


EVENTS: dict[str, Event] = {
    event.name: event
    for event in (
        Event("ask", "provider", frozenset({AWAITING_PROVIDER}), AWAITING_REQUESTER, "Ask the GP for more"),
        Event("reply", "requester", frozenset({AWAITING_REQUESTER}), AWAITING_PROVIDER, "Reply"),
        Event("advise", "provider", frozenset({AWAITING_PROVIDER}), ADVICE_GIVEN, "Give advice"),
        Event(
            "advise-referral",
            "provider",
            frozenset({AWAITING_PROVIDER}),
            REFERRAL_ADVISED,
            "Advise a referral",
        ),
        Event("convert", "provider", frozenset({AWAITING_PROVIDER}), CONVERTED, "Convert to a referral"),
        Event(
            "withdraw", "requester", frozenset({AWAITING_PROVIDER, AWAITING_REQUESTER}), WITHDRAWN, "Withdraw"
        ),
    )
}
TRANSITIONS: frozenset[tuple[str, str]] = frozenset(
    (source, event.target) for event in EVENTS.values() for source in event.sources
)


class Refused(RuleRefused):
    """An illegal advice and guidance step (409), or one the rules forbid (422)."""


def transition(state: str, event_name: str) -> Event:
    """The event, if it is legal from ``state``; otherwise the refusal saying why."""
    event = EVENTS.get(event_name)
    if event is None:
        raise Refused(
            f"advice and guidance has no step {event_name[:40]!r} (one of {', '.join(EVENTS)})",
            status=422,
            code="not-supported",
        )
    if state not in event.sources:
        allowed = [name for name, candidate in EVENTS.items() if state in candidate.sources]
        raise Refused(
            f"illegal transition: cannot {event.name} a request that is {STATE_NAMES.get(state, state)}"
            + (f" (allowed: {', '.join(allowed)})" if allowed else " (the request is closed)")
        )
    return event


# -- the working-day clock ----------------------------------------------------------------------------
@functools.cache
def _bank_holidays(year: int) -> frozenset[dt.date]:
    # England's bank holidays from the pinned ``holidays`` package (GB, subdivision ENG): the dates
    # gov.uk publishes, including one-off days (jubilees, a coronation, a state funeral).
    return frozenset(holidays.country_holidays("GB", subdiv="ENG", years=year))


def is_working_day(day: dt.date) -> bool:
    return day.weekday() < 5 and day not in _bank_holidays(day.year)


def add_working_days(start: dt.date, days: int) -> dt.date:
    """The date ``days`` working days after ``start`` (a request on Friday is due on Tuesday)."""
    if days < 0:
        raise ValueError(f"days must be >= 0, got {days}")
    day = start
    counted = 0
    while counted < days:
        day += dt.timedelta(days=1)
        if is_working_day(day):
            counted += 1
    return day


def working_days_between(start: dt.date, end: dt.date) -> int:
    """Working days after ``start`` up to and including ``end`` (0 when answered the same day)."""
    count = 0
    day = start
    while day < end:
        day += dt.timedelta(days=1)
        if is_working_day(day):
            count += 1
    return count


# -- reading the shapes -------------------------------------------------------------------------------
def _codes(concepts: Any, system: str) -> list[str]:
    found = []
    for concept in concepts if isinstance(concepts, list) else [concepts]:
        if isinstance(concept, dict):
            for coding in concept.get("coding") or []:
                if isinstance(coding, dict) and coding.get("system") == system and coding.get("code"):
                    found.append(str(coding["code"]))
    return found


def is_advice_request(resource: dict[str, Any]) -> bool:
    return ADVICE_CODE in _codes(resource.get("category"), CATEGORY_SYSTEM)


def is_advice_task(resource: dict[str, Any]) -> bool:
    return ADVICE_CODE in _codes(resource.get("code"), CATEGORY_SYSTEM)


def specialty_of(request: dict[str, Any]) -> str | None:
    codes = _codes(request.get("category"), TREATMENT_FUNCTION_SYSTEM)
    return codes[0] if codes else None


def flag(request: dict[str, Any], url: str) -> bool | None:
    for extension in request.get("extension") or []:
        if isinstance(extension, dict) and extension.get("url") == url:
            value = extension.get("valueBoolean")
            return value if isinstance(value, bool) else None
    return None


def state_of(task: dict[str, Any]) -> str:
    codes = _codes(task.get("businessStatus"), STATE_SYSTEM)
    return codes[0] if codes else ""


def state_concept(state: str) -> dict[str, Any]:
    return {"coding": [{"system": STATE_SYSTEM, "code": state, "display": STATE_NAMES[state]}]}


def _ref(value: Any) -> str:
    return str(value.get("reference", "")) if isinstance(value, dict) else ""


def _refs(values: Any) -> list[str]:
    return [_ref(value) for value in values if _ref(value)] if isinstance(values, list) else []


# -- the write rules ----------------------------------------------------------------------------------
def _org_code(conn: Connection, reference: str) -> str | None:
    if not reference.startswith("Organization/"):
        return None
    stored = res.read_resource(conn, "Organization", reference.removeprefix("Organization/"))
    if stored is None:
        return None
    for identifier in stored.content.get("identifier") or []:
        if isinstance(identifier, dict) and identifier.get("system") == ODS_SYSTEM:
            return str(identifier.get("value"))
    return None


def _actor_codes(conn: Connection, references: Iterable[str]) -> set[str]:
    return {code for code in (_org_code(conn, ref) for ref in references) if code}


def _request_of(conn: Connection, reference: str) -> res.Stored:
    if not reference.startswith("CommunicationRequest/"):
        raise Refused("an advice and guidance Task's focus must be its CommunicationRequest", status=422)
    stored = res.read_resource(conn, "CommunicationRequest", reference.removeprefix("CommunicationRequest/"))
    if stored is None or not is_advice_request(stored.content):
        raise Refused("the advice and guidance request referred to is not in the record", status=422)
    return stored


def task_of(conn: Connection, request_id: str) -> res.Stored | None:
    """The provider's Task for a request (found through the search index, inside the transaction)."""
    row = conn.execute(
        sa.select(search_index.c.resource_id).where(
            search_index.c.resource_type == "Task",
            search_index.c.param == "focus",
            search_index.c.value == f"CommunicationRequest/{request_id}",
        )
    ).first()
    return None if row is None else res.read_resource(conn, "Task", row.resource_id)


def _advice_bases(body: dict[str, Any], conn: Connection | None = None) -> list[str]:
    """The CommunicationRequests a resource is based on; with ``conn``, only advice and guidance ones
    (a referral based on some other CommunicationRequest is none of this workflow's business)."""
    bases = [ref for ref in _refs(body.get("basedOn")) if ref.startswith("CommunicationRequest/")]
    if conn is None:
        return bases
    kept = []
    for ref in bases:
        stored = res.read_resource(conn, "CommunicationRequest", ref.removeprefix("CommunicationRequest/"))
        if stored is not None and is_advice_request(stored.content):
            kept.append(ref)
    return kept


def _check_request(
    conn: Connection, principal: Principal, current: dict[str, Any] | None, body: dict[str, Any]
) -> None:
    if not is_advice_request(body) and not (current and is_advice_request(current)):
        return
    intended, authorised = flag(body, EXT_INTENDED), flag(body, EXT_AUTHORISED)
    if current is None:
        if intended is None or authorised is None:
            raise Refused(
                "an advice and guidance request records, when it is made, both 'would you otherwise have "
                "referred?' and 'authorised to convert to a referral' (boolean extensions)",
                status=422,
            )
        if specialty_of(body) is None:
            raise Refused(
                "an advice and guidance request names the specialty (treatment function)", status=422
            )
        if body.get("status") != "active":
            raise Refused("an advice and guidance request starts active", status=422)
        if len(_refs(body.get("recipient"))) != 1:
            raise Refused("an advice and guidance request goes to exactly one provider", status=422)
        if principal.org_code not in _actor_codes(conn, _refs([body.get("requester")])):
            raise Refused("only a clinician of the requesting practice can make its request", status=422)
        return
    for url, before, after in (
        (EXT_INTENDED, flag(current, EXT_INTENDED), intended),
        (EXT_AUTHORISED, flag(current, EXT_AUTHORISED), authorised),
    ):
        if before != after:
            raise Refused(
                f"{url.rsplit('/', 1)[-1]} is recorded when the request is made and cannot change", status=422
            )
    for name in ("subject", "requester", "recipient", "category", "authoredOn"):
        if current.get(name) != body.get(name):
            raise Refused(f"CommunicationRequest.{name} cannot change after the request is made", status=422)
    before_status, after_status = current.get("status"), body.get("status")
    if before_status == after_status:
        return
    task = task_of(conn, str(body.get("id")))
    state = state_of(task.content) if task else ""
    wanted = "revoked" if state == WITHDRAWN else "completed" if state in TERMINAL else None
    if before_status != "active" or after_status != wanted:
        raise Refused(
            f"illegal transition: the request's status follows its Task (now {STATE_NAMES.get(state, state)}), "
            f"it cannot go from {before_status} to {after_status}"
        )


def _check_task(
    conn: Connection, principal: Principal, current: dict[str, Any] | None, body: dict[str, Any]
) -> None:
    if not is_advice_task(body) and not (current and is_advice_task(current)):
        return
    after = state_of(body)
    if after not in STATES:
        raise Refused(f"Task.businessStatus must be one of {', '.join(STATES)}", status=422)
    if body.get("status") != STATES[after]:
        raise Refused(f"a Task that is {STATE_NAMES[after]} has status {STATES[after]}", status=422)
    request = _request_of(conn, _ref(body.get("focus")))
    if current is None:
        if after != AWAITING_PROVIDER:
            raise Refused("an advice and guidance Task starts awaiting the provider")
        if task_of(conn, request.id) is not None:
            raise Refused("the request already has its Task")
        if _refs([body.get("owner")]) != _refs(request.content.get("recipient")):
            raise Refused("the Task's owner is the request's recipient", status=422)
        return
    for name in ("focus", "for", "owner", "requester", "code", "authoredOn"):
        if current.get(name) != body.get(name):
            raise Refused(f"Task.{name} cannot change", status=422)
    before = state_of(current)
    if (before, after) == (before, before):
        return
    event = next(
        (e for e in EVENTS.values() if before in e.sources and e.target == after),
        None,
    )
    if event is None:
        raise Refused(
            f"illegal transition: a request that is {STATE_NAMES.get(before, before)} cannot become "
            f"{STATE_NAMES[after]}"
        )
    actors = (
        _refs([body.get("owner")]) if event.actor == "provider" else _refs([request.content.get("requester")])
    )
    if principal.org_code not in _actor_codes(conn, actors):
        who = "the provider's clinicians" if event.actor == "provider" else "the requesting practice"
        raise Refused(f"only {who} can {event.name} this request", status=422)
    if event.name == "convert":
        _check_conversion(conn, request)


def _check_conversion(conn: Connection, request: res.Stored) -> None:
    if flag(request.content, EXT_AUTHORISED) is not True:
        raise Refused(
            "conversion refused: the GP did not authorise converting this request to a referral "
            "(advise a referral instead)",
            status=422,
        )
    based = conn.execute(
        sa.select(search_index.c.resource_id).where(
            search_index.c.resource_type == "ServiceRequest",
            search_index.c.param == "based-on",
            search_index.c.value == f"CommunicationRequest/{request.id}",
        )
    ).first()
    if based is None:
        raise Refused("a conversion creates the referral (a ServiceRequest based on the request)", status=422)


def _check_based_on(
    conn: Connection, principal: Principal, current: dict[str, Any] | None, body: dict[str, Any]
) -> None:
    """Communications and ServiceRequests based on a request: only while it is open, and a referral
    based on it only by the provider's conversion, when authorised."""
    bases = _advice_bases(body, conn)
    if current is not None:
        if bases != _advice_bases(current, conn):
            raise Refused(f"{body.get('resourceType')}.basedOn cannot change", status=422)
        return
    for reference in bases:
        request = _request_of(conn, reference)
        task = task_of(conn, request.id)
        state = state_of(task.content) if task else ""
        if state in TERMINAL or not state:
            raise Refused(
                f"illegal transition: the request is {STATE_NAMES.get(state, 'without its Task')}; "
                "nothing more can be added to it"
            )
        parties = _refs([request.content.get("requester")]) + _refs(request.content.get("recipient"))
        if principal.org_code not in _actor_codes(conn, parties):
            raise Refused(
                "only the requesting practice and the provider take part in the conversation", status=422
            )
        if body.get("resourceType") == "ServiceRequest":
            if flag(request.content, EXT_AUTHORISED) is not True:
                raise Refused(
                    "conversion refused: the GP did not authorise converting this request to a referral "
                    "(advise a referral instead)",
                    status=422,
                )
            if principal.org_code not in _actor_codes(conn, _refs(request.content.get("recipient"))):
                raise Refused("only the provider converts a request to a referral", status=422)
            if state != AWAITING_PROVIDER:
                raise Refused(f"illegal transition: cannot convert a request that is {STATE_NAMES[state]}")


def _extend(name: str, *params: SearchParam) -> None:
    current = resource_type(name)
    if current is None:  # pragma: no cover - the care record registers these types
        raise RuntimeError(f"the care record does not register {name}")
    register(
        ResourceType(
            current.name,
            current.patient_paths,
            {**current.search, **{param.name: param for param in params}},
            current.read_only,
            current.documentation,
        )
    )


@functools.cache
def install() -> None:
    """Register the types, search parameters, relationship provider and write rules (once)."""
    _extend("CommunicationRequest", SearchParam("category", "token", ("category",)))
    _extend(
        "Task",
        SearchParam("code", "token", ("code",)),
        SearchParam("business-status", "token", ("businessStatus",)),
        SearchParam("requester", "reference", ("requester.reference",)),
    )
    _extend("ServiceRequest", SearchParam("based-on", "reference", ("basedOn.reference",)))
    if resource_type("DocumentReference") is None:
        register(
            ResourceType(
                "DocumentReference",
                ("subject.reference",),
                {
                    "_id": SearchParam("_id", "token", ("id",)),
                    "patient": SearchParam("patient", "reference", ("subject.reference",), target="Patient"),
                    "status": SearchParam("status", "token", ("status",)),
                },
                documentation="Attachments to advice and guidance requests.",
            )
        )
    # The recipient's relationship is the care record's own advice-and-guidance provider; the
    # requesting GP (who may be a locum at another practice) has one too, for the life of the request.
    register_relationship_provider(
        IndexedRelationship("advice-and-guidance-requester", "CommunicationRequest", "requester")
    )
    register_write_rule("CommunicationRequest", _check_request)
    register_write_rule("Task", _check_task)
    register_write_rule("Communication", _check_based_on)
    register_write_rule("ServiceRequest", _check_based_on)
