"""A small, exact care record for the access-control tests: organisations, users, sharing agreements
and one patient per case of the matrix, written straight into a store."""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass
from typing import Any

from caremodels.care_record.caseloads import EXTENSIVE_CARE
from caremodels.care_record.load import EPISODE_TYPE_SYSTEM
from caremodels.care_record.policy import CONSORTIUM_WIDE, LEGITIMATE_RELATIONSHIP
from caremodels.care_record.registry import NHS_NUMBER_SYSTEM, ODS_SYSTEM, resource_type
from caremodels.care_record.resources import now_text, write_resource
from caremodels.care_record.store import (
    Store,
    agreement_members,
    break_glass,
    self_claims,
    sharing_agreements,
    users,
)
from caremodels.synth.nhs_number import synthetic_nhs_numbers

# Sharing mode -> (the patient's practice, a trust in the same agreement)
PRACTICE = {"legitimate": "A00001", "consortium": "A00002"}
TRUST = {"legitimate": "RT001", "consortium": "RT002"}
OUTSIDE = "RX999"
ROLES = {
    "clinician": "R8000",
    "nurse": "R8001",
    "health-professional": "R8003",
    "clerical": "R8010",
    "privacy": "R0001",
}
ORG_KINDS = ("practice", "trust", "outside")
RELATIONSHIPS = ("none", "referral", "extensive-care", "self-claimed")
MODES = ("legitimate", "consortium")


@dataclass(frozen=True)
class Case:
    role: str
    org: str
    relationship: str
    dissent: bool
    sensitive: bool
    glass: bool
    mode: str

    @property
    def key(self) -> str:
        return "-".join(
            [
                self.role,
                self.org,
                self.relationship,
                "dissent" if self.dissent else "consent",
                "sensitive" if self.sensitive else "ordinary",
                "glass" if self.glass else "noglass",
                self.mode,
            ]
        )

    def user_id(self) -> str:
        return f"{self.role}-{self.org}-{self.mode}"

    def org_code(self) -> str:
        return {"practice": PRACTICE[self.mode], "trust": TRUST[self.mode], "outside": OUTSIDE}[self.org]


def expected(case: Case) -> str:
    """The specification (docs/care-record.md, "The policy"), as a table of rules in order."""
    if ROLES[case.role] in ("R0001",):
        return "deny"  # privacy officers audit records; they do not read them
    registered = case.org == "practice"
    if case.dissent and not registered:
        return "deny"  # dissent from sharing: only the patient's own practice
    if registered or case.relationship in ("referral", "extensive-care"):
        return "allow"  # a direct care relationship (an open referral, an active enrolment)
    if case.org == "outside":
        return "deny"  # no data-sharing agreement, whatever else
    if case.glass:
        return "alert"
    if case.sensitive:
        return "deny"
    if case.mode == "consortium":
        return "allow"
    if case.relationship == "self-claimed":
        return "alert"
    return "deny"


def all_cases(roles: tuple[str, ...] = ("clinician", "nurse", "privacy")) -> list[Case]:
    return [
        Case(role, org, rel, dissent, sensitive, glass, mode)
        for role, org, rel, dissent, sensitive, glass, mode in itertools.product(
            roles, ORG_KINDS, RELATIONSHIPS, (False, True), (False, True), (False, True), MODES
        )
        # The other roles' slice is smaller: no dissent, no relationship beyond none.
        if role == "clinician" or (not dissent and rel == "none")
    ]


def _org(code: str) -> dict[str, Any]:
    return {
        "resourceType": "Organization",
        "identifier": [{"system": ODS_SYSTEM, "value": code}],
        "name": code,
        "active": True,
    }


