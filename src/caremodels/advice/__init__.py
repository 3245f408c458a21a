"""Advice and guidance (NHS e-RS's model) on the shared care record: GPs ask a specialty's service,
the provider answers, converts to a referral (when authorised) or advises one; the measures of what it
avoided are computed in the warehouse from what the care record's extract carries.

Boundaries: a direct-care service above ``caremodels.care_record``: every access goes through its one
policy function and audit; this package adds FHIR shapes, write rules, a relationship provider, a JSON
API and pages. Secondary-use packages never import it.
"""

from caremodels.advice.service import AdviceService, NewRequest

__all__ = ["AdviceService", "NewRequest"]
