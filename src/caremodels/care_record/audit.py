"""The one audit writer: IHE Basic Audit Log Patterns (BALP) AuditEvents, one per patient in the result
of each access, written in the transaction of the access itself (if the audit cannot be written the
access fails with it), and hash-chained so that a changed or removed row is found by ``verify``.

Each row's hash is SHA-256 over the previous row's hash and the row's canonical JSON (sequence number,
id, time, user, patient, action, outcome, AuditEvent). The chain head (last sequence and hash) is kept
in ``audit_chain`` and locked by every writer, so the chain never forks and removing the newest rows is
found too.

Boundaries: writes only ``audit_events``, ``audit_chain`` and ``alerts``; the AuditEvent names the
patient by resource id (never by NHS number) and the query by its parameters as the user sent them.
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from caremodels.care_record.policy import ROLES, Decision, Principal
from caremodels.care_record.registry import SDS_USER_SYSTEM
from caremodels.care_record.store import alerts, audit_chain, audit_events

__all__ = ["AuditRecord", "VerifyResult", "raise_alert", "verify", "write_audit"]

_GENESIS = "0" * 64
BALP = "https://profiles.ihe.net/ITI/BALP/StructureDefinition/"
_PROFILES = {
    ("read", True): "IHE.BasicAudit.PatientRead",
    ("read", False): "IHE.BasicAudit.Read",
    ("vread", True): "IHE.BasicAudit.PatientRead",
    ("vread", False): "IHE.BasicAudit.Read",
    ("search-type", True): "IHE.BasicAudit.PatientQuery",
    ("search-type", False): "IHE.BasicAudit.Query",
    ("operation", True): "IHE.BasicAudit.PatientQuery",
    ("operation", False): "IHE.BasicAudit.Query",
    ("create", True): "IHE.BasicAudit.PatientCreate",
    ("create", False): "IHE.BasicAudit.Create",
    ("update", True): "IHE.BasicAudit.PatientUpdate",
    ("update", False): "IHE.BasicAudit.Update",
}
_ACTIONS = {"read": "R", "vread": "R", "search-type": "E", "operation": "E", "create": "C", "update": "U"}
SERVICE_NAME = "caremodels care record"


@dataclass(frozen=True)
class AuditRecord:
    """What one access was: the interaction (FHIR restful-interaction code), what it touched, and why."""

    interaction: str
    resource_type: str
    resource_id: str | None = None
    query: str | None = None
    description: str = ""


def _hash(previous: str, row: dict[str, Any]) -> str:
    canonical = json.dumps(
        [
            row["seq"],
            row["id"],
            row["recorded"],
            row["user_id"],
            row["patient_id"],
            row["action"],
            row["outcome"],
            row["content"],
        ],
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256((previous + canonical).encode("utf-8")).hexdigest()


def _coding(system: str, code: str, display: str | None = None) -> dict[str, str]:
    coding = {"system": system, "code": code}
    if display:
        coding["display"] = display
    return coding


def audit_event(
    event_id: str,
    recorded: str,
    principal: Principal | None,
    record: AuditRecord,
    decision: Decision,
    patient_id: str | None,
) -> dict[str, Any]:
    """One BALP-shaped AuditEvent (FHIR R4)."""
    outcome = "0" if decision.allowed else "4"
    agents: list[dict[str, Any]] = [
        {
            "type": {
                "coding": [
                    _coding("http://dicom.nema.org/resources/ontology/DCM", "110152", "Destination Role ID")
                ]
            },
            "who": {"display": SERVICE_NAME},
            "requestor": False,
        }
    ]
    if principal is not None:
        role = ROLES.get(principal.role_code)
        agents.append(
            {
                "type": {
                    "coding": [
                        _coding(
                            "http://terminology.hl7.org/CodeSystem/extra-security-role-type",
                            "humanuser",
                            "human user",
                        )
                    ]
                },
                "who": {
                    "identifier": {"system": SDS_USER_SYSTEM, "value": principal.sds_user_id},
                    "display": principal.name,
                },
                "requestor": True,
                "role": [
                    {
                        "coding": [
                            _coding(
                                "https://fhir.nhs.uk/CodeSystem/NHSDigital-SDS-JobRoleCode",
                                principal.role_code,
                                role.name if role else None,
                            )
                        ]
                    }
                ],
                "purposeOfUse": [
                    {
                        "coding": [
                            _coding("http://terminology.hl7.org/CodeSystem/v3-ActReason", decision.purpose)
                        ]
                    }
                ],
                "extension": [
                    {
                        "url": "https://caremodels.example/StructureDefinition/user-organisation",
                        "valueIdentifier": {
                            "system": "https://fhir.nhs.uk/Id/ods-organization-code",
                            "value": principal.org_code,
                        },
                    }
                ],
            }
        )
    entities: list[dict[str, Any]] = []
    if patient_id is not None:
        entities.append(
            {
                "what": {"reference": f"Patient/{patient_id}"},
                "type": _coding("http://terminology.hl7.org/CodeSystem/audit-entity-type", "1", "Person"),
                "role": _coding("http://terminology.hl7.org/CodeSystem/object-role", "1", "Patient"),
            }
        )
    if record.query is not None:
        entities.append(
            {
                "type": _coding(
                    "http://terminology.hl7.org/CodeSystem/audit-entity-type", "2", "System Object"
                ),
                "role": _coding("http://terminology.hl7.org/CodeSystem/object-role", "24", "Query"),
                "query": base64.b64encode(f"{record.resource_type}?{record.query}".encode()).decode("ascii"),
            }
        )
    elif record.resource_id is not None:
        entities.append(
            {
                "what": {"reference": f"{record.resource_type}/{record.resource_id}"},
                "type": _coding(
                    "http://terminology.hl7.org/CodeSystem/audit-entity-type", "2", "System Object"
                ),
                "role": _coding("http://terminology.hl7.org/CodeSystem/object-role", "4", "Domain Resource"),
            }
        )
    profile = _PROFILES.get((record.interaction, patient_id is not None), "IHE.BasicAudit.Read")
    event: dict[str, Any] = {
        "resourceType": "AuditEvent",
        "id": event_id,
        "meta": {"profile": [BALP + profile]},
        "type": _coding(
            "http://terminology.hl7.org/CodeSystem/audit-event-type", "rest", "Restful Operation"
        ),
        "subtype": [_coding("http://hl7.org/fhir/restful-interaction", record.interaction)],
        "action": _ACTIONS.get(record.interaction, "E"),
        "recorded": recorded,
        "outcome": outcome,
        "outcomeDesc": decision.reason if not decision.allowed else (decision.basis or decision.reason),
        "agent": agents,
        "source": {
            "observer": {"display": SERVICE_NAME},
            "type": [
                _coding(
                    "http://terminology.hl7.org/CodeSystem/security-source-type", "4", "Application Server"
                )
            ],
        },
    }
    if entities:
        event["entity"] = entities
    return event


# Built once: every access runs these three, and building a statement costs more than running it.
# The head is locked (FOR UPDATE on PostgreSQL; SQLite's transactions here begin IMMEDIATE, one writer
# at a time across processes), so concurrent writers, in one server process or several, append in turn.
_LOCK_HEAD = sa.select(audit_chain.c.seq, audit_chain.c.hash).where(audit_chain.c.id == 1).with_for_update()
_INSERT = audit_events.insert()
_ADVANCE = (
    audit_chain.update()
    .where(audit_chain.c.id == 1)
    .values(seq=sa.bindparam("new_seq"), hash=sa.bindparam("new_hash"))
)


def write_audit(
    conn: Connection,
    *,
    principal: Principal | None,
    record: AuditRecord,
    decision: Decision,
    patient_ids: Sequence[str | None],
    recorded: str,
) -> list[int]:
    """Append one AuditEvent per patient (one with no patient when none is involved); their sequence numbers."""
    head = conn.execute(_LOCK_HEAD).one()
    seq, previous = int(head.seq), str(head.hash)
    rows: list[dict[str, Any]] = []
    for patient_id in list(dict.fromkeys(patient_ids)) or [None]:
        seq += 1
        event_id = str(uuid.uuid4())
        content = json.dumps(
            audit_event(event_id, recorded, principal, record, decision, patient_id),
            separators=(",", ":"),
            ensure_ascii=False,
        )
        row: dict[str, Any] = {
            "seq": seq,
            "id": event_id,
            "recorded": recorded,
            "user_id": principal.user_id if principal else None,
            "patient_id": patient_id,
            "action": record.interaction,
            "outcome": "0" if decision.allowed else "4",
            "content": content,
            "previous_hash": previous,
        }
        row["hash"] = _hash(previous, row)
        previous = row["hash"]
        rows.append(row)
    conn.execute(_INSERT, rows if len(rows) > 1 else rows[0])
    conn.execute(_ADVANCE, {"new_seq": seq, "new_hash": previous})
    return [int(row["seq"]) for row in rows]


def raise_alert(
    conn: Connection,
    *,
    kind: str,
    principal: Principal,
    patient_id: str,
    reason: str,
    raised: str,
    audit_seq: int | None,
) -> str:
    alert_id = str(uuid.uuid4())
    conn.execute(
        alerts.insert().values(
            id=alert_id,
            kind=kind,
            raised=raised,
            user_id=principal.user_id,
            patient_id=patient_id,
            reason=reason,
            audit_seq=audit_seq,
        )
    )
    return alert_id


@dataclass(frozen=True)
class VerifyResult:
    checked: int
    broken_seq: int | None = None
    broken_id: str | None = None
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.broken_seq is None


def _rows(conn: Connection) -> Iterator[Any]:
    last = 0
    while True:
        batch = conn.execute(
            sa.select(audit_events).where(audit_events.c.seq > last).order_by(audit_events.c.seq).limit(5000)
        ).all()
        if not batch:
            return
        yield from batch
        last = batch[-1].seq


def verify(conn: Connection) -> VerifyResult:
    """Walk the chain from the first record; the first record changed, missing or out of place."""
    head = conn.execute(sa.select(audit_chain.c.seq, audit_chain.c.hash).where(audit_chain.c.id == 1)).one()
    expected_seq, previous, checked = 1, _GENESIS, 0
    for row in _rows(conn):
        values = dict(row._mapping)
        if values["seq"] != expected_seq:
            return VerifyResult(checked, expected_seq, None, f"audit record {expected_seq} is missing")
        if values["previous_hash"] != previous or _hash(previous, values) != values["hash"]:
            return VerifyResult(
                checked, values["seq"], values["id"], f"audit record {values['seq']} was changed"
            )
        previous = values["hash"]
        expected_seq += 1
        checked += 1
    if head.seq != checked or head.hash != previous:
        return VerifyResult(
            checked,
            checked + 1,
            None,
            f"audit record {checked + 1} is missing (the chain head is at {head.seq})",
        )
    return VerifyResult(checked)