def build(store: Store, cases: list[Case]) -> dict[str, str]:
    """Write the scenario; the patient id of each case by its key."""
    moment = now_text(dt.datetime.now(dt.UTC))
    expires = now_text(dt.datetime.now(dt.UTC) + dt.timedelta(hours=4))
    numbers = synthetic_nhs_numbers(__import__("numpy").arange(len(cases)), population=len(cases), seed=3)
    patients: dict[str, str] = {}
    with store.begin() as conn:
        codes = sorted({*PRACTICE.values(), *TRUST.values(), OUTSIDE})
        for code in codes:
            write_resource(
                conn,
                resource_type("Organization"),
                _org(code),
                resource_id=f"org-{code}",
                patient_id=None,
                moment=moment,
                expected_version=None,
            )  # type: ignore[arg-type]
        for mode, agreement_mode in (
            ("legitimate", LEGITIMATE_RELATIONSHIP),
            ("consortium", CONSORTIUM_WIDE),
        ):
            conn.execute(
                sharing_agreements.insert().values(
                    id=f"agreement-{mode}", name=f"{mode} agreement", mode=agreement_mode
                )
            )
            conn.execute(
                agreement_members.insert(),
                [
                    {"agreement_id": f"agreement-{mode}", "org_code": PRACTICE[mode]},
                    {"agreement_id": f"agreement-{mode}", "org_code": TRUST[mode]},
                ],
            )
        made: set[str] = set()
        for case in cases:
            if case.user_id() not in made:
                made.add(case.user_id())
                conn.execute(
                    users.insert().values(
                        id=case.user_id(),
                        name=case.user_id(),
                        sds_user_id=f"sds-{case.user_id()}",
                        role_profile_id=f"rp-{case.user_id()}",
                        role_code=ROLES[case.role],
                        org_code=case.org_code(),
                        practitioner_id=None,
                        description="",
                    )
                )
        for position, case in enumerate(cases):
            patient_id = f"p{position:04d}"
            patients[case.key] = patient_id
            body: dict[str, Any] = {
                "resourceType": "Patient",
                "identifier": [{"system": NHS_NUMBER_SYSTEM, "value": str(numbers[position])}],
                "gender": "female",
                "birthDate": "1940-01-01",
                "generalPractitioner": [{"reference": f"Organization/org-{PRACTICE[case.mode]}"}],
            }
            if case.sensitive:
                body["meta"] = {
                    "security": [
                        {"system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "code": "R"}
                    ]
                }
            write_resource(
                conn,
                resource_type("Patient"),
                body,
                resource_id=patient_id,
                patient_id=patient_id,
                moment=moment,
                expected_version=None,
            )  # type: ignore[arg-type]
            write_resource(
                conn,
                resource_type("Encounter"),  # type: ignore[arg-type]
                {
                    "resourceType": "Encounter",
                    "status": "finished",
                    "class": {"code": "AMB"},
                    "subject": {"reference": f"Patient/{patient_id}"},
                },
                resource_id=f"e{position:04d}",
                patient_id=patient_id,
                moment=moment,
                expected_version=None,
            )
            if case.dissent:
                write_resource(
                    conn,
                    resource_type("Consent"),  # type: ignore[arg-type]
                    {
                        "resourceType": "Consent",
                        "status": "active",
                        "scope": {
                            "coding": [
                                {
                                    "system": "http://terminology.hl7.org/CodeSystem/consentscope",
                                    "code": "patient-privacy",
                                }
                            ]
                        },
                        "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
                        "patient": {"reference": f"Patient/{patient_id}"},
                        "provision": {"type": "deny"},
                    },
                    resource_id=f"c{position:04d}",
                    patient_id=patient_id,
                    moment=moment,
                    expected_version=None,
                )
            if case.relationship == "referral":
                write_resource(
                    conn,
                    resource_type("ServiceRequest"),  # type: ignore[arg-type]
                    {
                        "resourceType": "ServiceRequest",
                        "status": "active",
                        "intent": "order",
                        "subject": {"reference": f"Patient/{patient_id}"},
                        "performer": [{"reference": f"Organization/org-{case.org_code()}"}],
                    },
                    resource_id=f"r{position:04d}",
                    patient_id=patient_id,
                    moment=moment,
                    expected_version=None,
                )
            if case.relationship == "extensive-care":
                # Enrolled with an extensive care team: the user's organisation manages the episode.
                write_resource(
                    conn,
                    resource_type("EpisodeOfCare"),  # type: ignore[arg-type]
                    {
                        "resourceType": "EpisodeOfCare",
                        "status": "active",
                        "type": [{"coding": [{"system": EPISODE_TYPE_SYSTEM, "code": EXTENSIVE_CARE}]}],
                        "patient": {"reference": f"Patient/{patient_id}"},
                        "managingOrganization": {"reference": f"Organization/org-{case.org_code()}"},
                    },
                    resource_id=f"x{position:04d}",
                    patient_id=patient_id,
                    moment=moment,
                    expected_version=None,
                )
            if case.relationship == "self-claimed":
                conn.execute(
                    self_claims.insert().values(
                        id=f"claim-{position}",
                        user_id=case.user_id(),
                        patient_id=patient_id,
                        reason="test",
                        claimed=moment,
                    )
                )
            if case.glass:
                conn.execute(
                    break_glass.insert().values(
                        id=f"glass-{position}",
                        user_id=case.user_id(),
                        patient_id=patient_id,
                        reason="test",
                        started=moment,
                        expires=expires,
                    )
                )

    return patients
