"""What an indicator definition may refer to in the warehouse: the event tables, their practice and
key columns, and the derived fields computed from two columns of one row.

Boundaries: this module only describes tables (from ``caremodels.warehouse.schema``); it reads no
data. Every engine computes derived fields exactly as described here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from caremodels.warehouse.schema import SOURCE_TABLES, ColumnType

__all__ = [
    "EVENT_TABLES",
    "DerivedField",
    "EventTable",
    "EventTableName",
    "field_type",
]

EventTableName = Literal[
    "apc_spells",
    "ae_attendances",
    "op_attendances",
    "ambulance_incidents",
    "referrals",
    "advice_and_guidance",
    "prescribing",
    "gp_registrations",
]


@dataclass(frozen=True)
class DerivedField:
    """A number computed from two date or timestamp columns of the same row.

    ``days_between``: whole days from ``start`` to ``end`` (dates). ``minutes_between``: elapsed
    minutes, with seconds as a fraction, from ``start`` to ``end`` (timestamps). Missing if either
    column is missing.
    """

    name: str
    kind: Literal["days_between", "minutes_between"]
    start: str
    end: str
    description: str


@dataclass(frozen=True)
class EventTable:
    """A warehouse table whose rows can be counted as events."""

    name: EventTableName
    practice_column: str
    key: tuple[str, ...]
    """Columns identifying one row (the canonical schema's key)."""
    description: str
    derived: tuple[DerivedField, ...] = field(default_factory=tuple)

    @property
    def has_person(self) -> bool:
        return SOURCE_TABLES[self.name].has_person

    def derived_field(self, name: str) -> DerivedField | None:
        for derived in self.derived:
            if derived.name == name:
                return derived
        return None


EVENT_TABLES: dict[str, EventTable] = {
    table.name: table
    for table in (
        EventTable(
            "apc_spells",
            "gp_practice_code",
            ("spell_id",),
            "hospital provider spells",
            (
                DerivedField(
                    "length_of_stay_days",
                    "days_between",
                    "admission_date",
                    "discharge_date",
                    "Days from admission to discharge: 0 for a same-day (zero-length) stay; also the "
                    "spell's bed days.",
                ),
            ),
        ),
        EventTable(
            "ae_attendances",
            "gp_practice_code",
            ("attendance_id",),
            "A&E attendances",
            (
                DerivedField(
                    "duration_minutes",
                    "minutes_between",
                    "arrival_time",
                    "departure_time",
                    "Minutes from arrival to admission, transfer or discharge (the 4-hour clock).",
                ),
            ),
        ),
        EventTable("op_attendances", "gp_practice_code", ("appointment_id",), "outpatient appointments"),
        EventTable("ambulance_incidents", "gp_practice_code", ("incident_id",), "ambulance incidents"),
        EventTable("referrals", "gp_practice_code", ("referral_id",), "GP referrals"),
        EventTable(
            "advice_and_guidance",
            "gp_practice_code",
            ("request_id",),
            "advice and guidance requests",
            (
                DerivedField(
                    "response_days",
                    "days_between",
                    "request_date",
                    "response_date",
                    "Days from the GP's request to the specialist's answer (missing if unanswered).",
                ),
            ),
        ),
        EventTable(
            "prescribing",
            "practice_code",
            ("practice_code", "month", "bnf_chapter"),
            "prescribing by practice, month and BNF chapter",
        ),
        EventTable(
            "gp_registrations",
            "practice_code",
            ("person_id", "practice_code", "registration_start"),
            "registrations (as events: their ends)",
        ),
    )
}


def field_type(table: str, name: str) -> ColumnType:
    """The type of a column or derived field of an event table; raises ``KeyError`` if unknown."""
    event_table = EVENT_TABLES[table]
    derived = event_table.derived_field(name)
    if derived is not None:
        return "integer" if derived.kind == "days_between" else "float"
    if name == "nhs_number":
        raise KeyError(name)
    return SOURCE_TABLES[table].column(name).type
