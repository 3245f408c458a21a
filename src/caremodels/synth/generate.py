"""Generate a synthetic health economy: people registered at real practices and their use of hospitals,
ambulances, outpatients, care homes and prescriptions, with planted care-model effects.

Practices are generated one at a time (optionally by several worker processes) and written as they
come, in practice order, so memory holds a few practices, never the whole country. Every draw comes
from generators seeded by the configuration's seed and the practice's position, so the files are
byte-identical for the same configuration whatever the number of workers.

Boundaries: ``generate(config, out_dir)`` writes one file per table (Parquet or CSV), ``truth.json``,
``unregistered_population.csv``, ``manifest.json``, the test-only ``oracle/expected_events.parquet``
(``synth.oracle``) and, when asked, ``fhir/*.ndjson``.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from caremodels import __version__
from caremodels.periods import financial_year_label
from caremodels.reference import find_site
from caremodels.synth import rates
from caremodels.synth.activity import PracticeJob, PracticeOutput, generate_practice
from caremodels.synth.config import SynthConfig
from caremodels.synth.economy import EconomyPractice, select_practices
from caremodels.synth.fhir import FhirWriter
from caremodels.synth.oracle import ORACLE_FILE, ORACLE_FOLDER, ORACLE_SCHEMA
from caremodels.synth.population import Calendar, day_number
from caremodels.synth.schema import TABLES
from caremodels.synth.truth import REST_OF_ENGLAND, SiteTally, truth_document

__all__ = ["SynthResult", "generate"]

FileFormat = Literal["parquet", "csv"]
# Rows buffered per table before a write: one Parquet row group.
_ROWS_PER_WRITE = 500_000


@dataclass
class SynthResult:
    out_dir: Path
    files: dict[str, Path]  # table name -> file
    people: int
    events: dict[str, int]  # table name -> rows written
    practices: int
    truth: dict[str, Any] = field(default_factory=dict)
    unregistered_population: Path | None = None
    fhir_files: dict[str, Path] = field(default_factory=dict)
    oracle: Path | None = None  # test-only expected events (``synth.oracle``), never ingested


class _Writer:
    """Buffers each table's rows and appends them to one file per table, Parquet or CSV. Encoding and
    writing happen on one background thread (Arrow releases the interpreter lock while it works), in
    the order the rows arrive, so generation and writing overlap."""

    def __init__(self, out_dir: Path, file_format: FileFormat) -> None:
        self.paths = {table: out_dir / f"{table}.{file_format}" for table in TABLES}
        self.rows = dict.fromkeys(TABLES, 0)
        self._buffers: dict[str, list[pa.Table]] = {table: [] for table in TABLES}
        self._buffered = dict.fromkeys(TABLES, 0)
        self._writers: dict[str, Any] = {}
        self._thread = ThreadPoolExecutor(max_workers=1)
        self._pending: deque[Future[None]] = deque()
        for table, path in self.paths.items():
            if file_format == "parquet":
                # Identifiers and NHS numbers are unique per row: dictionary encoding only costs time.
                coded = [n for n in TABLES[table].names if n != "nhs_number" and not n.endswith("_id")]
                self._writers[table] = pq.ParquetWriter(
                    path, TABLES[table], compression="zstd", use_dictionary=coded
                )
            else:
                self._writers[table] = pacsv.CSVWriter(path, TABLES[table])

    def write(self, table: str, batch: pa.Table) -> None:
        batch = batch.select(TABLES[table].names).cast(TABLES[table])
        self._buffers[table].append(batch)
        self._buffered[table] += batch.num_rows
        self.rows[table] += batch.num_rows
        if self._buffered[table] >= _ROWS_PER_WRITE:
            self._flush(table)

    def _flush(self, table: str) -> None:
        if self._buffered[table]:
            batches, writer = self._buffers[table], self._writers[table]
            self._pending.append(self._thread.submit(lambda: writer.write_table(pa.concat_tables(batches))))
        self._buffers[table], self._buffered[table] = [], 0
        # Keep memory bounded: at most a few writes waiting.
        while len(self._pending) > 3:
            self._pending.popleft().result()

    def close(self) -> None:
        try:
            for table in self._writers:
                self._flush(table)
            while self._pending:
                self._pending.popleft().result()
        finally:
            self._thread.shutdown(wait=True)
            for writer in self._writers.values():
                writer.close()


def _list_counts(practice: EconomyPractice, calendar: Calendar) -> tuple[int, int]:
    """People on the list at the start, and joiners over the period: enough to replace leavers and
    deaths and grow the list by 0.8% a year (``rates.RateModel.joiners_per_person_year``)."""
    initial = round(practice.list_size_at(calendar.months[0]))
    years = calendar.size / 12
    person_years = initial * years * (1 + rates.ANNUAL_LIST_GROWTH * years / 2)
    per_person_year = rates.rate_model().joiners_per_person_year + rates.JOINERS_CALIBRATION
    return initial, round(person_years * per_person_year)


def _jobs(
    config: SynthConfig,
    calendar: Calendar,
    economy: list[EconomyPractice],
    fhir_patients: int,
    census_days: tuple[int, ...],
) -> tuple[list[PracticeJob], int]:
    counts = [_list_counts(practice, calendar) for practice in economy]
    offsets = np.cumsum([0, *[initial + joiners for initial, joiners in counts]])
    population = int(offsets[-1])
    share = min(1.0, fhir_patients / population) if fhir_patients and population else 0.0
    jobs = [
        PracticeJob(
            config,
            calendar,
            practice,
            index,
            initial,
            joiners,
            int(offsets[index]),
            population,
            share,
            census_days,
        )
        for index, (practice, (initial, joiners)) in enumerate(zip(economy, counts, strict=True))
    ]
    return jobs, population


def _outputs(jobs: list[PracticeJob], workers: int) -> Iterator[PracticeOutput]:
    """Practice outputs in job order; with workers, a bounded number in flight."""
    if workers <= 1:
        for job in jobs:
            yield generate_practice(job)
        return
    with ProcessPoolExecutor(max_workers=workers) as pool:
        pending: deque[Future[PracticeOutput]] = deque()
        queue = iter(jobs)
        for job in queue:
            pending.append(pool.submit(generate_practice, job))
            if len(pending) >= 2 * workers:
                break
        while pending:
            output = pending.popleft().result()
            next_job = next(queue, None)
            if next_job is not None:
                pending.append(pool.submit(generate_practice, next_job))
            yield output


def generate(
    config: SynthConfig,
    out_dir: Path,
    *,
    file_format: FileFormat = "parquet",
    progress: Callable[[int, int], None] | None = None,
    fhir_patients: int = 0,
    workers: int = 1,
) -> SynthResult:
    """Write the economy's tables, ``truth.json``, ``unregistered_population.csv`` and ``manifest.json``
    into ``out_dir``; with ``fhir_patients`` > 0, a FHIR export of about that many patients."""
    if file_format not in ("parquet", "csv"):
        raise ValueError(f"unknown file format {file_format!r}: parquet or csv")
    if workers < 1:
        raise ValueError("workers must be at least 1")
    for target in [e.target for e in config.effects.effects] + [f.target for f in config.effects.non_causal]:
        if target.site is not None:
            find_site(target.site)  # raises, naming the site, before any file is written
    out_dir.mkdir(parents=True, exist_ok=True)
    economy = select_practices(config, np.random.default_rng(config.seed))
    calendar = Calendar.of(config)
    years = np.unique(calendar.financial_years)
    tally = SiteTally(int(years[0]), len(years))
    # Registered people on 1 October of each financial year (or the period's edge), by practice.
    census_days = tuple(
        min(max(day_number(dt.date(int(year), 10, 1)), calendar.first_day), calendar.last_day)
        for year in years
    )
    jobs, population = _jobs(config, calendar, economy, fhir_patients, census_days)
    registered: list[tuple[EconomyPractice, list[int]]] = []
    writer = _Writer(out_dir, file_format)
    # The oracle goes in its own folder, always Parquet: ingest opens folders one level deep only.
    oracle_path = out_dir / ORACLE_FOLDER / ORACLE_FILE
    oracle_path.parent.mkdir(exist_ok=True)
    oracle_writer = pq.ParquetWriter(oracle_path, ORACLE_SCHEMA, compression="zstd")
    fhir = FhirWriter(out_dir / "fhir", config.seed) if fhir_patients > 0 else None
    try:
        for done, output in enumerate(_outputs(jobs, workers), start=1):
            for table, batch in output.tables.items():
                writer.write(table, batch)
            if output.oracle is not None:
                oracle_writer.write_table(output.oracle)
            tally.add(output.site_ids, output.tally)
            registered.append((jobs[done - 1].practice, output.registered))
            if fhir is not None:
                fhir.add(output)
            if progress:
                progress(done, len(jobs))
    finally:
        writer.close()
        oracle_writer.close()
        fhir_files = fhir.close() if fhir is not None else {}

    truth = truth_document(config, tally)
    (out_dir / "truth.json").write_text(json.dumps(truth, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    unregistered_path = out_dir / "unregistered_population.csv"
    unregistered = _write_unregistered(unregistered_path, registered, [int(y) for y in years])
    manifest = {
        "generator": f"caremodels {__version__}",
        "config": json.loads(config.model_dump_json()),
        "format": file_format,
        "practices": len(economy),
        "people": population,
        "files": {table: path.name for table, path in sorted(writer.paths.items())},
        "rows": dict(sorted(writer.rows.items())),
        "unregistered_population": {
            "file": unregistered_path.name,
            "method": "assumed share of the registered population, rising with practice deprivation "
            "(docs/synthetic-data.md, Unregistered population)",
            "by_financial_year": unregistered,
        },
        "fhir": {name: path.relative_to(out_dir).as_posix() for name, path in sorted(fhir_files.items())},
        "fhir_resources": dict(sorted(fhir.counts.items())) if fhir is not None else {},
        "oracle": {
            "file": oracle_path.relative_to(out_dir).as_posix(),
            "use": "tests and risk validation only; never ingested (docs/risk-stratification.md)",
        },
    }
    (out_dir / "manifest.json").write_text(
        json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8"
    )
    return SynthResult(
        out_dir=out_dir,
        files=dict(writer.paths),
        people=population,
        events=dict(writer.rows),
        practices=len(economy),
        truth=truth,
        unregistered_population=unregistered_path,
        fhir_files=fhir_files,
        oracle=oracle_path,
    )


def _write_unregistered(
    path: Path, registered: list[tuple[EconomyPractice, list[int]]], years: list[int]
) -> dict[str, dict[str, int]]:
    """Registered population and the assumed unregistered population by CCG, site and financial year."""
    areas: dict[tuple[str, str], np.ndarray] = {}
    for practice, counts in registered:
        values = np.array(counts, dtype=np.float64)
        share = float(rates.unregistered_share(np.array([practice.imd]))[0])
        pair = np.stack([values, values * share])
        keys = [("ccg", practice.ccg_code), ("england", "economy")]
        keys += [("site", site) for site in practice.site_ids] or [("site", REST_OF_ENGLAND)]
        for key in keys:
            areas[key] = areas.get(key, np.zeros_like(pair)) + pair
    with path.open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle, lineterminator="\n")
        out.writerow(
            ["area_type", "area_code", "financial_year", "registered_population", "unregistered_estimate"]
        )
        for (area_type, code), values in sorted(areas.items()):
            for index, year in enumerate(years):
                out.writerow(
                    [
                        area_type,
                        code,
                        financial_year_label(year),
                        int(values[0, index]),
                        round(values[1, index]),
                    ]
                )
    whole = areas.get(("england", "economy"), np.zeros((2, len(years))))
    return {
        financial_year_label(year): {
            "registered": int(whole[0, i]),
            "unregistered_estimate": round(whole[1, i]),
        }
        for i, year in enumerate(years)
    }
