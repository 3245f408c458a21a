"""The care record service: every read, search, write, operation and page goes through one of these
methods, each of which, in one transaction, gathers the facts, calls ``policy.decide`` and writes the
audit (one AuditEvent per patient in the result) before anything is returned. A refused access rolls
back whatever the transaction did and is then audited on its own, so a denial is always recorded.

Boundaries: no HTTP here (the API and the pages translate); errors are ``CareRecordError`` with the
status to answer with, and never quote a patient-level value.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from caremodels.care_record import resources as res
from caremodels.care_record.audit import AuditRecord, raise_alert, write_audit
from caremodels.care_record.policy import (
    Access,
    Decision,
    Interaction,
    Principal,
    decide,
    gather,
    load_agreements,
)
from caremodels.care_record.registry import NHS_NUMBER_SYSTEM, ResourceType, resource_type
from caremodels.care_record.resources import CareRecordError
from caremodels.care_record.store import Store, alerts, audit_events, break_glass, search_index, self_claims

__all__ = ["AccessDenied", "CareRecord", "NotFound", "RuleRefused", "WriteRule", "register_write_rule"]

T = TypeVar("T")
MAX_BREAK_GLASS_MINUTES = 240
MAX_CANDIDATES = 5000
PURPOSE_OF_USE_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-ActReason"


class AccessDenied(CareRecordError):
    status = 403
    code = "forbidden"


class NotFound(CareRecordError):
    status = 404
    code = "not-found"


class RuleRefused(CareRecordError):
    """A write the policy allowed but a service's rule refuses (an illegal workflow transition)."""

    status = 409
    code = "business-rule"


# A service's rule for writes of one resource type: given the transaction, the user, the current
# content (None on create) and the new content, it raises RuleRefused to refuse. Registered by the
# services above this package (advice and guidance), so that the generic FHIR routes cannot bypass a
# workflow's state machine.
WriteRule = Callable[[Connection, Principal, dict[str, Any] | None, dict[str, Any]], None]
_WRITE_RULES: dict[str, list[WriteRule]] = {}


def register_write_rule(type_name: str, rule: WriteRule) -> None:
    _WRITE_RULES.setdefault(type_name, []).append(rule)


@dataclass
class _Refusal(Exception):
    principal: Principal
    record: AuditRecord
    decision: Decision
    patient_ids: list[str | None]
    error: CareRecordError | None = None


def _bundle(
    kind: str,
    entries: list[dict[str, Any]],
    total: int | None = None,
    links: list[dict[str, str]] | None = None,
) -> dict[str, Any]:
    bundle: dict[str, Any] = {"resourceType": "Bundle", "id": str(uuid.uuid4()), "type": kind}
    if total is not None:
        bundle["total"] = total
    if links:
        bundle["link"] = links
    bundle["entry"] = entries
    return bundle


