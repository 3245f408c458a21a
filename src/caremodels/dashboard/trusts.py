"""Sites defined by their NHS trusts (the acute care collaborations, such as EMRAD) as groups of
trusts: pooled 4-hour A&E performance from NHS England's published statistics, and the
provider-level indicators of the member trusts from the warehouse's events.

Boundaries: reads the warehouse read-only, when the app starts (published statistics) and in the
background preparation (provider indicators); takes every number from the indicators layer
(``caremodels.indicators.published`` for 4-hour performance, ``indicator_results_many`` and
``publish`` for provider rows) and computes none itself.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from caremodels.errors import CaremodelsError
from caremodels.indicators import catalogue
from caremodels.indicators.compute import indicator_results_many
from caremodels.indicators.geography import provider_level_note
from caremodels.indicators.output import open_engine, publish
from caremodels.indicators.published import (
    PUBLISHED_AE_TABLE,
    four_hour_performance,
    pooled_four_hour_performance,
)
from caremodels.periods import financial_year, financial_year_label
from caremodels.reference import VanguardSite, trust_names
from caremodels.warehouse.store import Warehouse

__all__ = ["TrustGroups"]

_LOG = logging.getLogger(__name__)
SOURCE = (
    "NHS England, A&E Attendances and Emergency Admissions (monthly, all department types), loaded "
    "with `caremodels aggregates load ae`"
)


class TrustGroups:
    """The trust groups of one warehouse: the sites defined by their member trusts
    (``population_basis: provider`` with ``VanguardSite.providers``)."""

    def __init__(self, warehouse_path: Path, sites: Mapping[str, VanguardSite]) -> None:
        self.path = warehouse_path
        # Sites whose population is their trusts' (the 13 acute care collaborations); the other
        # sites are sets of practices and are analysed as areas.
        self.sites = {
            site_id: site
            for site_id, site in sites.items()
            if site.providers and site.population_basis == "provider"
        }
        self.names = trust_names()
        self.providers: pd.DataFrame | None = None
        self.reason: str | None = None
        with Warehouse(warehouse_path, read_only=True) as warehouse:
            loaded = PUBLISHED_AE_TABLE in warehouse.tables()
        if loaded:
            self.providers = four_hour_performance(warehouse_path, department_type=None)
        else:
            self.reason = (
                "the warehouse holds no published A&E statistics: load them with `caremodels aggregates "
                "load ae FILE --warehouse W` and restart the dashboard"
            )
        self.indicators: pd.DataFrame | None = None
        self.indicators_reason: str | None = None
        self._ready = threading.Event()

    @property
    def ready(self) -> bool:
        return self._ready.is_set()

    def prepare(self) -> None:
        """Provider-level indicators (financial years) of every member trust: meant for the
        background preparation of the site pages."""
        try:
            members = {code for site in self.sites.values() for code in site.providers}
            countable = [d for d in catalogue() if provider_level_note(d)[0]]
            engine = open_engine("duckdb", self.path)
            try:
                results = indicator_results_many(
                    engine, countable, levels=["provider"], periods=["financial_year"]
                )
            finally:
                engine.close()
            frames = [frame for frame in results.values() if not frame.empty]
            if not frames:
                self.indicators_reason = "no events in this warehouse carry a provider"
                return
            published = publish(pd.concat(frames, ignore_index=True))
            self.indicators = published[published["code"].isin(members)].reset_index(drop=True)
        except CaremodelsError as error:
            self.indicators_reason = str(error)
        except Exception as error:
            _LOG.error("provider indicators failed: %s", type(error).__name__)
            self.indicators_reason = "the provider-level indicators could not be computed (logged)"
        finally:
            self._ready.set()

    def pooled(self, site_id: str) -> tuple[pd.DataFrame | None, str | None]:
        """The group's monthly pooled 4-hour performance, or None with the reason."""
        site = self.sites[site_id]
        if self.providers is None:
            return None, self.reason
        try:
            return pooled_four_hour_performance(self.providers, site.providers), None
        except CaremodelsError as error:
            return None, str(error)

    def members(self, site_id: str) -> tuple[list[dict[str, object]], str | None]:
        """Each member trust with its months and latest complete financial year in the published
        statistics, and that year's label."""
        site = self.sites[site_id]
        rows = (
            self.providers[self.providers["org_code"].isin(site.providers)]
            if self.providers is not None
            else pd.DataFrame(columns=["org_code", "period", "attendances", "breaches"])
        )
        latest = _latest_complete_year(list(rows["period"]))
        out = []
        for code in site.providers:
            own = rows[rows["org_code"] == code]
            year = (
                own[[financial_year(month) == latest for month in own["period"]]] if latest else own.iloc[0:0]
            )
            attendances = int(year["attendances"].sum()) if len(year) else None
            out.append(
                {
                    "code": code,
                    "name": self.names.get(code, code),
                    "published_months": int(own["period"].nunique()),
                    "attendances_latest_year": attendances,
                    "performance_latest_year": (
                        1 - float(year["breaches"].sum()) / attendances if attendances else None
                    ),
                }
            )
        return out, financial_year_label(latest) if latest is not None else None

    def cannot_measure(self, site_id: str, months: list[dt.date]) -> list[str]:
        """What this page cannot say about the site, in sentences built from the data it has."""
        site = self.sites[site_id]
        notes = [
            f"{site.short_name} is defined by its {len(site.providers)} member trusts, not by registered "
            "patients: it has no population, so no rate per head, no growth against the rest of England "
            "and no controlled evaluation (those compare practices' registered lists).",
        ]
        if months:
            first, last = min(months), max(months)
            before = (
                f"; the site was selected on {site.selected:%d %B %Y}, before the first published month, "
                "so these figures have no before-period"
                if site.selected < first
                else ""
            )
            notes.append(
                "The published statistics count every A&E attendance at a member trust, wherever the "
                f"patient lives, and cover {first:%B %Y} to {last:%B %Y}{before}."
            )
        if self.providers is not None:
            absent = sorted(set(site.providers) - set(self.providers["org_code"]))
            if absent:
                notes.append(
                    f"{', '.join(absent)} {'is' if len(absent) == 1 else 'are'} not in the published "
                    "A&E statistics (no type 1 to 4 department of its own), so the pooled figure leaves "
                    "them out."
                )
        if self.indicators is not None:
            missing = sorted(set(site.providers) - set(self.indicators["code"]))
            if missing:
                notes.append(
                    f"The warehouse holds no events of {', '.join(missing)}, so there are no provider "
                    "indicators for them (a synthetic economy or a local extract covers some trusts only)."
                )
        notes.append(
            "Provider indicators count events by the trust on each event. A trust has no registered "
            "population, so indicators per registered patient give counts and no rate."
        )
        notes.append(
            f"What the collaboration itself changes ({site.description.rstrip('.')}) is measured only as "
            "far as these indicators reach it."
        )
        return notes


def _latest_complete_year(months: list[dt.date]) -> int | None:
    """The latest financial year with all 12 months present, else the latest with any."""
    years: dict[int, set[dt.date]] = {}
    for month in months:
        years.setdefault(financial_year(month), set()).add(month)
    if not years:
        return None
    complete = [year for year, seen in years.items() if len(seen) == 12]
    return max(complete) if complete else max(years)
