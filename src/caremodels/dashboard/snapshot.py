"""Everything the dashboard reads from the warehouse, read once when the app starts.

The warehouse is opened read-only, read, and closed again: the running app holds no connection, so
requests never wait on DuckDB and another process may open the file. What is read:

* practice-month sums (numerator, denominator, events) of every indicator in the catalogue that the
  warehouse can feed, through the indicator engine (``caremodels.indicators``); the others are
  listed with the reason. Standardised indicators are also kept by sex and age band (``bands``), so
  that the dashboard shows them as directly standardised rates, as every other output does;
* the registered population by practice, sex and five-year age band on one profile date;
* the warehouse status (tables, batches, quarantine) and quarantined rows by table, field and reason.

Nothing here is published as is: ``caremodels.dashboard.figures`` applies disclosure control.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import logging
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from caremodels import __version__
from caremodels.errors import CaremodelsError
from caremodels.indicators import IndicatorDefinition, catalogue
from caremodels.warehouse.store import Warehouse

__all__ = [
    "BAND_COUNT_COLUMNS",
    "DEFAULT_INDICATOR_TIMEOUT",
    "IndicatorCounts",
    "WarehouseSnapshot",
    "read_snapshot",
]

_LOG = logging.getLogger(__name__)
AGE_BAND_WIDTH = 5
OLDEST_BAND_FROM = 90
DEFAULT_INDICATOR_TIMEOUT = 120.0
"""Seconds one indicator may take to compute when the dashboard starts."""
COUNT_COLUMNS = ["practice_code", "month", "numerator", "denominator", "events"]
BAND_COUNT_COLUMNS = ["practice_code", "month", "sex", "age_band", "numerator", "denominator", "events"]
MonthRange = tuple[dt.date, dt.date]
PracticeMonths = Callable[[IndicatorDefinition], tuple[pd.DataFrame, pd.DataFrame | None, MonthRange | None]]


@dataclass(frozen=True)
class IndicatorCounts:
    definition: IndicatorDefinition
    counts: pd.DataFrame
    """Columns practice_code, month (first day), numerator, denominator, events (true sums)."""
    bands: pd.DataFrame | None = None
    """For a standardised indicator, the same sums by sex and age band (``BAND_COUNT_COLUMNS``)."""
    months: MonthRange | None = None
    """First and last month the numerator's table covers (as the indicator engines use it to say
    which periods are complete), or None to take the months of ``counts``."""


@dataclass(frozen=True)
class WarehouseSnapshot:
    path: Path
    indicators: dict[str, IndicatorCounts]
    unavailable: dict[str, str]
    status: dict[str, Any]
    quarantine_detail: pd.DataFrame
    population: pd.DataFrame
    """Columns practice_code, sex, age_from, people on ``profile_date``."""
    profile_date: dt.date | None
    present_practices: frozenset[str] = field(default_factory=frozenset)
    cache_folder: Path | None = None
    """Where this snapshot is cached (None when not cached): derived results may be kept there too."""


@contextmanager
def _practice_months(warehouse: Warehouse, timeout: float) -> Iterator[PracticeMonths]:
    """The engine's practice-month sums for a definition, over the months its events cover.

    One engine serves every definition so that the registered population, the costly part, is
    computed once and reused. A definition whose query runs longer than ``timeout`` seconds is
    interrupted (``duckdb.InterruptException``), so that one slow indicator cannot hold up the
    start of the dashboard.
    """
    from caremodels.indicators.ibis_engine import duckdb_engine_for
    from caremodels.indicators.periods import month_start

    engine = duckdb_engine_for(warehouse)

    def practice_months(
        definition: IndicatorDefinition,
    ) -> tuple[pd.DataFrame, pd.DataFrame | None, MonthRange | None]:
        months = engine.data_months(definition.numerator)
        if months is None:
            return pd.DataFrame(columns=COUNT_COLUMNS), None, None
        finished = threading.Event()

        def watch() -> None:
            # An interrupt only stops a query that is running, so keep interrupting once the
            # time is up until the engine gives up (it may still be building the query).
            if finished.wait(timeout):
                return
            while not finished.wait(0.01):
                warehouse.connection.interrupt()

        watchdog = threading.Thread(target=watch, name="caremodels-indicator-watchdog", daemon=True)
        watchdog.start()
        try:
            frame = engine.execute(engine.practice_months(definition, *months))
        finally:
            finished.set()
            watchdog.join()
        frame = frame.rename(columns={"practice": "practice_code"})
        starts = {index: month_start(int(index)) for index in frame["month"].unique()}
        frame["month"] = frame["month"].map(starts)
        bands: pd.DataFrame | None = None
        if "sex" in frame:
            # Standardised: kept by band for the DSR, and summed for everything else.
            bands = frame.astype({"sex": str, "age_band": "int64"})[BAND_COUNT_COLUMNS]
            bands = bands.sort_values(BAND_COUNT_COLUMNS[:4]).reset_index(drop=True)
            frame = frame.groupby(["practice_code", "month"], as_index=False)[
                ["numerator", "denominator", "events"]
            ].sum()
        totals = frame.sort_values(["practice_code", "month"]).reset_index(drop=True)[COUNT_COLUMNS]
        return totals, bands, (month_start(months[0]), month_start(months[1]))

    try:
        yield practice_months
    finally:
        engine.close()


def _interrupted(error: BaseException) -> bool:
    """Whether ``error`` comes from the time limit's interrupt (the engine may wrap it)."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, duckdb.InterruptException):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _row_count(warehouse: Warehouse, table: str, tables: set[str]) -> int:
    if table not in tables:
        return 0
    return int(warehouse.query(f"SELECT count(*) FROM {table}")[0][0])