class CareRecord:
    def __init__(
        self, store: Store, *, clock: Callable[[], dt.datetime] | None = None, base_url: str = ""
    ) -> None:
        self.store = store
        self.clock = clock or (lambda: dt.datetime.now(dt.UTC))
        self.base_url = base_url

    # -- the frame every access runs in -------------------------------------------------------------
    def _now(self) -> str:
        return res.now_text(self.clock())

    def _run(self, body: Callable[[Connection, str], T]) -> T:
        moment = self._now()
        try:
            with self.store.begin() as conn:
                return body(conn, moment)
        except _Refusal as refusal:
            with self.store.begin() as conn:
                write_audit(
                    conn,
                    principal=refusal.principal,
                    record=refusal.record,
                    decision=refusal.decision,
                    patient_ids=refusal.patient_ids,
                    recorded=moment,
                )
            raise (refusal.error or AccessDenied(refusal.decision.reason)) from None

    @staticmethod
    def _check_rules(
        conn: Connection,
        principal: Principal,
        record: AuditRecord,
        patient_id: str | None,
        current: dict[str, Any] | None,
        body: dict[str, Any],
    ) -> None:
        """The services' rules for this type; a refusal is audited as a failed access and rolled back."""
        for rule in _WRITE_RULES.get(record.resource_type, ()):
            try:
                rule(conn, principal, current, body)
            except RuleRefused as refused:
                raise _Refusal(
                    principal, record, Decision(False, str(refused)), [patient_id], error=refused
                ) from None

    def access(self, body: Callable[[Connection, str], T]) -> T:
        """Run one access by a service built on the care record (the radiology record's gateway) in the
        frame every access here runs in: one transaction, and a refusal audited on its own."""
        return self._run(body)

    @staticmethod
    def refuse(
        principal: Principal, record: AuditRecord, decision: Decision, patient_ids: Sequence[str | None]
    ) -> NoReturn:
        """Refuse the access being run by ``access``: it is rolled back, then the refusal is audited."""
        raise _Refusal(principal, record, decision, list(patient_ids))

    def _decide(
        self,
        conn: Connection,
        principal: Principal,
        interaction: Interaction,
        type_name: str,
        patient_id: str | None,
        moment: str,
        record: AuditRecord,
    ) -> Decision:
        facts = gather(conn, principal, [patient_id], moment).get(patient_id) if patient_id else None
        decision = decide(
            Access(principal, interaction, type_name, facts, load_agreements(conn, moment[:10]))
        )
        if not decision.allowed:
            raise _Refusal(principal, record, decision, [patient_id])
        return decision

    @staticmethod
    def _type(name: str, *, writing: bool = False) -> ResourceType:
        rt = resource_type(name)
        if rt is None:
            raise NotFound(f"resource type {name} is not served here (see /fhir/metadata)")
        if writing and rt.read_only:
            raise CareRecordError(f"{name} is read-only", status=405, code="not-supported")
        return rt

    # -- read, vread ---------------------------------------------------------------------------------
    def read(
        self, principal: Principal, type_name: str, resource_id: str, version: int | None = None
    ) -> dict[str, Any]:
        rt = self._type(type_name)
        if rt.name == "AuditEvent":
            return self._read_audit(principal, resource_id)
        record = AuditRecord("read" if version is None else "vread", rt.name, resource_id)

        def body(conn: Connection, moment: str) -> dict[str, Any]:
            stored = res.read_resource(conn, rt.name, resource_id, version)
            if stored is None:
                write_audit(
                    conn,
                    principal=principal,
                    record=record,
                    decision=Decision(False, "not found"),
                    patient_ids=[],
                    recorded=moment,
                )
                return {}
            decision = self._decide(conn, principal, "read", rt.name, stored.patient_id, moment, record)
            write_audit(
                conn,
                principal=principal,
                record=record,
                decision=decision,
                patient_ids=[stored.patient_id],
                recorded=moment,
            )
            return stored.content

        found = self._run(body)
        if not found:
            raise NotFound(
                f"{rt.name}/{resource_id}{'' if version is None else f'/_history/{version}'} is not known"
            )
        return found

    # -- search --------------------------------------------------------------------------------------
    def search(
        self, principal: Principal, type_name: str, items: Sequence[tuple[str, str]]
    ) -> dict[str, Any]:
        rt = self._type(type_name)
        if rt.name == "AuditEvent":
            return self._search_audit(principal, items)
        query = "&".join(f"{name}={value}" for name, value in items)
        record = AuditRecord("search-type", rt.name, query=query)
        try:
            criteria = res.parse_search(rt, items)
        except res.CrossPatientProbe as probe:
            reason = str(probe)
            self._run(lambda _conn, _moment: self._refuse(principal, record, reason))
            raise AssertionError("unreachable") from None  # pragma: no cover

        def body(conn: Connection, moment: str) -> dict[str, Any]:
            if rt.in_patient_record:
                # The user must be allowed to search this type at all before anything is matched.
                base = decide(Access(principal, "search", rt.name, None, ()))
                role_check = required_role_check(base)
                if role_check is not None:
                    raise _Refusal(principal, record, role_check, [None])
                found = res.matching(conn, rt, criteria)
                if len(found) > MAX_CANDIDATES:
                    # Each match is decided on its own patient's facts before paging; a search that
                    # broad is refused (FHIR too-costly) rather than left to run for seconds.
                    raise CareRecordError(
                        f"the search matches more than {MAX_CANDIDATES:,} {rt.name} resources: add criteria "
                        "(for example patient=, identifier= or a date)",
                        code="too-costly",
                    )
                facts = gather(conn, principal, [p for _, p in found if p], moment)
                agreements = load_agreements(conn, moment[:10])
                decided = {
                    pid: decide(Access(principal, "search", rt.name, fact, agreements))
                    for pid, fact in facts.items()
                }
                decisions = {pid: decision for pid, decision in decided.items() if decision.allowed}
                visible: list[tuple[str, str | None]] = [(rid, pid) for rid, pid in found if pid in decisions]
            else:
                decision = self._decide(conn, principal, "search", rt.name, None, moment, record)
                visible = res.matching(conn, rt, criteria)
                decisions = {}
            page = visible[criteria.offset : criteria.offset + criteria.count]
            entries = [
                {
                    "fullUrl": f"{self.base_url}/fhir/{rt.name}/{item['id']}",
                    "resource": item,
                    "search": {"mode": "match"},
                }
                for item in res.contents(conn, rt.name, [rid for rid, _ in page])
            ]
            patients = list(dict.fromkeys(pid for _, pid in page if pid))
            if rt.in_patient_record:
                for pid in patients:
                    write_audit(
                        conn,
                        principal=principal,
                        record=record,
                        decision=decisions[pid],
                        patient_ids=[pid],
                        recorded=moment,
                    )
                if not patients:
                    write_audit(
                        conn,
                        principal=principal,
                        record=record,
                        decision=Decision(True, "no match", basis="role"),
                        patient_ids=[],
                        recorded=moment,
                    )
            else:
                write_audit(
                    conn,
                    principal=principal,
                    record=record,
                    decision=decision,
                    patient_ids=[],
                    recorded=moment,
                )
            links = [{"relation": "self", "url": f"{self.base_url}/fhir/{rt.name}?{criteria.query}"}]
            if criteria.offset + criteria.count < len(visible):
                following = [(n, v) for n, v in items if n != "_offset"] + [
                    ("_offset", str(criteria.offset + criteria.count))
                ]
                from urllib.parse import urlencode

                links.append(
                    {"relation": "next", "url": f"{self.base_url}/fhir/{rt.name}?{urlencode(following)}"}
                )
            return _bundle("searchset", entries, total=len(visible), links=links)

        return self._run(body)

    def _refuse(self, principal: Principal, record: AuditRecord, reason: str) -> None:
        raise _Refusal(principal, record, Decision(False, reason), [None])

    # -- create, update ------------------------------------------------------------------------------
    def create(self, principal: Principal, type_name: str, body_in: Any) -> dict[str, Any]:
        rt = self._type(type_name, writing=True)
        return self._run(lambda conn, moment: self._create(conn, moment, principal, rt, body_in, None))

    def _create(
        self,
        conn: Connection,
        moment: str,
        principal: Principal,
        rt: ResourceType,
        body_in: Any,
        wanted_id: str | None,
    ) -> dict[str, Any]:
        body = res.validate(rt, body_in)
        resource_id = wanted_id or res.new_id()
        body = {**body, "id": resource_id}
        patient_id = res.patient_of(rt, body)
        record = AuditRecord("create", rt.name, resource_id)
        if rt.name == "Patient":
            decision = self._decide(conn, principal, "create", rt.name, None, moment, record)
            self._refuse_duplicate_nhs_number(conn, body, resource_id)
        else:
            if patient_id is not None and res.read_resource(conn, "Patient", patient_id) is None:
                raise res.Invalid(f"{rt.name} refers to a Patient that is not in the record")
            decision = self._decide(conn, principal, "create", rt.name, patient_id, moment, record)
            self._check_rules(conn, principal, record, patient_id, None, body)
        stored = res.write_resource(
            conn,
            rt,
            body,
            resource_id=resource_id,
            patient_id=patient_id,
            moment=moment,
            expected_version=None,
        )
        write_audit(
            conn,
            principal=principal,
            record=record,
            decision=decision,
            patient_ids=[patient_id],
            recorded=moment,
        )
        return stored.content

    @staticmethod
    def _refuse_duplicate_nhs_number(conn: Connection, body: dict[str, Any], resource_id: str) -> None:
        numbers = [
            f"{NHS_NUMBER_SYSTEM}|{identifier.get('value')}"
            for identifier in body.get("identifier") or []
            if isinstance(identifier, dict) and identifier.get("system") == NHS_NUMBER_SYSTEM
        ]
        if not numbers:
            return
        clash = conn.execute(
            sa.select(search_index.c.resource_id).where(
                search_index.c.resource_type == "Patient",
                search_index.c.param == "identifier",
                search_index.c.value.in_(numbers),
                search_index.c.resource_id != resource_id,
            )
        ).first()
        if clash is not None:
            raise CareRecordError(
                "a patient with this NHS number is already in the record", status=409, code="duplicate"
            )

    def update(
        self, principal: Principal, type_name: str, resource_id: str, body_in: Any, if_match: str | None
    ) -> dict[str, Any]:
        rt = self._type(type_name, writing=True)
        res.check_id(resource_id)
        return self._run(
            lambda conn, moment: self._update(conn, moment, principal, rt, resource_id, body_in, if_match)
        )

    def _update(
        self,
        conn: Connection,
        moment: str,
        principal: Principal,
        rt: ResourceType,
        resource_id: str,
        body_in: Any,
        if_match: str | None,
    ) -> dict[str, Any]:
        body = res.validate(rt, body_in)
        if body.get("id") not in (None, resource_id):
            raise CareRecordError("the resource's id must be the id in the URL")
        body = {**body, "id": resource_id}
        record = AuditRecord("update", rt.name, resource_id)
        current = res.read_resource(conn, rt.name, resource_id)
        if current is None:
            raise NotFound(f"{rt.name}/{resource_id} is not known: create it with POST")
        decision = self._decide(conn, principal, "update", rt.name, current.patient_id, moment, record)
        if if_match is not None:
            wanted = if_match.strip().removeprefix("W/").strip('"')
            if wanted != str(current.version_id):
                raise CareRecordError(
                    f"If-Match names version {wanted[:20]} but the current version is {current.version_id}",
                    status=412,
                    code="conflict",
                )
        patient_id = res.patient_of(rt, body)
        if rt.name == "Patient":
            self._refuse_duplicate_nhs_number(conn, body, resource_id)
        if patient_id != current.patient_id:
            raise res.Invalid(f"an update cannot move {rt.name} to another patient's record")
        self._check_rules(conn, principal, record, patient_id, current.content, body)
        stored = res.write_resource(
            conn,
            rt,
            body,
            resource_id=resource_id,
            patient_id=patient_id,
            moment=moment,
            expected_version=current.version_id,
        )
        write_audit(
            conn,
            principal=principal,
            record=record,
            decision=decision,
            patient_ids=[patient_id],
            recorded=moment,
        )
        return stored.content

    # -- Patient/$everything -------------------------------------------------------------------------
    def everything(self, principal: Principal, patient_id: str) -> dict[str, Any]:
        record = AuditRecord("operation", "Patient", patient_id, description="$everything")

        def body(conn: Connection, moment: str) -> dict[str, Any]:
            patient = res.read_resource(conn, "Patient", patient_id)
            if patient is None:
                raise NotFound(f"Patient/{patient_id} is not known")
            decision = self._decide(conn, principal, "everything", "Patient", patient_id, moment, record)
            from caremodels.care_record.store import resources as table

            rows = conn.execute(
                sa.select(table.c.resource_type, table.c.id)
                .where(table.c.patient_id == patient_id)
                .order_by(table.c.resource_type, table.c.last_updated.desc(), table.c.id)
            ).all()
            entries = []
            by_type: dict[str, list[str]] = {}
            for row in rows:
                by_type.setdefault(row.resource_type, []).append(row.id)
            for name in sorted(by_type, key=lambda n: (n != "Patient", n)):
                for item in res.contents(conn, name, by_type[name]):
                    entries.append(
                        {
                            "fullUrl": f"{self.base_url}/fhir/{name}/{item['id']}",
                            "resource": item,
                            "search": {"mode": "match"},
                        }
                    )
            write_audit(
                conn,
                principal=principal,
                record=record,
                decision=decision,
                patient_ids=[patient_id],
                recorded=moment,
            )
            bundle = _bundle("searchset", entries, total=len(entries))
            # The purpose of use the access was granted for (TREAT, or ETREAT after break-glass), as a
            # security label, so that a client (the patient page) can say the access is an emergency one.
            bundle["meta"] = {"security": [{"system": PURPOSE_OF_USE_SYSTEM, "code": decision.purpose}]}
            return bundle

        return self._run(body)

    # -- transaction Bundles -------------------------------------------------------------------------
    def transaction(self, principal: Principal, bundle: Any) -> dict[str, Any]:
        if (
            not isinstance(bundle, dict)
            or bundle.get("resourceType") != "Bundle"
            or bundle.get("type") != "transaction"
        ):
            raise CareRecordError("POST /fhir takes a Bundle of type transaction")
        entries = bundle.get("entry") or []
        if not isinstance(entries, list):
            raise CareRecordError("Bundle.entry must be a list")
        plans: list[tuple[str, str, str | None, dict[str, Any], str | None]] = []
        assigned: dict[str, str] = {}
        for position, entry in enumerate(entries):
            request = entry.get("request") if isinstance(entry, dict) else None
            resource = entry.get("resource") if isinstance(entry, dict) else None
            if not isinstance(request, dict) or not isinstance(resource, dict):
                raise CareRecordError(f"entry[{position}]: needs request and resource")
            method, url = str(request.get("method", "")).upper(), str(request.get("url", ""))
            name = str(resource.get("resourceType", ""))
            if method == "POST":
                new = res.new_id()
                if isinstance(entry.get("fullUrl"), str):
                    assigned[entry["fullUrl"]] = f"{name}/{new}"
                plans.append(("POST", name, new, resource, None))
            elif method == "PUT":
                type_part, _, id_part = url.partition("/")
                if type_part != name or not id_part:
                    raise CareRecordError(f"entry[{position}]: PUT url must be {name}/<id>")
                plans.append(("PUT", name, id_part, resource, request.get("ifMatch")))
            else:
                raise CareRecordError(
                    f"entry[{position}]: only POST and PUT are supported in a transaction",
                    code="not-supported",
                )

        def rewrite(value: Any) -> Any:
            if isinstance(value, dict):
                return {
                    k: (assigned.get(v, v) if k == "reference" and isinstance(v, str) else rewrite(v))
                    for k, v in value.items()
                }
            if isinstance(value, list):
                return [rewrite(item) for item in value]
            return value

        def body(conn: Connection, moment: str) -> dict[str, Any]:
            responses = []
            for method, name, resource_id, resource, if_match in plans:
                rt = self._type(name, writing=True)
                content = rewrite(resource)
                if method == "POST":
                    stored = self._create(conn, moment, principal, rt, content, resource_id)
                    status = "201 Created"
                else:
                    assert resource_id is not None
                    stored = self._update(conn, moment, principal, rt, resource_id, content, if_match)
                    status = "200 OK"
                responses.append(
                    {
                        "response": {
                            "status": status,
                            "location": f"{name}/{stored['id']}/_history/{stored['meta']['versionId']}",
                            "etag": f'W/"{stored["meta"]["versionId"]}"',
                            "lastModified": stored["meta"]["lastUpdated"],
                        }
                    }
                )
            return _bundle("transaction-response", responses)

        return self._run(body)

    # -- break-glass and self-claimed relationships --------------------------------------------------
    def break_glass(self, principal: Principal, patient_id: str, reason: str, minutes: int) -> dict[str, Any]:
        reason = reason.strip()
        if len(reason) < 10:
            raise res.Invalid("break-glass needs a stated reason (at least ten characters)")
        if not 1 <= minutes <= MAX_BREAK_GLASS_MINUTES:
            raise res.Invalid(f"break-glass lasts 1 to {MAX_BREAK_GLASS_MINUTES} minutes")
        record = AuditRecord("operation", "Patient", patient_id, description="break-glass")

        def body(conn: Connection, moment: str) -> dict[str, Any]:
            if res.read_resource(conn, "Patient", patient_id) is None:
                raise NotFound(f"Patient/{patient_id} is not known")
            decision = self._decide(conn, principal, "break-glass", "Patient", patient_id, moment, record)
            started = self.clock()
            expires = res.now_text(started + dt.timedelta(minutes=minutes))
            session_id = str(uuid.uuid4())
            conn.execute(
                break_glass.insert().values(
                    id=session_id,
                    user_id=principal.user_id,
                    patient_id=patient_id,
                    reason=reason,
                    started=moment,
                    expires=expires,
                )
            )
            alerted = Decision(True, "break-glass invoked", basis="break-glass", alert=True, purpose="ETREAT")
            seq = write_audit(
                conn,
                principal=principal,
                record=record,
                decision=alerted,
                patient_ids=[patient_id],
                recorded=moment,
            )
            raise_alert(
                conn,
                kind="break-glass",
                principal=principal,
                patient_id=patient_id,
                reason=reason,
                raised=moment,
                audit_seq=seq[0],
            )
            del decision
            return {"id": session_id, "expires": expires}

        return self._run(body)

    def claim_relationship(self, principal: Principal, patient_id: str, reason: str) -> None:
        reason = reason.strip()
        if len(reason) < 10:
            raise res.Invalid("a self-claimed relationship needs a stated reason (at least ten characters)")
        record = AuditRecord("operation", "Patient", patient_id, description="claim-relationship")

        def body(conn: Connection, moment: str) -> None:
            if res.read_resource(conn, "Patient", patient_id) is None:
                raise NotFound(f"Patient/{patient_id} is not known")
            self._decide(conn, principal, "claim-relationship", "Patient", patient_id, moment, record)
            conn.execute(
                self_claims.insert().values(
                    id=str(uuid.uuid4()),
                    user_id=principal.user_id,
                    patient_id=patient_id,
                    reason=reason,
                    claimed=moment,
                )
            )
            alerted = Decision(True, "self-claimed relationship", basis="self-claimed", alert=True)
            seq = write_audit(
                conn,
                principal=principal,
                record=record,
                decision=alerted,
                patient_ids=[patient_id],
                recorded=moment,
            )
            raise_alert(
                conn,
                kind="self-claimed",
                principal=principal,
                patient_id=patient_id,
                reason=reason,
                raised=moment,
                audit_seq=seq[0],
            )

        self._run(body)

    # -- the privacy officer's views ------------------------------------------------------------------
    def _search_audit(self, principal: Principal, items: Sequence[tuple[str, str]]) -> dict[str, Any]:
        names = {name for name, _ in items} - {"_count", "_offset"}
        query = "&".join(f"{name}={value}" for name, value in items)
        record = AuditRecord("search-type", "AuditEvent", query=query)
        if names - {"patient"}:
            raise CareRecordError(
                "AuditEvent is searched by patient only (AuditEvent?patient=Patient/ID)", code="not-supported"
            )
        patients = [value.removeprefix("Patient/") for name, value in items if name == "patient"]
        count = min(
            int(dict(items).get("_count", "50")) if dict(items).get("_count", "50").isdigit() else 50,
            res.MAX_COUNT,
        )

        def body(conn: Connection, moment: str) -> dict[str, Any]:
            decision = self._decide(conn, principal, "search", "AuditEvent", None, moment, record)
            query_rows = sa.select(audit_events.c.content).order_by(audit_events.c.seq.desc()).limit(count)
            if patients:
                query_rows = query_rows.where(audit_events.c.patient_id.in_(patients))
            total_query = sa.select(sa.func.count()).select_from(audit_events)
            if patients:
                total_query = total_query.where(audit_events.c.patient_id.in_(patients))
            total = int(conn.execute(total_query).scalar() or 0)
            entries = [
                {"resource": json.loads(row.content), "search": {"mode": "match"}}
                for row in conn.execute(query_rows)
            ]
            write_audit(
                conn,
                principal=principal,
                record=record,
                decision=decision,
                patient_ids=patients,
                recorded=moment,
            )
            return _bundle("searchset", entries, total=total)

        return self._run(body)

    def _read_audit(self, principal: Principal, event_id: str) -> dict[str, Any]:
        record = AuditRecord("read", "AuditEvent", event_id)

        def body(conn: Connection, moment: str) -> dict[str, Any]:
            decision = self._decide(conn, principal, "read", "AuditEvent", None, moment, record)
            row = conn.execute(
                sa.select(audit_events.c.content, audit_events.c.patient_id).where(
                    audit_events.c.id == event_id
                )
            ).first()
            write_audit(
                conn,
                principal=principal,
                record=record,
                decision=decision,
                patient_ids=[row.patient_id] if row else [],
                recorded=moment,
            )
            return json.loads(row.content) if row else {}

        found = self._run(body)
        if not found:
            raise NotFound(f"AuditEvent/{event_id} is not known")
        return found

    def alerts(self, principal: Principal) -> list[dict[str, Any]]:
        """The privacy officer's alert list (break-glass and self-claimed relationships), newest first."""
        record = AuditRecord("search-type", "AuditEvent", query="alerts")

        def body(conn: Connection, moment: str) -> list[dict[str, Any]]:
            decision = self._decide(conn, principal, "search", "AuditEvent", None, moment, record)
            rows = [
                dict(row._mapping)
                for row in conn.execute(sa.select(alerts).order_by(alerts.c.raised.desc()).limit(200))
            ]
            write_audit(
                conn, principal=principal, record=record, decision=decision, patient_ids=[], recorded=moment
            )
            return rows

        return self._run(body)

    def accesses(
        self, principal: Principal, patient_id: str | None = None, limit: int = 200
    ) -> list[dict[str, Any]]:
        """Who saw which patient, when: the audit rows, newest first (privacy officers only)."""
        record = AuditRecord(
            "search-type", "AuditEvent", query=f"patient={patient_id}" if patient_id else "accesses"
        )

        def body(conn: Connection, moment: str) -> list[dict[str, Any]]:
            decision = self._decide(conn, principal, "search", "AuditEvent", None, moment, record)
            query = (
                sa.select(
                    audit_events.c.seq,
                    audit_events.c.recorded,
                    audit_events.c.user_id,
                    audit_events.c.patient_id,
                    audit_events.c.action,
                    audit_events.c.outcome,
                    audit_events.c.content,
                )
                .order_by(audit_events.c.seq.desc())
                .limit(limit)
            )
            if patient_id:
                query = query.where(audit_events.c.patient_id == patient_id)
            else:
                query = query.where(audit_events.c.patient_id.is_not(None))
            rows = []
            for row in conn.execute(query):
                event = json.loads(row.content)
                rows.append(
                    {
                        **{k: v for k, v in row._mapping.items() if k != "content"},
                        "reason": event.get("outcomeDesc", ""),
                    }
                )
            write_audit(
                conn,
                principal=principal,
                record=record,
                decision=decision,
                patient_ids=[patient_id] if patient_id else [],
                recorded=moment,
            )
            return rows

        return self._run(body)


def required_role_check(decision: Decision) -> Decision | None:
    """The refusal when the role alone cannot do this (no patient facts needed to say no)."""
    return None if decision.allowed else decision
