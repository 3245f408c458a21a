"""Extract the care record as FHIR NDJSON for ``caremodels ingest``: what direct care recorded reaches
the warehouse only through the ingest boundary (NHS numbers become pseudonyms there, and National Data
Opt-outs are applied there).

Writes ``Patient``, ``Organization``, ``Encounter``, ``Condition``, and the advice and guidance and
referral types (``CommunicationRequest``, ``Task``, ``ServiceRequest``) NDJSON (the types the ingest
FHIR loader maps), the current version of each resource as stored, one per line, keys sorted.

Boundaries: reads the store; writes only the output folder; audited as one system AuditEvent.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import sqlalchemy as sa

from caremodels.care_record.audit import AuditRecord, write_audit
from caremodels.care_record.policy import Decision
from caremodels.care_record.resources import now_text
from caremodels.care_record.store import Store, resource_versions, resources

__all__ = ["EXTRACTED_TYPES", "extract_ndjson"]

EXTRACTED_TYPES = (
    "Organization",
    "Patient",
    "Encounter",
    "Condition",
    "CommunicationRequest",
    "Task",
    "ServiceRequest",
)


def extract_ndjson(store: Store, out: Path) -> dict[str, int]:
    """Write one NDJSON file per type into ``out``; the number of resources in each."""
    out.mkdir(parents=True, exist_ok=True)
    counts: dict[str, int] = {}
    with store.begin() as conn:
        for name in EXTRACTED_TYPES:
            query = (
                sa.select(resource_versions.c.content)
                .join(
                    resources,
                    sa.and_(
                        resources.c.resource_type == resource_versions.c.resource_type,
                        resources.c.id == resource_versions.c.id,
                        resources.c.version_id == resource_versions.c.version_id,
                    ),
                )
                .where(resources.c.resource_type == name)
                .order_by(resources.c.id)
            )
            path = out / f"{name}.ndjson"
            written = 0
            with path.open("w", encoding="utf-8", newline="\n") as handle:
                for row in conn.execute(query):
                    handle.write(
                        json.dumps(json.loads(row.content), sort_keys=True, separators=(",", ":")) + "\n"
                    )
                    written += 1
            counts[name] = written
        write_audit(
            conn,
            principal=None,
            record=AuditRecord("search-type", "Bundle", query="extract for caremodels ingest"),
            decision=Decision(
                True, "extract to the ingest boundary (secondary use, pseudonymised there)", basis="system"
            ),
            patient_ids=[],
            recorded=now_text(dt.datetime.now(dt.UTC)),
        )
    return counts
