"""An attacker's script against the disclosure control: everything a warehouse publishes (the CLI's
indicator exports at every level and period, and every API route and CSV download of the dashboard,
crawled in process), then three attacks that try to get a true count back:

- interval inversion: ``ci_low / value`` and ``ci_high / value`` matched against the Poisson (exact
  below 10, Byar from 10) and Wilson limits of every candidate count, within the precision printed;
- rate x denominator: ``value x denominator / multiplier`` (and x person-years) as a whole number;
- differencing: a suppressed count as its parent minus its published children (practices in a CCG,
  site or England, CCGs in England, a care model and the rest of England, months in a quarter, year
  or rolling year, two consecutive rolling years), with each published count known to +/- half the
  rounding, and counts already recovered by the other attacks taken as exact;
- complements: a proportion's denominator minus its numerator.

A claim is a count the attacker pins to one whole number that is finer than what is published (a
suppressed count, or a rounded count). For the CLI exports the truth is known and each claim is
checked against it; the figures printed are claims, correct claims, and correct claims of 1-7.

    .venv/bin/python validation/disclosure_attack.py [--scale tiny] [--seed 20150310] [--no-dashboard]

It builds a synthetic economy of that scale, loads it into a temporary warehouse and attacks it.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import math
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from caremodels.indicators.output import additive_relations
from caremodels.stats import poisson_count_limits

MULTIPLIERS = (1, 100, 1000, 10_000, 100_000)
ENGLAND = "E92000001"
PERIODS = ("month", "quarter", "financial_year", "rolling_12_months")
# Indicators whose explorer answers are fetched for every period, not only the latest: a crude rate,
# a standardised rate, a proportion and bed days (as the fast test attacks).
EVERY_PERIOD = (
    "emergency_admissions",
    "emergency_admissions_standardised",
    "ae_four_hour_performance",
    "emergency_bed_days",
)
DASHBOARD_LEVELS = {
    "all": "england",
    "care_model": "care_model",
    "site": "site",
    "ccg": "ccg",
    "practice": "practice",
}
MAX_COUNT = 20_000
ROUND_TO = 5
SMALL = range(1, 8)
CANDIDATES = np.arange(1, MAX_COUNT + 1, dtype=np.float64)
_LIMITS = poisson_count_limits(CANDIDATES)
LOW_RATIO = _LIMITS.lower / CANDIDATES
HIGH_RATIO = _LIMITS.upper / CANDIDATES


@dataclass
class Cell:
    """One published figure with what was printed beside it."""

    source: str
    numerator: float | None = None
    denominator: float | None = None
    value: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    person_years: float | None = None
    suppressed: bool = False
    key: tuple[Any, ...] | None = None  # (indicator_id, level, code, period, start, end) when known


@dataclass(frozen=True)
class Claim:
    cell: int
    count: int
    method: str


@dataclass
class Report:
    cells: int = 0
    claims: list[Claim] = field(default_factory=list)
    correct: int = 0
    correct_small: int = 0
    checked: bool = False
    bounded: int = 0  # suppressed counts that are the one unknown of a relation
    inconsistent: int = 0  # rows published differently by two answers

    def line(self, label: str) -> str:
        if not self.checked:
            return f"{label}: {self.cells:,} published figures, {len(self.claims):,} counts claimed"
        return (
            f"{label}: {self.cells:,} published figures, {len(self.claims):,} counts claimed, "
            f"{self.correct:,} correct, {self.correct_small:,} correct counts of 1-7, "
            f"{self.inconsistent:,} rows published differently by two answers"
        )


def _number(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, str):
        if value.strip() in ("", "suppressed", "withheld"):
            return None
        try:
            value = float(value)
        except ValueError:
            return None
    if isinstance(value, int | float | np.integer | np.floating):
        number = float(value)
        return number if math.isfinite(number) else None
    return None


def _half_unit(value: float) -> float:
    """Half a unit in the last digit printed: the precision a reader has."""
    text = repr(float(value)).lower()
    mantissa, _, exponent = text.partition("e")
    digits = mantissa.lstrip("-")
    decimals = len(digits.partition(".")[2].rstrip("0")) if "." in digits else 0
    if decimals == 0 and "." in digits:
        decimals = 0
    return 0.5 * 10.0 ** (-decimals + (int(exponent) if exponent else 0))


def cells_from_json(document: Any, source: str) -> list[Cell]:
    """Every mapping in a JSON answer that carries a value or counts."""
    found: list[Cell] = []

    def walk(node: Any, context: dict[str, Any]) -> None:
        if isinstance(node, dict):
            here = {**context, **{k: v for k, v in node.items() if isinstance(v, str | int)}}
            indicator = node.get("indicator")
            if isinstance(indicator, dict) and isinstance(indicator.get("id"), str):
                here["indicator_id"] = indicator["id"]
            if "value" in node or "numerator" in node or "events" in node:
                found.append(_cell(node, source, here))
            for item in node.values():
                walk(item, here)
        elif isinstance(node, list):
            for item in node:
                walk(item, context)

    walk(document, {})
    return found


def _cell(row: dict[str, Any], source: str, context: dict[str, Any]) -> Cell:
    numerator = _number(row.get("numerator", row.get("events")))
    denominator = _number(row.get("denominator"))
    flag = row.get("suppressed")
    # A CSV says "True" or "False": text, which bool() would take as true either way.
    suppressed = (str(flag).strip().lower() in ("true", "1") if isinstance(flag, str) else bool(flag)) or (
        ("numerator" in row or "events" in row) and numerator is None
    )
    key = None
    if "level" not in context and context.get("geography") in DASHBOARD_LEVELS:
        # The dashboard's geographies as indicator levels (all practices is England).
        level = DASHBOARD_LEVELS[str(context["geography"])]
        code = ENGLAND if level == "england" else context.get("code")
        context = {**context, "level": level, "code": code, "period": _period_kind(context)}
    if {"indicator_id", "level", "code", "period_start", "period_end"} <= set(context):
        if context.get("period") not in PERIODS:
            context = {**context, "period": _period_kind(context)}
        key = tuple(
            str(context[k]) for k in ("indicator_id", "level", "code", "period", "period_start", "period_end")
        )
    return Cell(
        source=source,
        numerator=numerator,
        denominator=denominator,
        value=_number(row.get("value", row.get("rate"))),
        ci_low=_number(row.get("ci_low")),
        ci_high=_number(row.get("ci_high")),
        person_years=_number(row.get("person_years")),
        suppressed=suppressed,
        key=key,
    )


def _period_kind(context: dict[str, Any]) -> str:
    """A period's kind from its dates (a rolling year that ends in March is the financial year)."""
    start, end = pd.Timestamp(str(context["period_start"])), pd.Timestamp(str(context["period_end"]))
    months = (end.year - start.year) * 12 + end.month - start.month + 1
    if months == 1:
        return "month"
    if months == 3:
        return "quarter"
    return "financial_year" if start.month == 4 else "rolling_12_months"


