"""The one access policy of the care record: ``decide(access) -> Decision``, called by every FHIR route
and every page before anything is read or written, and never bypassed.

How the NHS decides, and so how this decides (docs/care-record.md has the table):

1. National RBAC: the user's selected role (an R-code) grants activities; the interaction needs one.
2. Outside patients' records (Organization, Practitioner, ...) the activity is enough. AuditEvent needs
   the audit activity (privacy officers and Caldicott guardians), and no relationship.
3. In a patient's record:
   - Consent: an active Consent with ``provision.type = deny`` is dissent from sharing. Only the
     patient's own GP practice (which holds the record) may then see it; break-glass does not override
     dissent. The National Data Opt-out is a secondary-use choice and does not apply here.
   - A direct care relationship recorded in the record (registration at the user's practice, an open
     referral, advice and guidance request, caseload or care-home residence, found by the relationship
     providers) gives access, sensitive records included.
   - Otherwise the user's organisation and the patient's practice must be members of one data-sharing
     agreement (data, in the store). In a ``consortium-wide`` agreement (as EMRAD) that is enough; in a
     ``legitimate-relationship`` agreement (as the Summary Care Record) the user needs a self-claimed
     relationship (which alerts the privacy officer) or break-glass.
   - A sensitive record (``meta.security`` R or V) is only opened by a direct relationship or break-glass.
   - Break-glass: a stated reason and a time limit; access is granted and the privacy officer alerted.

Boundaries: ``decide`` is a pure function of an ``Access``; ``gather`` reads the facts it needs from the
store (patients, organisations, consents, relationship providers, break-glass and claims) in batches.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from caremodels.care_record.registry import resource_type
from caremodels.care_record.store import (
    agreement_members,
    break_glass,
    current_versions,
    resource_versions,
    resources,
    search_index,
    self_claims,
    sharing_agreements,
)

__all__ = [
    "CONSORTIUM_WIDE",
    "LEGITIMATE_RELATIONSHIP",
    "ROLES",
    "Access",
    "Decision",
    "IndexedRelationship",
    "PatientFacts",
    "Principal",
    "RelationshipProvider",
    "Role",
    "SharingAgreement",
    "decide",
    "gather",
    "load_agreements",
    "register_relationship_provider",
    "relationship_providers",
    "required_activity",
]

CONSORTIUM_WIDE = "consortium-wide"
LEGITIMATE_RELATIONSHIP = "legitimate-relationship"
SHARING_MODES = (CONSORTIUM_WIDE, LEGITIMATE_RELATIONSHIP)
CONFIDENTIALITY_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"
SENSITIVE_CODES = frozenset({"R", "V"})  # restricted, very restricted
CARE_HOME_EPISODE = "care-home-residence"

Interaction = Literal["read", "search", "create", "update", "everything", "break-glass", "claim-relationship"]

# The product's activities. National RBAC names activities by B-code (B0825 Amend Patient Demographics
# and so on); these are the groups of them this service needs.
VIEW_DEMOGRAPHICS = "view-demographics"
AMEND_DEMOGRAPHICS = "amend-demographics"
VIEW_RECORD = "view-clinical-record"
RECORD_CARE = "record-clinical-care"
VIEW_DIRECTORY = "view-directory"
MANAGE_DIRECTORY = "manage-directory"
VIEW_AUDIT = "view-audit"
BREAK_GLASS = "break-glass"
CLAIM_RELATIONSHIP = "claim-relationship"

_CLINICAL = frozenset(
    {
        VIEW_DEMOGRAPHICS,
        AMEND_DEMOGRAPHICS,
        VIEW_RECORD,
        RECORD_CARE,
        VIEW_DIRECTORY,
        BREAK_GLASS,
        CLAIM_RELATIONSHIP,
    }
)


@dataclass(frozen=True)
class Role:
    code: str
    name: str
    activities: frozenset[str]


ROLES: dict[str, Role] = {
    role.code: role
    for role in (
        Role("R8000", "Clinical Practitioner Access Role", _CLINICAL),
        Role("R8001", "Nurse Access Role", _CLINICAL),
        Role("R8003", "Health Professional Access Role", _CLINICAL - {AMEND_DEMOGRAPHICS}),
        Role(
            "R8008",
            "Admin/Clinical Support Access Role",
            frozenset({VIEW_DEMOGRAPHICS, AMEND_DEMOGRAPHICS, VIEW_DIRECTORY, MANAGE_DIRECTORY}),
        ),
        Role("R8010", "Clerical Access Role", frozenset({VIEW_DEMOGRAPHICS, VIEW_DIRECTORY})),
        Role("R0001", "Privacy Officer", frozenset({VIEW_DIRECTORY, VIEW_AUDIT})),
        Role("R5105", "Caldicott Guardian", frozenset({VIEW_DIRECTORY, VIEW_AUDIT})),
    )
}


@dataclass(frozen=True)
class Principal:
    """Who is asking: from a verified bearer token (demo issuer or an external CIS2-style issuer)."""

    user_id: str
    name: str
    role_code: str
    org_code: str
    sds_user_id: str
    practitioner_id: str | None = None


@dataclass(frozen=True)
class PatientFacts:
    patient_id: str
    registered_org: str | None = None
    sensitive: bool = False
    dissent: bool = False
    relationships: frozenset[str] = frozenset()
    self_claimed: bool = False
    break_glass: bool = False


@dataclass(frozen=True)
class SharingAgreement:
    id: str
    name: str
    mode: str
    members: frozenset[str]


@dataclass(frozen=True)
class Access:
    principal: Principal
    interaction: Interaction
    resource_type: str
    patient: PatientFacts | None = None
    agreements: tuple[SharingAgreement, ...] = ()
    # The organisation that holds the record being opened when it is not the patient's practice: the
    # trust whose archive holds an image (the shared radiology record). A sharing agreement that joins
    # the user's organisation to the holder shares the holder's part of the record.
    holder: str | None = None


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str
    basis: str | None = None
    alert: bool = False
    # BALP purposeOfUse: TREAT (treatment) or ETREAT (emergency treatment, break-glass); HOPERAT for
    # information governance (audit) work.
    purpose: str = "TREAT"


def required_activity(interaction: Interaction, type_name: str) -> str:
    if interaction == "break-glass":
        return BREAK_GLASS
    if interaction == "claim-relationship":
        return CLAIM_RELATIONSHIP
    writing = interaction in ("create", "update")
    if type_name == "AuditEvent":
        return VIEW_AUDIT
    if type_name == "Patient" and interaction != "everything":
        return AMEND_DEMOGRAPHICS if writing else VIEW_DEMOGRAPHICS
    rt = resource_type(type_name)
    if rt is not None and not rt.in_patient_record:
        return MANAGE_DIRECTORY if writing else VIEW_DIRECTORY
    return RECORD_CARE if writing else VIEW_RECORD


def _deny(reason: str) -> Decision:
    return Decision(False, reason)


def decide(access: Access) -> Decision:
    """Allow or refuse one access, with the reason, the basis and whether the privacy officer is alerted."""
    principal, facts = access.principal, access.patient
    role = ROLES.get(principal.role_code)
    if role is None:
        return _deny(f"role {principal.role_code} is not a national RBAC role this service grants access to")
    activity = required_activity(access.interaction, access.resource_type)
    if activity not in role.activities:
        return _deny(f"the {role.name} does not include the activity {activity}")
    if activity == VIEW_AUDIT:
        return Decision(True, "information governance oversight", basis="audit", purpose="HOPERAT")
    if facts is None:
        return Decision(True, f"{role.name} may {activity}", basis="role")
    registered = facts.registered_org is not None and principal.org_code == facts.registered_org
    if facts.dissent and not registered:
        return _deny("the patient has dissented from sharing their record beyond their GP practice")
    holders = {facts.registered_org, access.holder} - {None}
    shared = [
        agreement
        for agreement in access.agreements
        if principal.org_code in agreement.members and holders & agreement.members
    ]
    if access.interaction in ("break-glass", "claim-relationship"):
        if not shared:
            return _deny("no data-sharing agreement joins the user's organisation and the patient's practice")
        return Decision(True, f"{activity} within {shared[0].name}", basis="agreement")
    direct = set(facts.relationships)
    if registered:
        direct.add("registration")
    if direct:
        return Decision(True, "direct care relationship", basis="relationship:" + ",".join(sorted(direct)))
    if not shared:
        return _deny("no data-sharing agreement joins the user's organisation and the patient's practice")
    if facts.break_glass:
        return Decision(True, "break-glass", basis="break-glass", alert=True, purpose="ETREAT")
    if facts.sensitive:
        return _deny(
            "the record is marked sensitive: only a direct care relationship or break-glass opens it"
        )
    consortium = [agreement for agreement in shared if agreement.mode == CONSORTIUM_WIDE]
    if consortium:
        return Decision(True, f"consortium-wide sharing in {consortium[0].name}", basis="consortium")
    if facts.self_claimed:
        return Decision(True, "self-claimed legitimate relationship", basis="self-claimed", alert=True)
    return _deny(
        "no legitimate relationship with the patient: the agreement requires one "
        "(record the relationship, claim one, or break glass in an emergency)"
    )


class RelationshipProvider(Protocol):
    """Finds the direct care relationships between a user and patients (a later service adds its own)."""

    @property
    def kind(self) -> str: ...

    def find(
        self, conn: Connection, principal: Principal, actor_refs: frozenset[str], patient_ids: Sequence[str]
    ) -> dict[str, set[str]]: ...


@dataclass(frozen=True)
class IndexedRelationship:
    """A relationship recorded as an open resource in the patient's record that names the user's
    organisation (or the user as practitioner) at a search parameter: an open referral
    (ServiceRequest.performer), an advice and guidance request (CommunicationRequest.recipient)..."""

    kind: str
    resource_type: str
    actor_param: str
    statuses: tuple[str, ...] = ("active",)
    status_param: str | None = "status"
    where: tuple[tuple[str, str], ...] = ()

    def params(self) -> set[str]:
        return {
            self.actor_param,
            *([self.status_param] if self.status_param else []),
            *(param for param, _ in self.where),
        }

    def matches(self, values: dict[str, set[str]], actor_refs: frozenset[str]) -> bool:
        """Whether one resource's indexed values (by parameter) make this relationship."""
        if not values.get(self.actor_param, set()) & actor_refs:
            return False
        if self.status_param and not values.get(self.status_param, set()) & set(self.statuses):
            return False
        return all(value in values.get(param, set()) for param, value in self.where)

    def find(
        self, conn: Connection, principal: Principal, actor_refs: frozenset[str], patient_ids: Sequence[str]
    ) -> dict[str, set[str]]:
        del principal
        return _indexed_find(conn, [self], actor_refs, patient_ids)


