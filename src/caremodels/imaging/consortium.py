"""The consortium as data: its data-sharing agreement (mode and dated membership) written into the care
record's store, and each member trust's archive registered with its state and FHIR ``Endpoint``.

The founding members are the EMRAD vanguard site's providers in ``caremodels.reference`` (one list
everywhere), members from the site's selection day; later members and their joining days are in
``data/consortium.yaml``, validated here.

Boundaries: writes the ``sharing_agreements``, ``agreement_members``, ``imaging_archives`` tables and
Endpoint resources of the store; decides nothing (the policy reads these rows).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Literal

import sqlalchemy as sa
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy.engine import Connection

from caremodels.care_record.policy import organisation_refs
from caremodels.care_record.registry import resource_type
from caremodels.care_record.resources import read_resource, validate, write_resource
from caremodels.care_record.store import agreement_members, imaging_archives, sharing_agreements
from caremodels.errors import ReferenceDataError
from caremodels.reference import vanguard_sites

__all__ = [
    "ASSURED",
    "CONNECTED",
    "CONSORTIUM_FILE",
    "ISOLATED",
    "Consortium",
    "Member",
    "endpoint_id",
    "ensure_consortium",
    "load_consortium",
    "register_archive",
]

CONSORTIUM_FILE = Path(__file__).parent / "data" / "consortium.yaml"
CONNECTED, ISOLATED, ASSURED = "connected", "isolated", "assured"
ENDPOINT_TYPE = "http://terminology.hl7.org/CodeSystem/endpoint-connection-type"


class Member(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    code: str = Field(pattern=r"^[A-Z0-9]{3,5}$")
    name: str = ""
    joined: dt.date
    left: dt.date | None = None


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid")
    agreement_id: str = Field(pattern=r"^[a-z0-9-]+$")
    name: str
    mode: Literal["consortium-wide", "legitimate-relationship"]
    site: str
    later_members: tuple[Member, ...] = ()


class Consortium(BaseModel):
    model_config = ConfigDict(frozen=True)
    agreement_id: str
    name: str
    mode: str
    members: tuple[Member, ...]

    def member_on(self, code: str, day: dt.date) -> bool:
        return any(
            m.code == code and m.joined <= day and (m.left is None or day < m.left) for m in self.members
        )


def load_consortium(path: Path = CONSORTIUM_FILE) -> Consortium:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        spec = _File.model_validate(raw)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise ReferenceDataError(first["msg"], file=path, field=where) from None
    except (OSError, yaml.YAMLError) as error:
        raise ReferenceDataError(f"cannot read the consortium ({type(error).__name__})", file=path) from None
    site = next((s for s in vanguard_sites() if s.id == spec.site), None)
    if site is None:
        raise ReferenceDataError(f"no vanguard site {spec.site!r}", file=path, field="site")
    founders = tuple(Member(code=code, joined=site.selected) for code in site.providers)
    codes = [m.code for m in (*founders, *spec.later_members)]
    if len(set(codes)) != len(codes):
        raise ReferenceDataError("a member is listed twice", file=path, field="later_members")
    return Consortium(
        agreement_id=spec.agreement_id,
        name=spec.name,
        mode=spec.mode,
        members=(*founders, *spec.later_members),
    )


def ensure_consortium(conn: Connection, consortium: Consortium) -> None:
    """Write the agreement and its dated members (again: the file is the truth for its members)."""
    present = conn.execute(
        sa.select(sharing_agreements.c.id).where(sharing_agreements.c.id == consortium.agreement_id)
    ).first()
    if present is None:
        conn.execute(
            sharing_agreements.insert().values(
                id=consortium.agreement_id, name=consortium.name, mode=consortium.mode
            )
        )
    conn.execute(
        agreement_members.delete().where(agreement_members.c.agreement_id == consortium.agreement_id)
    )
    conn.execute(
        agreement_members.insert(),
        [
            {
                "agreement_id": consortium.agreement_id,
                "org_code": member.code,
                "joined": member.joined.isoformat(),
                "left": member.left.isoformat() if member.left else None,
            }
            for member in consortium.members
        ],
    )


def endpoint_id(archive: str) -> str:
    return f"imaging-{archive.lower()}"


def register_archive(conn: Connection, *, name: str, trust: str, address: str, moment: str) -> None:
    """The archive's state row (connected when first seen) and its FHIR Endpoint (the gateway's address)."""
    if (
        conn.execute(sa.select(imaging_archives.c.name).where(imaging_archives.c.name == name)).first()
        is None
    ):
        conn.execute(
            imaging_archives.insert().values(
                name=name, trust=trust, state=CONNECTED, changed=moment, changed_by=None, reason="registered"
            )
        )
    rt = resource_type("Endpoint")
    if rt is None:  # pragma: no cover - the care record registers Endpoint
        raise ReferenceDataError("the care record does not hold Endpoint resources")
    wanted = endpoint_id(name)
    existing = read_resource(conn, "Endpoint", wanted)
    body: dict[str, object] = {
        "resourceType": "Endpoint",
        "status": "active",
        "connectionType": {"system": ENDPOINT_TYPE, "code": "dicom-wado-rs"},
        "name": f"{trust} imaging archive through the consortium gateway",
        "payloadType": [{"text": "DICOM"}],
        "address": address,
    }
    refs = sorted(organisation_refs(conn, trust))
    if refs:
        body["managingOrganization"] = {"reference": refs[0]}
    body = validate(rt, body)
    if existing is not None:
        current = {k: v for k, v in existing.content.items() if k not in ("id", "meta")}
        if current == body:
            return
    write_resource(
        conn,
        rt,
        body,
        resource_id=wanted,
        patient_id=None,
        moment=moment,
        expected_version=existing.version_id if existing else None,
    )