def cells_from_csv(text: str, source: str) -> list[Cell]:
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    return [_cell(dict(row), source, dict(row)) for row in csv.DictReader(io.StringIO("\n".join(lines)))]


def cells_from_table(published: pd.DataFrame, source: str) -> list[Cell]:
    records = published.astype(object).where(published.notna(), None).to_dict("records")
    return [
        _cell(
            row,
            source,
            {**row, "period_start": str(row["period_start"]), "period_end": str(row["period_end"])},
        )
        for row in records
    ]


def _range_of(cell: Cell) -> tuple[float, float]:
    if cell.numerator is not None:
        return cell.numerator - ROUND_TO / 2, cell.numerator + ROUND_TO / 2
    if cell.suppressed:
        return 1, 7
    return 1, MAX_COUNT


def invert_intervals(cell: Cell) -> set[int] | None:
    """Counts whose Poisson or Wilson limits give the printed ratios (None: nothing to invert)."""
    if cell.value is None or cell.value <= 0 or (cell.ci_low is None and cell.ci_high is None):
        return None
    low_range, high_range = _range_of(cell)
    first, last = max(1, math.ceil(low_range)), min(MAX_COUNT, math.floor(high_range))
    if first > last:
        return set()
    window = slice(first - 1, last)
    candidates = CANDIDATES[window]
    matches = np.ones(len(candidates), dtype=bool)
    value_error = _half_unit(cell.value) / cell.value
    for limit, ratios in ((cell.ci_low, LOW_RATIO), (cell.ci_high, HIGH_RATIO)):
        if limit is None:
            continue
        ratio = limit / cell.value
        error = ratio * (value_error + (_half_unit(limit) / limit if limit else 0.0)) + 1e-12
        matches &= np.abs(ratios[window] - ratio) <= error
    found = {int(count) for count in candidates[matches]}
    found |= _wilson_matches(cell)
    return found