def _indexed_find(
    conn: Connection,
    providers: Sequence[IndexedRelationship],
    actor_refs: frozenset[str],
    patient_ids: Sequence[str],
) -> dict[str, set[str]]:
    """Every indexed provider in one query per chunk of patients (see ``_indexed_find_many``)."""
    return _indexed_find_many(conn, [(provider, actor_refs) for provider in providers], patient_ids)


def _indexed_find_many(
    conn: Connection,
    wanted: Sequence[tuple[IndexedRelationship, frozenset[str]]],
    patient_ids: Sequence[str],
) -> dict[str, set[str]]:
    """Each (provider, the references it must name) pair in one query per chunk of patients: the index
    rows of the providers' types for those patients, matched in Python."""
    found: dict[str, set[str]] = defaultdict(set)
    wanted = [(provider, refs) for provider, refs in wanted if refs]
    if not wanted:
        return found
    types = sorted({provider.resource_type for provider, _ in wanted})
    params = sorted(set().union(*(provider.params() for provider, _ in wanted)))
    for chunk in _chunks(patient_ids):
        rows = conn.execute(_INDEXED_ROWS, {"patients": chunk, "types": types, "params": params})
        values: dict[tuple[str, str], dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
        owners: dict[tuple[str, str], str] = {}
        for row in rows:
            key = (row.resource_type, row.resource_id)
            values[key][row.param].add(row.value)
            owners[key] = row.patient_id
        for key, indexed in values.items():
            for provider, refs in wanted:
                if provider.resource_type == key[0] and provider.matches(indexed, refs):
                    found[owners[key]].add(provider.kind)
    return found


# The statements gather runs on every access, built once: building a SQLAlchemy statement costs more
# than SQLite takes to run it, and a statement object reused hits the compiled-SQL cache directly.
_INDEXED_ROWS = (
    sa.select(
        resources.c.patient_id,
        search_index.c.resource_type,
        search_index.c.resource_id,
        search_index.c.param,
        search_index.c.value,
    )
    .join(
        search_index,
        sa.and_(
            search_index.c.resource_type == resources.c.resource_type,
            search_index.c.resource_id == resources.c.id,
        ),
    )
    .where(
        resources.c.patient_id.in_(sa.bindparam("patients", expanding=True)),
        resources.c.resource_type.in_(sa.bindparam("types", expanding=True)),
        search_index.c.param.in_(sa.bindparam("params", expanding=True)),
    )
)
_PATIENT_CONTENT = (
    sa.select(resource_versions.c.id, resource_versions.c.content)
    .select_from(current_versions)
    .where(
        resource_versions.c.resource_type == "Patient",
        resource_versions.c.id.in_(sa.bindparam("ids", expanding=True)),
    )
)
# Organisation codes of the patients' practices (bare codes, not system|code) and the Organizations
# that carry the user's own organisation code, in one statement.
_ORGANISATIONS = sa.union_all(
    sa.select(sa.literal("code").label("kind"), search_index.c.resource_id, search_index.c.value).where(
        search_index.c.resource_type == "Organization",
        search_index.c.param == "identifier",
        search_index.c.resource_id.in_(sa.bindparam("ids", expanding=True)),
        ~search_index.c.value.contains("|"),
    ),
    sa.select(sa.literal("user").label("kind"), search_index.c.resource_id, search_index.c.value).where(
        search_index.c.resource_type == "Organization",
        search_index.c.param == "identifier",
        search_index.c.value == sa.bindparam("code"),
    ),
)
# The user's break-glass sessions open now and self-claimed relationships, for these patients.
_GLASS_AND_CLAIMS = sa.union_all(
    sa.select(sa.literal("glass").label("kind"), break_glass.c.patient_id).where(
        break_glass.c.user_id == sa.bindparam("user"),
        break_glass.c.patient_id.in_(sa.bindparam("patients", expanding=True)),
        break_glass.c.started <= sa.bindparam("now"),
        break_glass.c.expires > sa.bindparam("now"),
    ),
    sa.select(sa.literal("claim").label("kind"), self_claims.c.patient_id).where(
        self_claims.c.user_id == sa.bindparam("user"),
        self_claims.c.patient_id.in_(sa.bindparam("patients", expanding=True)),
    ),
)
_AGREEMENTS = (
    sa.select(
        sharing_agreements.c.id,
        sharing_agreements.c.name,
        sharing_agreements.c.mode,
        agreement_members.c.org_code,
        agreement_members.c.joined,
        agreement_members.c.left,
    )
    .join(agreement_members, agreement_members.c.agreement_id == sharing_agreements.c.id, isouter=True)
    .order_by(sharing_agreements.c.id)
)


_PROVIDERS: list[RelationshipProvider] = [
    IndexedRelationship("registration", "Patient", "general-practitioner", status_param=None),
    IndexedRelationship("referral", "ServiceRequest", "performer"),
    IndexedRelationship("advice-and-guidance", "CommunicationRequest", "recipient"),
    IndexedRelationship("caseload", "CareTeam", "participant"),
    IndexedRelationship("care-home", "EpisodeOfCare", "organization", where=(("type", CARE_HOME_EPISODE),)),
]


_DISSENT = IndexedRelationship("dissent", "Consent", "provision-type")


def register_relationship_provider(provider: RelationshipProvider) -> None:
    _PROVIDERS.append(provider)


def relationship_providers() -> tuple[RelationshipProvider, ...]:
    return tuple(_PROVIDERS)


def _chunks(values: Sequence[str], size: int = 500) -> Iterable[list[str]]:
    for start in range(0, len(values), size):
        yield list(values[start : start + size])


def load_agreements(conn: Connection, on: str | None = None) -> tuple[SharingAgreement, ...]:
    """The data-sharing agreements with the members they had on the day ``on`` (ISO date; every member
    whatever its dates when None): membership is dated, as trusts joined EMRAD in different years."""
    members: dict[str, set[str]] = defaultdict(set)
    names: dict[str, tuple[str, str]] = {}
    rows = conn.execute(_AGREEMENTS)
    for row in rows:
        names[row.id] = (row.name, row.mode)
        current = on is None or (
            (row.joined is None or row.joined <= on) and (row.left is None or on < row.left)
        )
        if row.org_code is not None and current:
            members[row.id].add(row.org_code)
    return tuple(
        SharingAgreement(key, name, mode, frozenset(members[key])) for key, (name, mode) in names.items()
    )


def organisation_refs(conn: Connection, code: str) -> frozenset[str]:
    """References to the Organization resources that carry this organisation code as an identifier."""
    rows = conn.execute(
        sa.select(search_index.c.resource_id).where(
            search_index.c.resource_type == "Organization",
            search_index.c.param == "identifier",
            search_index.c.value == code,
        )
    )
    return frozenset(f"Organization/{row.resource_id}" for row in rows)


def _organisation_codes(conn: Connection, refs: set[str]) -> dict[str, str]:
    ids = sorted(ref.removeprefix("Organization/") for ref in refs if ref.startswith("Organization/"))
    codes: dict[str, str] = {}
    for chunk in _chunks(ids):
        rows = conn.execute(
            sa.select(search_index.c.resource_id, search_index.c.value).where(
                search_index.c.resource_type == "Organization",
                search_index.c.param == "identifier",
                search_index.c.resource_id.in_(chunk),
                ~search_index.c.value.contains("|"),
            )
        )
        for row in rows:
            codes.setdefault(f"Organization/{row.resource_id}", row.value)
    return codes


def gather(
    conn: Connection, principal: Principal, patient_ids: Iterable[str], now: str
) -> dict[str, PatientFacts]:
    """The facts ``decide`` needs about each patient, for this user, read in batches (four statements
    per 500 patients, whatever the number of relationship providers that are index-backed)."""
    ids = sorted(set(patient_ids))
    if not ids:
        return {}
    practices: dict[str, str | None] = {}
    sensitive: set[str] = set()
    for chunk in _chunks(ids):
        for row in conn.execute(_PATIENT_CONTENT, {"ids": chunk}):
            patient = json.loads(row.content)
            gps = [
                gp.get("reference") for gp in patient.get("generalPractitioner") or [] if isinstance(gp, dict)
            ]
            practices[row.id] = next(
                (ref for ref in gps if isinstance(ref, str) and ref.startswith("Organization/")), None
            )
            labels = (patient.get("meta") or {}).get("security") or []
            if any(
                isinstance(label, dict)
                and label.get("system") == CONFIDENTIALITY_SYSTEM
                and label.get("code") in SENSITIVE_CODES
                for label in labels
            ):
                sensitive.add(row.id)
    practice_ids = sorted(
        {
            ref.removeprefix("Organization/")
            for ref in practices.values()
            if ref and ref.startswith("Organization/")
        }
    )
    codes: dict[str, str] = {}
    user_refs: set[str] = set()
    for chunk in _chunks(practice_ids) if practice_ids else [[]]:
        for row in conn.execute(_ORGANISATIONS, {"ids": chunk, "code": principal.org_code}):
            if row.kind == "code":
                codes.setdefault(f"Organization/{row.resource_id}", row.value)
            else:
                user_refs.add(f"Organization/{row.resource_id}")
    actor_refs = frozenset(user_refs)
    if principal.practitioner_id:
        actor_refs |= {f"Practitioner/{principal.practitioner_id}"}
    # Dissent is found like a relationship: an active Consent whose provision type is deny. The
    # "actor" it must name is the value deny, so it is matched with its own references, in the same
    # statement as the relationships.
    indexed = [provider for provider in _PROVIDERS if isinstance(provider, IndexedRelationship)]
    found = _indexed_find_many(
        conn, [(_DISSENT, frozenset({"deny"})), *((provider, actor_refs) for provider in indexed)], ids
    )
    dissent = {patient_id for patient_id, kinds in found.items() if _DISSENT.kind in kinds}
    relationships: dict[str, set[str]] = defaultdict(set)
    for patient_id, kinds in found.items():
        if kinds - {_DISSENT.kind}:
            relationships[patient_id] = kinds - {_DISSENT.kind}
    for provider in _PROVIDERS:
        if isinstance(provider, IndexedRelationship):
            continue
        for patient_id, kinds in provider.find(conn, principal, actor_refs, ids).items():
            relationships[patient_id] |= kinds
    glass: set[str] = set()
    claimed: set[str] = set()
    for chunk in _chunks(ids):
        for row in conn.execute(
            _GLASS_AND_CLAIMS, {"user": principal.user_id, "patients": chunk, "now": now}
        ):
            (glass if row.kind == "glass" else claimed).add(row.patient_id)
    return {
        patient_id: PatientFacts(
            patient_id,
            registered_org=codes.get(practices.get(patient_id) or ""),
            sensitive=patient_id in sensitive,
            dissent=patient_id in dissent,
            relationships=frozenset(relationships.get(patient_id, set())),
            self_claimed=patient_id in claimed,
            break_glass=patient_id in glass,
        )
        for patient_id in ids
    }