def _tables_of(definition: IndicatorDefinition) -> set[str]:
    """The warehouse tables a definition reads."""
    needed: set[str] = {definition.numerator.table}
    denominator: Any = definition.denominator
    if denominator.kind == "registered_population":
        needed.add("gp_registrations")
    elif denominator.kind == "care_home_resident_years":
        needed.add("care_home_residence")
    else:
        needed.add(denominator.table)
    for selection in (definition.numerator, denominator):
        if getattr(selection, "cohort", "all_patients") == "care_home_residents":
            needed.add("care_home_residence")
        linked = getattr(selection, "linked", None)
        if linked is not None:
            needed.add(linked.table)
    return needed


def _indicator_counts(
    warehouse: Warehouse, tables: set[str], timeout: float
) -> tuple[dict[str, IndicatorCounts], dict[str, str]]:
    available: dict[str, IndicatorCounts] = {}
    unavailable: dict[str, str] = {}
    rows = {table: _row_count(warehouse, table, tables) for table in tables}
    with _practice_months(warehouse, timeout) as practice_months:
        for definition in catalogue():
            empty = sorted(table for table in _tables_of(definition) if not rows.get(table))
            if empty:
                unavailable[definition.id] = f"no rows are loaded into {', '.join(empty)}"
                continue
            started = time.perf_counter()
            try:
                counts, bands, covered = practice_months(definition)
            except (CaremodelsError, duckdb.Error, KeyError, ValueError) as error:
                if _interrupted(error):
                    _LOG.warning("indicator %s not computed: over %s s", definition.id, timeout)
                    unavailable[definition.id] = (
                        f"computing it took longer than {timeout:g} seconds, the dashboard's limit "
                        "(caremodels serve --indicator-timeout)"
                    )
                    continue
                # One indicator the engine cannot compute must not take the whole dashboard down.
                _LOG.warning("indicator %s not computed: %s", definition.id, error)
                unavailable[definition.id] = (
                    f"the indicator engine could not compute it ({type(error).__name__})"
                )
                continue
            if counts.empty or not (counts["denominator"] > 0).any():
                unavailable[definition.id] = "no practice-month has both events and a denominator"
                continue
            _LOG.info("indicator %s read in %.1f s", definition.id, time.perf_counter() - started)
            available[definition.id] = IndicatorCounts(definition, counts, bands, covered)
    return available, unavailable


def _profile_date(warehouse: Warehouse, indicators: dict[str, IndicatorCounts]) -> dt.date | None:
    """The 15th of the last month of the headline indicator (emergency admissions), else of the
    last month of any indicator, else of the last month anyone registered."""
    headline = indicators.get("emergency_admissions")
    months = [max(item.counts["month"]) for item in ([headline] if headline else indicators.values())]
    if months:
        return max(months) + dt.timedelta(days=14)
    latest = warehouse.query("SELECT max(registration_start) FROM gp_registrations")[0][0]
    return None if latest is None else latest.replace(day=15)