def _wilson_matches(cell: Cell) -> set[int]:
    if cell.numerator is None or cell.denominator is None or cell.ci_low is None or cell.ci_high is None:
        return set()
    if cell.value is None or cell.value <= 0 or cell.denominator > 50_000:
        return set()
    z = 1.959963984540054
    ks = np.arange(max(1, cell.numerator - 2), cell.numerator + 3, dtype=np.float64)
    ns = np.arange(max(1, cell.denominator - 2), cell.denominator + 3, dtype=np.float64)
    k, n = np.meshgrid(ks, ns)
    valid = k <= n
    with np.errstate(invalid="ignore", divide="ignore"):
        root = z * np.sqrt(z * z + 4 * k * (1 - k / n))
        low = (2 * k + z * z - root) / (2 * (n + z * z)) / (k / n)
        high = (2 * k + z * z + root) / (2 * (n + z * z)) / (k / n)
    value_error = _half_unit(cell.value) / cell.value
    low_ratio, high_ratio = cell.ci_low / cell.value, cell.ci_high / cell.value
    ok = (
        valid
        & (
            np.abs(low - low_ratio)
            <= low_ratio * (value_error + _half_unit(cell.ci_low) / cell.ci_low) + 1e-12
        )
        & (
            np.abs(high - high_ratio)
            <= high_ratio * (value_error + _half_unit(cell.ci_high) / cell.ci_high) + 1e-12
        )
    )
    return {int(count) for count in k[ok]}


def rate_times_denominator(cell: Cell) -> set[int] | None:
    """Whole numbers that ``value x denominator / multiplier`` can be, for a multiplier that fits."""
    base = cell.person_years if cell.person_years is not None else cell.denominator
    if cell.value is None or base is None or base <= 0:
        return None
    low_range, high_range = _range_of(cell)
    base_error = 0.0 if cell.person_years is not None else ROUND_TO / 2
    for multiplier in MULTIPLIERS:
        estimate = cell.value * base / multiplier
        error = cell.value / multiplier * base_error + _half_unit(cell.value) * base / multiplier
        if low_range - error <= estimate <= high_range + error:
            low, high = (
                math.ceil(max(estimate - error, low_range)),
                math.floor(min(estimate + error, high_range)),
            )
            if low <= high:
                return set(range(low, high + 1))
    return None


def _claim(found: set[int] | None, cell: Cell) -> int | None:
    if not found or len(found) != 1:
        return None
    (count,) = found
    if cell.numerator is not None and count == cell.numerator:
        return None  # no finer than published
    return count


def attack(cells: list[Cell], truth: dict[tuple[Any, ...], float] | None = None) -> Report:
    report = Report(cells=len(cells), checked=truth is not None)
    exact: dict[int, int] = {}
    for index, cell in enumerate(cells):
        for method, found in (
            ("interval inversion", invert_intervals(cell)),
            ("rate x denominator", rate_times_denominator(cell)),
        ):
            count = _claim(found, cell)
            if count is not None:
                report.claims.append(Claim(index, count, method))
                exact[index] = count
                break
        if cell.numerator is not None and cell.denominator is not None and cell.numerator <= cell.denominator:
            low = cell.denominator - cell.numerator - ROUND_TO
            high = cell.denominator - cell.numerator + ROUND_TO
            # A proportion's complement is published unless it is small: never pinned unless width 0.
            if low == high and low in SMALL:
                report.claims.append(Claim(index, int(low), "complement"))
    claims, bounded, inconsistent = differencing(cells, exact)
    report.claims.extend(claims)
    report.bounded, report.inconsistent = bounded, inconsistent
    if truth is not None:
        for claim in report.claims:
            key = cells[claim.cell].key
            true = truth.get(key) if key is not None else None
            if true is not None and round(true) == claim.count:
                report.correct += 1
                report.correct_small += claim.count in SMALL
    return report


