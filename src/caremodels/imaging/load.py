"""Synthetic imaging that agrees with the warehouse: studies for the synthetic economy's A&E attendances
and hospital admissions at the consortium's trusts, as the care record holds them (``care-record load``
put the same people's encounters there), sent to each trust's archive with STOW-RS through the gateway.

Which encounters are imaged and with what (``IMAGING_RATES``): an assumption stated here, not a
measurement. A&E: about two in five attendances have imaging, mostly plain X-ray then CT; admissions:
more often, with more CT, ultrasound and MR. The national Diagnostic Imaging Dataset's mix over all
settings is about half plain radiography, a quarter ultrasound, an eighth CT and a twelfth MR; emergency
settings lean to X-ray and CT. Draws come from the seeded ``numpy.random.Generator`` passed in.

Each study is sent by a radiographer user of the acquiring trust (made if missing: role R8003 at the
trust), so the load passes the same policy and writes the same audit as any other STOW-RS request.

Boundaries: reads Encounter and Patient resources of the store; writes only through ``Gateway.store``
and the ``users`` table. Errors and logs carry no patient-level value.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import sqlalchemy as sa

from caremodels.care_record.policy import Principal
from caremodels.care_record.registry import NHS_NUMBER_SYSTEM
from caremodels.care_record.store import resource_versions, resources, users
from caremodels.imaging.gateway import Gateway
from caremodels.imaging.synthetic import StudySpec, make_study

__all__ = ["IMAGING_RATES", "ImagingLoad", "load_imaging", "radiographer"]

# Encounter class -> (probability the encounter has a study, modality mix).
IMAGING_RATES: Mapping[str, tuple[float, Mapping[str, float]]] = {
    "EMER": (0.40, {"DX": 0.72, "CT": 0.20, "US": 0.06, "MR": 0.02}),
    "IMP": (0.55, {"DX": 0.40, "CT": 0.32, "US": 0.18, "MR": 0.10}),
}
_SEX = {"male": "M", "female": "F"}


@dataclass
class ImagingLoad:
    encounters: int = 0
    studies: int = 0
    instances: int = 0
    by_trust: Counter[str] = field(default_factory=Counter)
    by_modality: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, object]:
        return {
            "encounters": self.encounters,
            "studies": self.studies,
            "instances": self.instances,
            "by_trust": dict(sorted(self.by_trust.items())),
            "by_modality": dict(sorted(self.by_modality.items())),
        }


def radiographer(gateway: Gateway, trust: str) -> Principal:
    """The trust's radiographer user that sends its studies (made when missing)."""
    user_id = f"radiographer-{trust.lower()}"
    digest = int(hashlib.sha256(user_id.encode()).hexdigest()[:8], 16) % 10**8
    with gateway.service.store.begin() as conn:
        if conn.execute(sa.select(users.c.id).where(users.c.id == user_id)).first() is None:
            conn.execute(
                users.insert().values(
                    id=user_id,
                    name=f"Radiographer, {trust}",
                    sds_user_id=f"5552{digest:08d}",
                    role_profile_id=f"5553{digest:08d}",
                    role_code="R8003",
                    org_code=trust,
                    practitioner_id=None,
                    description=f"radiographer at {trust}: sends the trust's studies to its archive",
                )
            )
    return Principal(user_id, f"Radiographer, {trust}", "R8003", trust, f"5552{digest:08d}")


def _current(conn: sa.Connection, resource_type: str) -> sa.Select[tuple[str, str, str | None]]:
    del conn
    return (
        sa.select(resources.c.id, resource_versions.c.content, resources.c.patient_id)
        .join(
            resource_versions,
            sa.and_(
                resource_versions.c.resource_type == resources.c.resource_type,
                resource_versions.c.id == resources.c.id,
                resource_versions.c.version_id == resources.c.version_id,
            ),
        )
        .where(resources.c.resource_type == resource_type)
        .order_by(resources.c.id)
    )


def load_imaging(
    gateway: Gateway,
    rng: np.random.Generator,
    *,
    limit: int | None = None,
    trusts: Sequence[str] | None = None,
) -> ImagingLoad:
    """One study per imaged encounter at a trust with an archive; ``limit`` caps the studies."""
    wanted = set(trusts or gateway.trusts.values())
    archive_trusts = set(gateway.trusts.values()) & wanted
    summary = ImagingLoad()
    with gateway.service.store.begin() as conn:
        encounters: list[tuple[str, str, str, str, str]] = []
        for row in conn.execute(_current(conn, "Encounter")):
            body = json.loads(row.content)
            kind = (body.get("class") or {}).get("code")
            trust = ((body.get("serviceProvider") or {}).get("identifier") or {}).get("value")
            if isinstance(kind, str) and kind in IMAGING_RATES and trust in archive_trusts and row.patient_id:
                start = str((body.get("period") or {}).get("start", ""))[:10]
                encounters.append((row.id, kind, trust, row.patient_id, start))
        patients: dict[str, dict[str, object]] = {}
        ids = sorted({patient for *_, patient, _ in encounters})
        for offset in range(0, len(ids), 500):
            chunk = ids[offset : offset + 500]
            for row in conn.execute(_current(conn, "Patient").where(resources.c.id.in_(chunk))):
                patients[row.id] = json.loads(row.content)
    senders = {trust: radiographer(gateway, trust) for trust in sorted(archive_trusts)}
    summary.encounters = len(encounters)
    for encounter_id, kind, trust, patient_id, start in encounters:
        if limit is not None and summary.studies >= limit:
            break
        rate, mix = IMAGING_RATES[kind]
        if rng.random() >= rate:
            continue
        modalities = sorted(mix)
        modality = str(rng.choice(modalities, p=[mix[m] for m in modalities]))
        patient = patients.get(patient_id)
        if patient is None or not start:
            continue
        nhs = next(
            (
                str(i.get("value"))
                for i in patient.get("identifier") or []  # type: ignore[attr-defined]
                if isinstance(i, dict) and i.get("system") == NHS_NUMBER_SYSTEM
            ),
            None,
        )
        if nhs is None:
            continue
        names = (patient.get("name") or [{}])[0]  # type: ignore[index]
        spec = StudySpec(
            key=encounter_id,
            nhs_number=nhs,
            family=str(names.get("family", "")),
            given=" ".join(names.get("given") or []),
            birth_date=str(patient.get("birthDate", "")).replace("-", ""),
            sex=_SEX.get(str(patient.get("gender")), "O"),
            modality=modality,
            study_date=start.replace("-", ""),
            accession=trust + hashlib.sha256(encounter_id.encode()).hexdigest()[:10].upper(),
            trust=trust,
        )
        instances = make_study(spec, rng)
        gateway.store(senders[trust], instances)
        summary.studies += 1
        summary.instances += len(instances)
        summary.by_trust[trust] += 1
        summary.by_modality[modality] += 1
    return summary
