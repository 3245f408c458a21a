"""Care record latency: patient search by NHS number and a patient's whole record ($everything), each
with the access decision and its audit rows, at ``--clients`` concurrent clients against a real
``caremodels care-record serve`` process, beside the same queries run directly on the database (the
floor: no HTTP, no token, no policy, no audit).

Usage (from the repository root):

    .venv/bin/python benchmarks/care_record_benchmark.py [--store URL] [--synth DIR] [--patients 2000]
        [--clients 8] [--requests 100] [--workers 2] [--loaded]

Without ``--store`` it runs on a temporary SQLite file; pass a PostgreSQL URL (for example
``postgresql+psycopg://root@127.0.0.1:5432/test?options=-csearch_path%3Dbench``, schema created
first) for PostgreSQL. Without ``--synth`` a tiny economy is generated first; with ``--loaded`` the store
is measured as it is (filled before by ``care-record load``, which is how the 100,000-patient stores are
timed and measured). The store is initialised
and loaded with ``--patients`` patients, then each phase makes clients x requests requests as the GP
demo user, cycling through the GP's own patients. The run stops by itself.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
CAREMODELS = [sys.executable, "-m", "caremodels", "-q"]
NHS = "https://fhir.nhs.uk/Id/nhs-number"


def run(*args: str) -> str:
    return subprocess.run([*CAREMODELS, *args], check=True, capture_output=True, text=True).stdout


def load_average() -> str:
    """The machine's 1-minute load average: other work on the cores depresses every figure."""
    try:
        return Path("/proc/loadavg").read_text().split()[0]
    except OSError:
        return "unknown"