def differencing(cells: list[Cell], exact: dict[int, int]) -> tuple[list[Claim], int, int]:
    """Suppressed counts as a parent minus its children, within each source's table and across all
    of them (each row as first published: an attacker combines answers). Also returns how many
    suppressed counts were the one unknown of a relation (bounded by arithmetic on the others) and
    how many rows two answers published differently."""
    keyed: list[int] = []
    first: dict[tuple[Any, ...], int] = {}
    inconsistent: set[tuple[Any, ...]] = set()
    for index, cell in enumerate(cells):
        if cell.key is None:
            continue
        keyed.append(index)
        seen = first.setdefault(cell.key, index)
        if seen != index and (cells[seen].numerator, cells[seen].suppressed) != (
            cell.numerator,
            cell.suppressed,
        ):
            inconsistent.add(cell.key)
    if len({cells[index].source for index in keyed}) > 1:
        keyed += [-1 - index for index in first.values()]  # the pooled table: negative positions
    if not keyed:
        return [], 0, 0
    frame = pd.DataFrame(
        [
            dict(
                zip(
                    ("indicator_id", "level", "code", "period", "period_start", "period_end"),
                    cells[i if i >= 0 else -1 - i].key or (),
                    strict=True,
                )
            )
            for i in keyed
        ]
    )
    for column in ("period_start", "period_end"):
        frame[column] = pd.to_datetime(frame[column]).dt.date
    frame["source"] = [cells[i].source if i >= 0 else "(every answer)" for i in keyed]
    claims: list[Claim] = []
    bounded: set[int] = set()
    for _, table in frame.groupby("source"):
        positions = np.array([keyed[i] if keyed[i] >= 0 else -1 - keyed[i] for i in table.index])
        relations = additive_relations(table.drop(columns="source").reset_index(drop=True))
        periods = table["period"].to_numpy()
        kinds, levels = table["period"].to_numpy(), table["level"].to_numpy()
        for relation in relations:
            if not _complete(relation, kinds, levels):
                continue  # not every child was published to the attacker: no equation
            members = positions[relation]
            rolling = (
                len(relation) == 4
                and len(set(levels[relation])) == 1
                and periods[relation[0]] == periods[relation[1]] == "rolling_12_months"
            )
            signs = np.array([1, -1, -1, 1]) if rolling else np.array([1] + [-1] * (len(relation) - 1))
            lows, highs, unknown = [], [], []
            for sign, member in zip(signs, members, strict=True):
                cell = cells[member]
                if member in exact:
                    low = high = float(exact[member])
                elif cell.numerator is not None:
                    low, high = max(0.0, cell.numerator - ROUND_TO / 2), cell.numerator + ROUND_TO / 2
                elif cell.suppressed:
                    unknown.append((sign, member))
                    low, high = 0.0, math.inf
                else:
                    low, high = 0.0, math.inf
                lows.append(sign * low if sign > 0 else sign * high)
                highs.append(sign * high if sign > 0 else sign * low)
            for sign, member in unknown:
                index = list(members).index(member)
                other_low = sum(low for j, low in enumerate(lows) if j != index)
                other_high = sum(high for j, high in enumerate(highs) if j != index)
                if not (math.isfinite(other_low) and math.isfinite(other_high)):
                    continue  # another unknown with no upper bound: nothing pins this one
                bounded.add(int(member))
                # sign * x + others = 0, so x = -others / sign.
                bounds = sorted((-other_low / sign, -other_high / sign))
                low, high = max(1, math.ceil(bounds[0] - 1e-9)), min(7, math.floor(bounds[1] + 1e-9))
                if low == high and all(claim.cell != member for claim in claims):
                    claims.append(Claim(int(member), int(low), "differencing"))
    return claims, len(bounded), len(inconsistent)


def _complete(relation: np.ndarray, kinds: np.ndarray, levels: np.ndarray) -> bool:
    """Whether a period relation holds every child its parent sums (an area relation is as
    complete as the answers: the explorer lists every area of a geography)."""
    if len(relation) < 2:
        return False  # an area none of whose practices was published
    if len(set(levels[relation])) > 1:
        return True
    parent, children = kinds[relation[0]], set(kinds[relation[1:]])
    if parent == kinds[relation[1]]:
        return len(relation) == 4  # two rolling years, the month that entered and the one that left
    if children <= {"month"} and parent in ("quarter", "financial_year", "rolling_12_months"):
        return len(relation) - 1 == (3 if parent == "quarter" else 12)
    if children <= {"quarter"} and parent == "financial_year":
        return len(relation) - 1 == 4
    return True


# --- Crawling ------------------------------------------------------------------------------------