def _population(warehouse: Warehouse, profile_date: dt.date | None) -> pd.DataFrame:
    columns = ["practice_code", "sex", "age_from", "people"]
    if profile_date is None:
        return pd.DataFrame(columns=columns)
    frame = warehouse.connection.execute(
        f"""
        SELECT practice_code, sex,
               least(floor(date_sub('year', birth_month, $day) / {AGE_BAND_WIDTH}) * {AGE_BAND_WIDTH},
                     {OLDEST_BAND_FROM})::INTEGER AS age_from,
               count(*) AS people
        FROM gp_registrations
        WHERE registration_start <= $day AND (registration_end IS NULL OR registration_end >= $day)
          AND birth_month <= $day
        GROUP BY ALL
        ORDER BY ALL
        """,
        {"day": profile_date},
    ).df()
    return frame[columns]


def _quarantine_detail(warehouse: Warehouse, tables: set[str]) -> pd.DataFrame:
    columns = ["table_name", "field", "reason", "rows"]
    if not {"quarantine", "ingest_batches"} <= tables:
        return pd.DataFrame(columns=columns)
    return warehouse.connection.execute(
        """
        SELECT b.table_name, q.field, q.reason, count(*) AS rows
        FROM quarantine q LEFT JOIN ingest_batches b USING (batch_id)
        GROUP BY ALL ORDER BY rows DESC, 1, 2, 3
        """
    ).df()[columns]


def read_snapshot(
    warehouse_path: Path, *, cache: bool = True, indicator_timeout: float = DEFAULT_INDICATOR_TIMEOUT
) -> WarehouseSnapshot:
    """Read what the dashboard shows; raises ``CaremodelsError`` when the warehouse cannot be read.

    With ``cache`` the snapshot is kept in a folder beside the warehouse (``<file>.dashboard-cache``)
    under a key made of the warehouse's ingest batches, its size and time, the software version and
    the indicator catalogue, so that a restart on an unchanged warehouse reads it back in a second
    instead of recomputing every indicator. A cache that cannot be written is skipped.
    """
    folder = _cache_folder(warehouse_path, indicator_timeout) if cache else None
    if folder is not None:
        cached = _load_cached(folder, warehouse_path)
        if cached is not None:
            return dataclasses.replace(cached, cache_folder=folder)
    snapshot = _read_warehouse(warehouse_path, indicator_timeout)
    if folder is not None and _save_cached(snapshot, folder):
        return dataclasses.replace(snapshot, cache_folder=folder)
    return snapshot


def _read_warehouse(warehouse_path: Path, indicator_timeout: float) -> WarehouseSnapshot:
    with Warehouse(warehouse_path, read_only=True) as warehouse:
        try:
            # DuckDB draws a progress bar on the terminal for long queries; a server must not.
            warehouse.connection.execute("SET enable_progress_bar = false")
            tables = set(warehouse.tables())
            indicators, unavailable = _indicator_counts(warehouse, tables, indicator_timeout)
            profile_date = _profile_date(warehouse, indicators) if "gp_registrations" in tables else None
            population = _population(warehouse, profile_date)
            status = warehouse.status()
            quarantine = _quarantine_detail(warehouse, tables)
        except duckdb.Error as error:
            raise CaremodelsError(f"cannot read the warehouse {warehouse_path}: {error}") from error
    present = frozenset(
        str(code) for item in indicators.values() for code in item.counts["practice_code"].unique()
    ) | frozenset(str(code) for code in population["practice_code"].unique())
    return WarehouseSnapshot(
        path=warehouse_path,
        indicators=indicators,
        unavailable=unavailable,
        status=status,
        quarantine_detail=quarantine,
        population=population,
        profile_date=profile_date,
        present_practices=present,
    )


# -- the snapshot cache ------------------------------------------------------------------------------

_CACHE_FORMAT = 5


