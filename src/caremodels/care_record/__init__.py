"""The direct-care shared care record: an operational store of identifiable FHIR R4 data, one policy
function for every access, one hash-chained BALP audit writer, bearer-token identity, a FHIR API and pages.

Boundaries: identifiable data (NHS numbers) lives only in the operational store; it leaves only through
``extract`` as FHIR NDJSON for ``caremodels ingest``, which pseudonymises it. Secondary-use packages never
import this one. Logs and errors never carry a patient-level value.
"""

# Registers the RiskAssessment type and the extensive care relationship provider with the registry and
# the policy, so that every use of the care record has them.
from caremodels.care_record import caseloads as _caseloads  # noqa: F401  (imported for registration)
from caremodels.care_record.store import Store, StoreError, head_revision, init_store, open_store

__all__ = ["Store", "StoreError", "head_revision", "init_store", "open_store"]