def crawl_dashboard(
    client: Any, *, indicator_limit: int | None = None, every_period: Collection[str] = ()
) -> Iterator[tuple[str, str, Any]]:
    """Every GET route of the app with every value of its path and choice parameters that the app
    lists (sites, indicators, geographies, period kinds): (url, kind, body). For the indicators in
    ``every_period``, an answer that lists its ``periods`` is fetched again for each of them, so that
    months, quarters and years of one area can be differenced."""
    schema = client.get("/openapi.json").json()
    sites = [site["id"] for site in client.get("/api/sites").json() if site.get("registered_in_warehouse")]
    indicators = [item["id"] for item in client.get("/api/indicators").json()]
    if indicator_limit is not None:
        indicators = indicators[:indicator_limit]
    choices = _choices(schema)
    for path, item in schema["paths"].items():
        if "get" not in item:
            continue
        query = [p for p in item["get"].get("parameters", []) if p["in"] == "query" and p["name"] in choices]
        for concrete in _fill(path, sites, indicators):
            for combination in _combinations([(p["name"], choices[p["name"]]) for p in query]):
                url = concrete + ("?" + "&".join(f"{k}={v}" for k, v in combination) if combination else "")
                response = client.get(url)
                if response.status_code != 200:
                    continue
                kind = "csv" if url.split("?")[0].endswith(".csv") else "json"
                body = response.text if kind == "csv" else response.json()
                yield url, kind, body
                if kind == "json" and isinstance(body, dict) and "period=" not in url:
                    summary = body.get("indicator")
                    indicator = summary.get("id") if isinstance(summary, dict) else None
                    for period in body.get("periods") or [] if indicator in every_period else []:
                        if period == body.get("period"):
                            continue
                        other = f"{url}{'&' if '?' in url else '?'}period={period}"
                        again = client.get(other)
                        if again.status_code == 200:
                            yield other, "json", again.json()