def _cache_key(warehouse_path: Path, indicator_timeout: float) -> str:
    """What the snapshot depends on: the loads, the file, the software and the definitions."""
    with Warehouse(warehouse_path, read_only=True) as warehouse:
        try:
            batches = (
                warehouse.query(
                    "SELECT batch_id, content_hash, rows_loaded, CAST(loaded_at AS VARCHAR) "
                    "FROM ingest_batches ORDER BY batch_id"
                )
                if "ingest_batches" in set(warehouse.tables())
                else []
            )
        except duckdb.Error as error:
            raise CaremodelsError(f"cannot read the warehouse {warehouse_path}: {error}") from error
    stat = warehouse_path.stat()
    document = {
        "format": _CACHE_FORMAT,
        # A longer limit may let an indicator through that timed out before.
        "indicator_timeout": indicator_timeout,
        "version": __version__,
        "file": [stat.st_size, stat.st_mtime_ns],
        "batches": [[str(value) for value in batch] for batch in batches],
        "catalogue": [definition.model_dump(mode="json") for definition in catalogue()],
    }
    return hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()[:32]


def _cache_folder(warehouse_path: Path, indicator_timeout: float) -> Path | None:
    key = _cache_key(warehouse_path, indicator_timeout)
    root = warehouse_path.with_name(warehouse_path.name + ".dashboard-cache")
    return root / key


def _load_cached(folder: Path, warehouse_path: Path) -> WarehouseSnapshot | None:
    index_file = folder / "snapshot.json"
    if not index_file.is_file():
        return None
    try:
        index = json.loads(index_file.read_text(encoding="utf-8"))
        by_id = {definition.id: definition for definition in catalogue()}
        indicators = {
            indicator_id: IndicatorCounts(
                by_id[indicator_id],
                _read_frame(folder / f"indicator-{indicator_id}.parquet"),
                _read_frame(folder / f"bands-{indicator_id}.parquet")
                if indicator_id in index.get("banded", [])
                else None,
                _month_range(index.get("months", {}).get(indicator_id)),
            )
            for indicator_id in index["indicators"]
        }
        return WarehouseSnapshot(
            path=warehouse_path,
            indicators=indicators,
            unavailable=index["unavailable"],
            status={**index["status"], "warehouse": str(warehouse_path)},
            quarantine_detail=_read_frame(folder / "quarantine.parquet"),
            population=_read_frame(folder / "population.parquet"),
            profile_date=dt.date.fromisoformat(index["profile_date"]) if index["profile_date"] else None,
            present_practices=frozenset(index["present_practices"]),
        )
    except (OSError, ValueError, KeyError) as error:
        _LOG.warning("dashboard cache in %s not used: %s", folder, error)
        return None


def _month_range(stored: list[str] | None) -> MonthRange | None:
    if not stored:
        return None
    return dt.date.fromisoformat(stored[0]), dt.date.fromisoformat(stored[1])


def _read_frame(path: Path) -> pd.DataFrame:
    return pd.read_parquet(path)


def _save_cached(snapshot: WarehouseSnapshot, folder: Path) -> bool:
    """Write the snapshot to ``folder``; False (and a warning) if it cannot be written."""
    try:
        if folder.parent.exists():
            # Only the current key is worth keeping.
            for stale in folder.parent.iterdir():
                if stale != folder and stale.is_dir():
                    shutil.rmtree(stale, ignore_errors=True)
        partial = folder.with_name(folder.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        for indicator_id, item in snapshot.indicators.items():
            item.counts.to_parquet(partial / f"indicator-{indicator_id}.parquet", index=False)
            if item.bands is not None:
                item.bands.to_parquet(partial / f"bands-{indicator_id}.parquet", index=False)
        snapshot.quarantine_detail.to_parquet(partial / "quarantine.parquet", index=False)
        snapshot.population.to_parquet(partial / "population.parquet", index=False)
        index = {
            "indicators": sorted(snapshot.indicators),
            "banded": sorted(key for key, item in snapshot.indicators.items() if item.bands is not None),
            "months": {
                key: [item.months[0].isoformat(), item.months[1].isoformat()]
                for key, item in snapshot.indicators.items()
                if item.months is not None
            },
            "unavailable": snapshot.unavailable,
            "status": {key: value for key, value in snapshot.status.items() if key != "warehouse"},
            "profile_date": snapshot.profile_date.isoformat() if snapshot.profile_date else None,
            "present_practices": sorted(snapshot.present_practices),
        }
        (partial / "snapshot.json").write_text(json.dumps(index, default=str), encoding="utf-8")
        # Renamed into place last, so a half-written cache is never read.
        shutil.rmtree(folder, ignore_errors=True)
        partial.rename(folder)
    except OSError as error:
        _LOG.warning("dashboard cache not written to %s: %s", folder, error)
        return False
    return True
