"""A small, readable warehouse for the indicator spec tests, built by hand (not by the generator).

Five real practices, fifteen people, April 2014 to March 2016. Every event table has an event in the
first and in the last month, so every indicator covers the same 24 months (two financial years).

| practice | vanguard site (care model) | CCG |
|---|---|---|
| P81004 | Fylde Coast (MCP) | 00R |
| P81006 | Fylde Coast (MCP) | 02M |
| B87001 | Connecting Care Wakefield (EHCH), West Yorkshire UEC network (UEC) | 03R |
| N85002 | Wirral Partners (PACS), Cheshire and Merseyside women's and children's (ACC) | 12F |
| A82004 | none: rest of England for every type | 01H |

The people, and what each is there to test, are described beside their rows.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from caremodels.warehouse import Warehouse

__all__ = ["FIXTURE_GROUPS", "build_fixture_warehouse", "write_groups_file"]

D = dt.date
T = dt.datetime

# person, practice, sex, month of birth (its 1st: the warehouse holds no full date of birth),
# registration start, end, end reason
REGISTRATIONS: list[tuple[Any, ...]] = [
    (
        "p01",
        "P81004",
        "2",
        D(1934, 6, 20),
        D(1990, 1, 1),
        D(2015, 11, 12),
        "death",
    ),  # care home; dies in hospital
    ("p02", "P81004", "1", D(1969, 5, 2), D(2000, 3, 1), None, None),
    (
        "p03",
        "P81004",
        "2",
        D(2014, 8, 20),
        D(2014, 8, 25),
        None,
        None,
    ),  # newborn: counted from September 2014
    (
        "p04",
        "P81006",
        "2",
        D(1984, 2, 10),
        D(2010, 1, 1),
        D(2015, 1, 15),
        "left",
    ),  # moves practice on the 15th
    ("p04", "B87001", "2", D(1984, 2, 10), D(2015, 1, 16), None, None),
    ("p05", "B87001", "1", D(1920, 3, 1), D(1995, 1, 1), None, None),  # care home resident throughout; 90+
    (
        "p06",
        "B87001",
        "2",
        D(1940, 2, 1),
        D(1980, 1, 1),
        None,
        None,
    ),  # born February 1940: 75 from February 2015
    ("p07", "N85002", "1", D(1954, 11, 30), D(1985, 1, 1), None, None),
    (
        "p08",
        "N85002",
        "2",
        D(1989, 7, 16),
        D(2014, 4, 15),
        None,
        None,
    ),  # starts on the 15th: counted in April
    ("p09", "A82004", "1", D(1964, 9, 15), D(2001, 1, 1), D(2015, 6, 14), "left"),  # ends on the 14th
    ("p10", "A82004", "9", D(1981, 12, 1), D(2012, 1, 1), None, None),  # sex not stated: not standardised
    ("p11", "P81006", "1", D(1929, 10, 5), D(1970, 1, 1), None, None),  # care home March-August 2015
    ("p12", "A82004", "2", D(1959, 3, 3), D(1999, 1, 1), None, None),
    (
        "p13",
        "N85002",
        "1",
        D(1930, 1, 1),
        D(1960, 1, 1),
        D(2014, 4, 20),
        "death",
    ),  # dies in hospital 18 April
    ("p14", "P81006", "1", D(1975, 6, 1), D(2005, 1, 1), D(2016, 3, 20), "left"),
    ("p15", "P81004", "1", D(1944, 12, 24), D(1970, 1, 1), None, None),  # COPD: frequent emergency admissions
]

# person, care home, type, aligned practice, first day, last day
CARE_HOME_RESIDENCE: list[tuple[Any, ...]] = [
    ("p01", "1-100000001", "nursing", "P81004", D(2014, 9, 1), D(2015, 11, 10)),
    ("p05", "1-100000002", "residential", "B87001", D(2013, 6, 1), None),
    ("p11", "1-100000003", "nursing", "P81006", D(2015, 3, 10), D(2015, 8, 31)),
]

# spell, person, practice, provider, admitted, discharged, ADMIMETH, ADMISORC, DISMETH, diagnosis, age, sex
APC_SPELLS: list[tuple[Any, ...]] = [
    ("s01", "p15", "P81004", "RXL", D(2014, 4, 3), D(2014, 4, 8), "21", "19", "1", "J440", 69, "1"),
    (
        "s02",
        "p15",
        "P81004",
        "RXL",
        D(2014, 4, 20),
        D(2014, 4, 20),
        "21",
        "19",
        "1",
        "J441",
        69,
        "1",
    ),  # readmitted day 12
    (
        "s03",
        "p02",
        "P81004",
        "RXL",
        D(2014, 5, 10),
        D(2014, 5, 10),
        "11",
        "19",
        "1",
        "K802",
        45,
        "1",
    ),  # elective
    (
        "s04",
        "p01",
        "P81004",
        "RXL",
        D(2014, 10, 2),
        D(2014, 10, 12),
        "21",
        "54",
        "1",
        "N390",
        80,
        "2",
    ),  # care home
    ("s05", "p01", "P81004", "RXL", D(2014, 11, 20), D(2014, 11, 22), "22", "54", "1", "J181", 80, "2"),
    ("s06", "p05", "B87001", "RXF", D(2014, 6, 5), D(2014, 6, 15), "21", "54", "1", "S720", 94, "1"),
    ("s07", "p05", "B87001", "RXF", D(2014, 7, 1), D(2014, 7, 3), "21", "54", "1", "I500", 94, "1"),
    ("s08", "p06", "B87001", "RXF", D(2015, 1, 15), D(2015, 1, 15), "21", "19", "1", "R074", 74, "2"),
    ("s09", "p06", "B87001", "RXF", D(2015, 2, 1), D(2015, 2, 4), "21", "19", "1", "I200", 75, "2"),
    (
        "s10",
        "p04",
        "P81006",
        "RXL",
        D(2014, 9, 9),
        D(2014, 9, 12),
        "31",
        "19",
        "1",
        "O800",
        30,
        "2",
    ),  # maternity
    (
        "s11",
        "p04",
        "B87001",
        "RXF",
        D(2015, 6, 1),
        D(2015, 6, 2),
        "12",
        "19",
        "1",
        "N979",
        31,
        "2",
    ),  # elective
    ("s12", "p07", "N85002", "RBL", D(2014, 8, 14), D(2014, 8, 18), "21", "19", "1", "I10X", 59, "1"),
    ("s13", "p07", "N85002", "RBL", D(2015, 8, 20), D(2015, 8, 20), "2A", "19", "1", "R55X", 60, "1"),
    ("s14", "p13", "N85002", "RBL", D(2014, 4, 10), D(2014, 4, 18), "21", "19", "4", "J189", 84, "1"),  # died
    ("s15", "p09", "A82004", "RTD", D(2014, 12, 1), D(2014, 12, 5), "21", "19", "1", "K250", 50, "1"),
    ("s16", "p10", "A82004", "RTD", D(2015, 3, 3), D(2015, 3, 4), "21", "19", "1", "L031", 33, "9"),
    (
        "s17",
        "p12",
        "A82004",
        "RTD",
        D(2015, 5, 5),
        D(2015, 5, 5),
        "13",
        "19",
        "1",
        "Z511",
        56,
        "2",
    ),  # elective
    (
        "s18",
        "p11",
        "P81006",
        "RXL",
        D(2015, 4, 1),
        D(2015, 4, 11),
        "21",
        "85",
        "1",
        "F019",
        85,
        "1",
    ),  # care home
    (
        "s19",
        "p11",
        "P81006",
        "RXL",
        D(2015, 9, 5),
        D(2015, 9, 7),
        "21",
        "19",
        "1",
        "E119",
        85,
        "1",
    ),  # home left
    (
        "s20",
        "p01",
        "P81004",
        "RXL",
        D(2015, 11, 1),
        D(2015, 11, 10),
        "21",
        "54",
        "4",
        "J440",
        81,
        "2",
    ),  # died
    ("s21", "p15", "P81004", "RXL", D(2015, 1, 10), D(2015, 1, 14), "21", "19", "1", "J441", 70, "1"),
    (
        "s22",
        "p15",
        "P81004",
        "RXL",
        D(2015, 2, 13),
        D(2015, 2, 13),
        "22",
        "19",
        "1",
        "J440",
        70,
        "1",
    ),  # day 30
    (
        "s23",
        "p15",
        "P81004",
        "RXL",
        D(2015, 3, 14),
        D(2015, 3, 15),
        "21",
        "19",
        "1",
        "J440",
        70,
        "1",
    ),  # day 29
    ("s24", "p15", "P81004", "RXL", D(2015, 12, 1), D(2015, 12, 3), "24", "19", "1", "J449", 71, "1"),
    ("s25", "p02", "P81004", "RXL", D(2015, 10, 10), D(2015, 10, 11), "21", "19", "1", "G409", 46, "1"),
    ("s26", "p08", "N85002", "RBL", D(2015, 7, 7), D(2015, 7, 9), "21", "19", "1", "N390", 25, "2"),
    ("s27", "p03", "P81004", "RXL", D(2015, 1, 5), D(2015, 1, 6), "21", "19", "1", "J069", 0, "2"),
    ("s28", "p14", "P81006", "RXL", D(2016, 3, 10), D(2016, 3, 12), "21", "19", "1", "K529", 40, "1"),
    ("s29", "p12", "A82004", "RTD", D(2016, 3, 25), D(2016, 3, 31), "11", "19", "1", "M171", 57, "2"),
    ("s30", "p07", "N85002", "RBL", D(2015, 12, 24), D(2015, 12, 29), "21", "19", "1", "I489", 61, "1"),
    ("s31", "p05", "B87001", "RXF", D(2016, 2, 2), D(2016, 2, 10), "21", "54", "1", "J440", 95, "1"),
    (
        "s32",
        "p06",
        "B87001",
        "RXF",
        D(2015, 10, 1),
        D(2015, 10, 1),
        "81",
        "19",
        "1",
        "Z038",
        75,
        "2",
    ),  # other
    ("s33", "p15", "P81004", "RXL", D(2016, 1, 20), D(2016, 1, 25), "21", "19", "1", "J440", 71, "1"),
]

# attendance, person, practice, provider, arrival, departure, type, mode (1 ambulance), disposal, age, sex
AE_ATTENDANCES: list[tuple[Any, ...]] = [
    ("a01", "p15", "P81004", "RXL", T(2014, 4, 3, 8), T(2014, 4, 3, 11, 30), "1", "1", "admitted", 69, "1"),
    (
        "a02",
        "p02",
        "P81004",
        "RXL",
        T(2014, 6, 1, 10),
        T(2014, 6, 1, 14),
        "1",
        "2",
        "discharged",
        45,
        "1",
    ),  # 4h
    (
        "a03",
        "p02",
        "P81004",
        "RXL",
        T(2014, 6, 20, 10),
        T(2014, 6, 20, 14, 0, 30),
        "1",
        "2",
        "discharged",
        45,
        "1",
    ),
    (
        "a04",
        "p01",
        "P81004",
        "RXL",
        T(2014, 10, 1, 22),
        T(2014, 10, 2, 11),
        "1",
        "1",
        "admitted",
        80,
        "2",
    ),  # 13h
    ("a05", "p05", "B87001", "RXF", T(2014, 6, 5, 3), T(2014, 6, 5, 6), "1", "1", "admitted", 94, "1"),
    ("a06", "p06", "B87001", "RXF", T(2015, 1, 15, 9), T(2015, 1, 15, 12), "1", "2", "admitted", 74, "2"),
    ("a07", "p04", "B87001", "RXF", T(2015, 3, 1, 12), T(2015, 3, 1, 13), "3", "2", "discharged", 31, "2"),
    (
        "a08",
        "p07",
        "N85002",
        "RBL",
        T(2014, 8, 14, 7),
        T(2014, 8, 14, 19),
        "1",
        "1",
        "admitted",
        59,
        "1",
    ),  # 12h
    ("a09", "p08", "N85002", "RBL", T(2015, 7, 7, 18), T(2015, 7, 7, 23, 59), "1", "2", "admitted", 25, "2"),
    ("a10", "p09", "A82004", "RTD", T(2014, 12, 1, 9), T(2014, 12, 1, 12), "1", "1", "admitted", 50, "1"),
    ("a11", "p10", "A82004", "RTD", T(2015, 3, 3, 10), T(2015, 3, 3, 11), "4", "2", "discharged", 33, "9"),
    (
        "a12",
        "p12",
        "A82004",
        "RTD",
        T(2015, 5, 5, 10),
        T(2015, 5, 5, 10, 45),
        "3",
        "2",
        "discharged",
        56,
        "2",
    ),
    ("a13", "p03", "P81004", "RXL", T(2015, 1, 5, 2), T(2015, 1, 5, 5), "1", "2", "admitted", 0, "2"),
    ("a14", "p14", "P81006", "RXL", T(2016, 3, 10, 9), T(2016, 3, 10, 16), "1", "1", "admitted", 40, "1"),
    ("a15", "p11", "P81006", "RXL", T(2015, 4, 1, 9), T(2015, 4, 1, 12, 30), "1", "1", "admitted", 85, "1"),
    ("a16", "p11", "P81006", "RXL", T(2015, 6, 20, 9), T(2015, 6, 20, 10), "3", "2", "discharged", 85, "1"),
    ("a17", "p05", "B87001", "RXF", T(2016, 3, 31, 23), T(2016, 4, 1, 2), "1", "1", "discharged", 96, "1"),
    ("a18", "p15", "P81004", "RXL", T(2015, 12, 1, 7), T(2015, 12, 1, 10), "1", "1", "admitted", 71, "1"),
    (
        "a19",
        "p02",
        "P81004",
        "RXL",
        T(2015, 8, 8, 15),
        T(2015, 8, 8, 15, 30),
        "2",
        "2",
        "discharged",
        46,
        "1",
    ),
    ("a20", "p01", "P81004", "RXL", T(2015, 11, 1, 6), T(2015, 11, 1, 10, 5), "1", "1", "admitted", 81, "2"),
]

# appointment, person, practice, provider, date, FIRSTATT, ATTENDED, specialty, age, sex
OP_ATTENDANCES: list[tuple[Any, ...]] = [
    ("o01", "p02", "P81004", "RXL", D(2014, 4, 10), "1", "5", "100", 44, "1"),
    ("o02", "p02", "P81004", "RXL", D(2014, 5, 20), "2", "5", "100", 45, "1"),
    ("o03", "p02", "P81004", "RXL", D(2014, 7, 1), "2", "3", "100", 45, "1"),  # did not attend
    ("o04", "p06", "B87001", "RXF", D(2014, 9, 9), "1", "6", "300", 74, "2"),
    ("o05", "p06", "B87001", "RXF", D(2014, 10, 10), "4", "5", "300", 74, "2"),
    ("o06", "p06", "B87001", "RXF", D(2014, 11, 11), "2", "2", "300", 74, "2"),  # cancelled by the patient
    ("o07", "p07", "N85002", "RBL", D(2015, 1, 20), "3", "5", "320", 60, "1"),  # first, by video
    ("o08", "p07", "N85002", "RBL", D(2015, 2, 20), "2", "7", "320", 60, "1"),  # late, not seen
    ("o09", "p08", "N85002", "RBL", D(2015, 3, 3), "1", "3", "502", 25, "2"),
    ("o10", "p12", "A82004", "RTD", D(2015, 4, 4), "1", "5", "110", 56, "2"),
    ("o11", "p12", "A82004", "RTD", D(2015, 5, 5), "2", "5", "110", 56, "2"),
    ("o12", "p12", "A82004", "RTD", D(2015, 6, 6), "2", "5", "110", 56, "2"),
    ("o13", "p04", "B87001", "RXF", D(2015, 7, 7), "3", "5", "502", 31, "2"),
    ("o14", "p04", "B87001", "RXF", D(2015, 8, 8), "4", "4", "502", 31, "2"),  # cancelled by the provider
    ("o15", "p11", "P81006", "RXL", D(2015, 9, 9), "1", "5", "430", 85, "1"),
    ("o16", "p14", "P81006", "RXL", D(2015, 10, 10), "1", "5", "100", 40, "1"),
    ("o17", "p14", "P81006", "RXL", D(2015, 11, 11), "2", "6", "100", 40, "1"),
    ("o18", "p10", "A82004", "RTD", D(2016, 1, 12), "1", "5", "180", 34, "9"),
    ("o19", "p03", "P81004", "RXL", D(2016, 3, 30), "1", "5", "420", 1, "2"),
]

# incident, person, practice, ambulance trust, call, category, conveyed, destination, age, sex
AMBULANCE_INCIDENTS: list[tuple[Any, ...]] = [
    ("m01", "p15", "P81004", "RX7", T(2014, 4, 3, 7, 30), "2", "Y", "RXL", 69, "1"),
    ("m02", "p01", "P81004", "RX7", T(2014, 10, 1, 21, 30), "2", "Y", "RXL", 80, "2"),
    ("m03", "p01", "P81004", "RX7", T(2015, 2, 14, 11), "3", "N", None, 80, "2"),
    ("m04", "p05", "B87001", "RX8", T(2014, 6, 5, 2, 30), "1", "Y", "RXF", 94, "1"),
    ("m05", "p05", "B87001", "RX8", T(2015, 9, 9, 9), "4", "N", None, 95, "1"),
    ("m06", "p07", "N85002", "RX9", T(2014, 8, 14, 6, 30), "2", "Y", "RBL", 59, "1"),
    ("m07", "p09", "A82004", "RX6", T(2014, 12, 1, 8, 30), "2", "Y", "RTD", 50, "1"),
    ("m08", "p11", "P81006", "RX7", T(2015, 4, 1, 8, 30), "2", "Y", "RXL", 85, "1"),
    ("m09", "p14", "P81006", "RX7", T(2016, 3, 10, 8, 30), "2", "Y", "RXL", 40, "1"),
    ("m10", "p12", "A82004", "RX6", T(2015, 11, 11, 11, 11), "3", "N", None, 56, "2"),
    ("m11", "p06", "B87001", "RX8", T(2016, 3, 31, 23, 59, 59), "3", "N", None, 76, "2"),
]

# referral, person, practice, provider, date, specialty, priority, advice request
REFERRALS: list[tuple[Any, ...]] = [
    ("r01", "p02", "P81004", "RXL", D(2014, 4, 1), "100", "routine", None),
    ("r02", "p06", "B87001", "RXF", D(2014, 8, 20), "300", "urgent", None),
    ("r03", "p07", "N85002", "RBL", D(2014, 12, 12), "320", "two_week_wait", None),
    ("r04", "p12", "A82004", "RTD", D(2015, 3, 15), "110", "routine", "g02"),
    ("r05", "p08", "N85002", "RBL", D(2015, 2, 1), "502", "routine", None),
    ("r06", "p04", "B87001", "RXF", D(2015, 6, 30), "502", "two_week_wait", None),
    ("r07", "p11", "P81006", "RXL", D(2015, 8, 30), "430", "routine", None),
    ("r08", "p14", "P81006", "RXL", D(2015, 9, 30), "100", "routine", "g05"),
    ("r09", "p10", "A82004", "RTD", D(2015, 12, 1), "180", "urgent", None),
    ("r10", "p03", "P81004", "RXL", D(2016, 3, 1), "420", "routine", None),
]

# request, person, practice, provider, asked, answered, specialty, outcome
ADVICE_AND_GUIDANCE: list[tuple[Any, ...]] = [
    ("g01", "p02", "P81004", "RXL", D(2014, 4, 15), D(2014, 4, 17), "100", "referral_avoided"),
    ("g02", "p12", "A82004", "RTD", D(2015, 3, 1), D(2015, 3, 5), "110", "referred"),
    ("g03", "p06", "B87001", "RXF", D(2014, 11, 11), D(2014, 11, 12), "300", "referral_avoided"),
    ("g04", "p07", "N85002", "RBL", D(2015, 5, 5), D(2015, 5, 6), "320", "referral_avoided"),
    ("g05", "p14", "P81006", "RXL", D(2015, 9, 20), D(2015, 9, 25), "100", "referred"),
    ("g06", "p01", "P81004", "RXL", D(2015, 6, 6), None, "430", "referral_avoided"),
    ("g07", "p11", "P81006", "RXL", D(2016, 3, 3), D(2016, 3, 4), "430", "referral_avoided"),
]

PRACTICES = ("P81004", "P81006", "B87001", "N85002", "A82004")


def prescribing_rows() -> list[tuple[Any, ...]]:
    """Practice x month x BNF chapter (02 cardiovascular, 04 central nervous system): items rise by one
    a month from 100 + 10 per practice; chapter 02 costs £7.50 an item, chapter 04 £3.25."""
    rows = []
    for practice_number, practice in enumerate(PRACTICES):
        for month_number in range(24):
            month = D(2014 + (3 + month_number) // 12, (3 + month_number) % 12 + 1, 1)
            items = 100 + 10 * practice_number + month_number
            rows.append((practice, month, "02", items, items * 7.5))
            rows.append((practice, month, "04", items, items * 3.25))
    return rows


FIXTURE_GROUPS = {
    "Fylde": ("P81004", "P81006"),
    "Wakefield and Wirral": ("B87001", "N85002"),
    "Bay group": ("P81004", "A82004"),
}


def write_groups_file(path: Path) -> Path:
    """The practice groups (for the pcn and group levels) as a CSV."""
    lines = ["group,practice_code"] + [
        f"{group},{practice}" for group, members in FIXTURE_GROUPS.items() for practice in members
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


_COLUMNS = {
    "gp_registrations": (
        "person_id, practice_code, sex, birth_month, registration_start, registration_end, end_reason"
    ),
    "care_home_residence": (
        "person_id, care_home_id, care_home_type, practice_code, residence_start, residence_end"
    ),
    "apc_spells": (
        "spell_id, person_id, gp_practice_code, provider_code, admission_date, discharge_date, "
        "admission_method, admission_source, discharge_method, primary_diagnosis, age, sex"
    ),
    "ae_attendances": (
        "attendance_id, person_id, gp_practice_code, provider_code, arrival_time, departure_time, "
        "department_type, arrival_mode, disposal, age, sex"
    ),
    "op_attendances": (
        "appointment_id, person_id, gp_practice_code, provider_code, appointment_date, first_attendance, "
        "attended, treatment_specialty, age, sex"
    ),
    "ambulance_incidents": (
        "incident_id, person_id, gp_practice_code, ambulance_trust_code, call_time, category, conveyed, "
        "destination_provider_code, age, sex"
    ),
    "referrals": (
        "referral_id, person_id, gp_practice_code, provider_code, referral_date, treatment_specialty, "
        "priority, advice_request_id"
    ),
    "advice_and_guidance": (
        "request_id, person_id, gp_practice_code, provider_code, request_date, response_date, "
        "treatment_specialty, outcome"
    ),
    "prescribing": "practice_code, month, bnf_chapter, items, actual_cost",
}


def build_fixture_warehouse(path: Path) -> Path:
    """Create the fixture warehouse at ``path`` (a new DuckDB file) and return ``path``."""
    tables = {
        "gp_registrations": [(*r[:3], r[3].replace(day=1), *r[4:]) for r in REGISTRATIONS],
        "care_home_residence": CARE_HOME_RESIDENCE,
        "apc_spells": APC_SPELLS,
        "ae_attendances": AE_ATTENDANCES,
        "op_attendances": OP_ATTENDANCES,
        "ambulance_incidents": AMBULANCE_INCIDENTS,
        "referrals": REFERRALS,
        "advice_and_guidance": ADVICE_AND_GUIDANCE,
        "prescribing": prescribing_rows(),
    }
    with Warehouse(path) as warehouse, warehouse.transaction() as connection:
        for table, rows in tables.items():
            columns = _COLUMNS[table]
            marks = ", ".join("?" for _ in columns.split(","))
            connection.executemany(
                f"INSERT INTO {table} ({columns}, batch_id) VALUES ({marks}, 'fixture')",
                [list(r) for r in rows],
            )
    return path
