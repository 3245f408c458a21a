"""Population budgets for new care models, and the cost of actual activity against them.

``population_budget`` gives a site's (or any membership's) need-weighted share of a national
envelope per need component, for the components its care model's budget covers, with the
unregistered population and a waterfall from registered head count to the need-weighted budget.
``activity_comparison`` prices the activity the warehouse holds for the same practices with a
user's tariff and shares the gain or loss. ``system_control_total`` and ``operational_standards``
(``caremodels.budget.system``) give an accountable care system's combined control total against
activity cost by month, and the four operational standards where the data allow.

Boundaries: secondary use. Reads reference data, the user's files and the warehouse (activity only
through ``caremodels.indicators``); never the care record or the synthetic generator.
"""

from caremodels.budget.activity import (
    ActivityComparison,
    ActivityLine,
    ComponentComparison,
    RiskShare,
    Tariff,
    TariffLine,
    activity_comparison,
    load_tariff,
)
from caremodels.budget.population import (
    UNREGISTERED_COLUMNS,
    UNREGISTERED_TABLE,
    ComponentBudget,
    Membership,
    NationalEnvelope,
    PopulationBudget,
    UnregisteredEstimate,
    WaterfallStep,
    load_envelope,
    membership_of_site,
    population_budget,
    read_memberships,
    unregistered_from_csv,
    unregistered_from_warehouse,
)

__all__ = [
    "UNREGISTERED_COLUMNS",
    "UNREGISTERED_TABLE",
    "ActivityComparison",
    "ActivityLine",
    "ComponentBudget",
    "ComponentComparison",
    "Membership",
    "NationalEnvelope",
    "PopulationBudget",
    "RiskShare",
    "Tariff",
    "TariffLine",
    "UnregisteredEstimate",
    "WaterfallStep",
    "activity_comparison",
    "load_envelope",
    "load_tariff",
    "membership_of_site",
    "population_budget",
    "read_memberships",
    "unregistered_from_csv",
    "unregistered_from_warehouse",
]