def server_cpu_seconds(pid: int) -> float:
    """CPU time (user + system) of the server process and its worker processes so far (Linux /proc).
    With other work on the machine the wall-clock figures fall; the CPU a request costs does not."""
    total, pending, ticks = 0.0, [pid], os.sysconf("SC_CLK_TCK")
    while pending:
        current = pending.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / ticks
            for task in Path(f"/proc/{current}/task").iterdir():
                pending.extend(int(child) for child in (task / "children").read_text().split())
        except (OSError, IndexError, ValueError):
            continue
    return total


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def timed(clients: int, requests: int, work: Callable[[int, int], None]) -> tuple[float, float]:
    """p95 latency (ms) and requests per second of ``work(client, i)`` over all clients."""
    latencies: list[float] = []
    lock = threading.Lock()

    def client(number: int) -> None:
        mine = []
        for i in range(requests):
            start = time.perf_counter()
            work(number, i)
            mine.append((time.perf_counter() - start) * 1000)
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    return statistics.quantiles(latencies, n=20)[-1], len(latencies) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store")
    parser.add_argument("--synth", type=Path)
    parser.add_argument("--patients", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--workers", type=int, default=2, help="server processes (`serve --workers`)")
    parser.add_argument(
        "--loaded", action="store_true", help="the --store is filled already: measure it as it is"
    )
    options = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="care-record-benchmark-"))
    url = options.store or f"sqlite:///{work / 'care-record.db'}"
    synth = options.synth
    if synth is None and not options.loaded:
        synth = work / "economy"
        run("synth", "--scale", "tiny", "--out", str(synth))
    if options.loaded:
        print(f"store {url.split('?')[0].split('@')[-1]}: loaded before (by `care-record load`)")
    else:
        run("care-record", "init", "--store", url)
        started = time.perf_counter()
        run("care-record", "load", "--store", url, "--from", str(synth), "--patients", str(options.patients))
        print(
            f"store {url.split('?')[0].split('@')[-1]}: loaded {options.patients} patients in {time.perf_counter() - started:.1f} s"
        )

    engine = sa.create_engine(
        url
        if "+psycopg" in url or url.startswith("sqlite")
        else url.replace("postgresql://", "postgresql+psycopg://")
    )
    with engine.connect() as conn:
        practice = conn.execute(sa.text("SELECT org_code FROM users WHERE id = 'gp'")).scalar()
        # In steps, each an index lookup: a single three-way join on a concatenated reference ran for
        # minutes on SQLite at 100,000 patients.
        organisations = conn.execute(
            sa.text(
                "SELECT resource_id FROM search_index WHERE resource_type = 'Organization' "
                "AND param = 'identifier' AND value = :practice"
            ),
            {"practice": practice},
        ).scalars()
        references = [f"Organization/{org}" for org in organisations]
        registered = (
            conn.execute(
                sa.text(
                    "SELECT resource_id FROM search_index WHERE resource_type = 'Patient' "
                    "AND param = 'general-practitioner' AND value IN :refs"
                ).bindparams(sa.bindparam("refs", expanding=True)),
                {"refs": references},
            )
            .scalars()
            .all()
        )
        rows = []
        for start in range(0, len(registered), 500):
            rows.extend(
                conn.execute(
                    sa.text(
                        "SELECT resource_id, value FROM search_index WHERE resource_type = 'Patient' "
                        "AND param = 'identifier' AND value LIKE :prefix AND resource_id IN :ids"
                    ).bindparams(sa.bindparam("ids", expanding=True)),
                    {"prefix": NHS + "|%", "ids": registered[start : start + 500]},
                ).all()
            )
    patients = [(row.resource_id, row.value.split("|")[1]) for row in rows]
    if not patients:
        raise SystemExit("the GP has no patients among those loaded: raise --patients")
    port = free_port()
    server = subprocess.Popen(
        [
            *CAREMODELS,
            "care-record",
            "serve",
            "--store",
            url,
            "--port",
            str(port),
            "--workers",
            str(options.workers),
        ],
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 300  # a busy machine can take minutes to start the workers
        while True:
            try:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                connection.request("GET", "/fhir/metadata")
                connection.getresponse().read()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit("the care record server did not start") from None
                time.sleep(0.2)
        token = run("care-record", "token", "--store", url, "--user", "gp").strip()
        local = threading.local()

        def http_get(path: str) -> None:
            if not hasattr(local, "connection"):
                local.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            local.connection.request("GET", path, headers={"Authorization": f"Bearer {token}"})
            response = local.connection.getresponse()
            body = response.read()
            if response.status != 200:
                raise SystemExit(f"{path}: {response.status} {body[:200]!r}")

        def pick(client: int, i: int) -> tuple[str, str]:
            return patients[(client * 7919 + i) % len(patients)]

        def api_search(client: int, i: int) -> None:
            http_get(f"/fhir/Patient?identifier={quote(NHS + '|' + pick(client, i)[1])}")

        def api_record(client: int, i: int) -> None:
            http_get(f"/fhir/Patient/{pick(client, i)[0]}/$everything")

        search_sql = sa.text(
            "SELECT v.content FROM search_index i JOIN resources r ON r.resource_type = 'Patient' AND r.id = i.resource_id "
            "JOIN resource_versions v ON v.resource_type = r.resource_type AND v.id = r.id AND v.version_id = r.version_id "
            "WHERE i.resource_type = 'Patient' AND i.param = 'identifier' AND i.value = :value"
        )
        record_sql = sa.text(
            "SELECT v.content FROM resources r JOIN resource_versions v ON v.resource_type = r.resource_type "
            "AND v.id = r.id AND v.version_id = r.version_id WHERE r.patient_id = :patient"
        )

        def db(
            statement: sa.TextClause, params: Callable[[int, int], dict[str, str]]
        ) -> Callable[[int, int], None]:
            def query(client: int, i: int) -> None:
                with engine.connect() as conn:
                    [json.loads(row.content) for row in conn.execute(statement, params(client, i))]

            return query

        phases = [
            ("patient search", api_search, db(search_sql, lambda c, i: {"value": NHS + "|" + pick(c, i)[1]})),
            ("patient record", api_record, db(record_sql, lambda c, i: {"patient": pick(c, i)[0]})),
        ]
        print(
            f"{options.clients} clients x {options.requests} requests, {options.workers} server workers; "
            f"{len(patients)} of the GP's patients; load average before: {load_average()}"
        )
        print(
            f"{'query':<16} {'API p95 ms':>10} {'API req/s':>10} {'server CPU ms/req':>18} "
            f"{'req/s 2 free cores':>19} {'floor p95 ms':>13} {'floor req/s':>12}"
        )
        for name, api, floor in phases:
            # Warm up every worker process, thread and pooled connection (a first request compiles the
            # statements and imports the R4B models), so that the figures are the steady state.
            timed(options.clients, 10, api)
            cpu_before = server_cpu_seconds(server.pid)
            api_p95, api_rate = timed(options.clients, options.requests, api)
            cpu_ms = (
                (server_cpu_seconds(server.pid) - cpu_before) * 1000 / (options.clients * options.requests)
            )
            floor_p95, floor_rate = timed(options.clients, options.requests, floor)
            # What the server's own CPU per request allows on two otherwise idle cores (the clients
            # would then run elsewhere): a derived figure, printed beside the measured ones.
            print(
                f"{name:<16} {api_p95:>10.1f} {api_rate:>10.0f} {cpu_ms:>18.2f} {2000 / cpu_ms:>19.0f} "
                f"{floor_p95:>13.2f} {floor_rate:>12.0f}"
            )
        print(f"load average after: {load_average()}")
    finally:
        server.terminate()
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        engine.dispose()


if __name__ == "__main__":
    main()