def _choices(schema: dict[str, Any]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for item in schema["paths"].values():
        for parameter in item.get("get", {}).get("parameters", []):
            spec = parameter.get("schema", {})
            enum = spec.get("enum") or next(
                (s.get("enum") for s in spec.get("anyOf", []) if s.get("enum")), None
            )
            if enum and parameter["in"] == "query":
                found[parameter["name"]] = [str(value) for value in enum]
    return found


def _combinations(options: list[tuple[str, list[str]]]) -> Iterable[list[tuple[str, str]]]:
    if not options:
        yield []
        return
    (name, values), rest = options[0], options[1:]
    for value in values:
        for tail in _combinations(rest):
            yield [(name, value), *tail]


def _fill(path: str, sites: list[str], indicators: list[str]) -> Iterable[str]:
    if "{" not in path:
        yield path
        return
    site_values = sites if "{site_id}" in path else [""]
    indicator_values = indicators if "{indicator_id}" in path else [""]
    for site in site_values:
        for indicator in indicator_values:
            filled = path.replace("{site_id}", site).replace("{indicator_id}", indicator)
            if "{" not in filled:
                yield filled


def dashboard_cells(
    client: Any, *, indicator_limit: int | None = None, every_period: Collection[str] = ()
) -> tuple[list[Cell], int]:
    cells: list[Cell] = []
    pages = 0
    for url, kind, body in crawl_dashboard(
        client, indicator_limit=indicator_limit, every_period=every_period
    ):
        pages += 1
        cells.extend(cells_from_csv(body, url) if kind == "csv" else cells_from_json(body, url))
    return cells, pages


def cli_tables(warehouse: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every indicator at every level (but pcn and group, which need a file) and period, true and
    published, as ``caremodels indicators compute`` writes them."""
    from caremodels.indicators import publish

    true = true_table(warehouse)
    return true, publish(true)


def true_table(warehouse: Path) -> pd.DataFrame:
    """Every indicator at every level (but pcn and group) and period, as computed (true counts)."""
    from caremodels.indicators import LEVELS, PERIOD_KINDS, catalogue, indicator_results_many
    from caremodels.indicators.output import open_engine

    levels = [level for level in LEVELS if level not in ("pcn", "group")]
    engine = open_engine("duckdb", warehouse)
    try:
        results = indicator_results_many(engine, list(catalogue()), levels=levels, periods=PERIOD_KINDS)
    finally:
        engine.close()
    return pd.concat(list(results.values()), ignore_index=True)


def truth_of(true: pd.DataFrame) -> dict[tuple[Any, ...], float]:
    return {
        (
            row.indicator_id,
            row.level,
            row.code,
            row.period,
            str(row.period_start),
            str(row.period_end),
        ): float(row.numerator)
        for row in true.itertuples()
    }


def build_warehouse(folder: Path, *, scale: str, seed: int) -> Path:
    """A synthetic economy of ``scale``, every table loaded into ``folder/warehouse.duckdb``."""
    import secrets

    from caremodels.ingest import Pseudonymiser, load_file
    from caremodels.synth import SynthConfig, default_effects_path, generate, load_effects
    from caremodels.warehouse import Warehouse

    config = SynthConfig(scale=scale, seed=seed, effects=load_effects(default_effects_path()))  # type: ignore[arg-type]
    economy = generate(config, folder / "synthetic")
    path = folder / "warehouse.duckdb"
    pseudonymiser = Pseudonymiser(secrets.token_bytes(32))
    files = sorted(
        economy.files.values(), key=lambda file: (not file.name.startswith("gp_registrations"), file.name)
    )
    with Warehouse(path) as warehouse:
        for file in files:
            load_file(warehouse, file, pseudonymiser=pseudonymiser)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scale", default="tiny")
    parser.add_argument("--seed", type=int, default=20150310)
    parser.add_argument("--no-dashboard", action="store_true")
    parser.add_argument("--no-cli", action="store_true", help="Attack the dashboard only.")
    parser.add_argument("--warehouse", type=Path, help="Attack this warehouse instead of building one.")
    arguments = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        if arguments.warehouse:
            warehouse = arguments.warehouse
        else:
            warehouse = build_warehouse(Path(folder), scale=arguments.scale, seed=arguments.seed)
            seconds = time.perf_counter() - started
            print(f"warehouse of scale {arguments.scale} (seed {arguments.seed}) built in {seconds:.0f} s")
        if arguments.no_cli:
            true = true_table(warehouse)
        else:
            true, published = cli_tables(warehouse)
            report = attack(cells_from_table(published, "caremodels indicators compute"), truth_of(true))
            print(f"CLI: {int(published['suppressed'].sum()):,} of {len(published):,} rows suppressed")
            print(report.line("CLI exports (all indicators, levels, periods)"))
            print(f"  claims by method: {_by_method(report) or 'none'}")
            print(f"  suppressed counts bounded by differencing: {report.bounded:,}")
        if not arguments.no_dashboard:
            with served_dashboard(warehouse) as client:
                cells, pages = dashboard_cells(client, every_period=EVERY_PERIOD)
            dashboard = attack(cells, truth_of(true))
            print(f"dashboard: {pages:,} API answers and downloads crawled over HTTP")
            print(dashboard.line("dashboard"))
            print(f"  claims by method: {_by_method(dashboard) or 'none'}")
            print(f"  suppressed counts bounded by differencing: {dashboard.bounded:,}")
    return 0


def _by_method(report: Report) -> dict[str, int]:
    by_method: dict[str, int] = {}
    for claim in report.claims:
        by_method[claim.method] = by_method.get(claim.method, 0) + 1
    return by_method


@contextlib.contextmanager
def served_dashboard(warehouse: Path, *, timeout: float = 900) -> Iterator[Any]:
    """``caremodels serve`` on a free loopback port, as an operator runs it, until its controlled
    evaluations are ready; yields an HTTP client for it and stops the server afterwards."""
    import httpx

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [
        sys.executable, "-m", "caremodels", "--quiet", "serve",
        "--warehouse", str(warehouse), "--port", str(port), "--no-cache",
    ]  # fmt: skip
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=300) as client:
            deadline = time.monotonic() + timeout
            while True:
                if server.poll() is not None:
                    error = server.stderr.read().decode() if server.stderr else ""
                    raise RuntimeError(f"the dashboard stopped (exit {server.returncode}): {error[-2000:]}")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the dashboard was not ready in {timeout:.0f} s")
                try:
                    health = client.get("/api/health")
                    if health.status_code == 200 and health.json().get("evaluations") == "ready":
                        break
                except httpx.TransportError:
                    pass
                time.sleep(1)
            print(f"dashboard served on port {port} (pid {server.pid})")
            yield client
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


if __name__ == "__main__":
    sys.exit(main())
