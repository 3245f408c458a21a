"""Dashboard latency: p95 of pages and API answers with 20 concurrent clients on loopback, against
a static file served by the same server in the same run.

The dashboard is started as a real ``caremodels serve`` process on a free loopback port and timed
until it answers, and until its background evaluations are done (measurements start after that,
so the background thread does not compete with them). Every URL is requested once to warm up (the
first, uncached answer of each is reported). Then three phases run one after the other, each with
``--clients`` threads making ``--requests`` requests each over keep-alive connections, cycling
through the phase's URLs from a different starting point per client:

- baseline: static files (the NHS.UK frontend's JavaScript and an icon), served by the same app;
- pages: every page of the dashboard, at the geographies and periods a visitor would choose;
- API: the JSON endpoints behind those pages.

Usage (from the repository root):

    .venv/bin/python benchmarks/dashboard_benchmark.py --warehouse FILE [--clients 20] [--requests 40]
    .venv/bin/python benchmarks/dashboard_benchmark.py --scale region [--fraction 1.0] [--out DIR]

With ``--scale`` a synthetic economy is generated and loaded first (``caremodels synth`` and
``caremodels ingest``) into ``--out`` (a temporary folder unless given). The run stops by itself:
it makes clients x requests requests per phase. The goal is a p95 under 300 ms for pages and API.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

GOAL_MS = 300.0


def _caremodels() -> str:
    return str(Path(sys.executable).with_name("caremodels"))


def _prepare(out: Path, scale: str, fraction: float) -> Path:
    source, warehouse = out / "synthetic", out / "warehouse.duckdb"
    key = out / "pseudonymisation.key"
    key.write_text(secrets.token_hex(32) + "\n", encoding="ascii")
    key.chmod(0o600)
    started = time.perf_counter()
    subprocess.run(
        [
            _caremodels(),
            "--quiet",
            "synth",
            "--scale",
            scale,
            "--fraction",
            str(fraction),
            "--out",
            str(source),
        ],
        check=True,
    )
    print(f"generated {scale} x {fraction} in {time.perf_counter() - started:.0f} s")
    started = time.perf_counter()
    files = sorted(str(path) for path in source.glob("*.parquet"))
    subprocess.run(
        [_caremodels(), "--quiet", "ingest", *files, "--warehouse", str(warehouse), "--key-file", str(key)],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    print(f"loaded {len(files)} files in {time.perf_counter() - started:.0f} s")
    return warehouse


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _get(port: int, path: str, timeout: float = 60) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def _wait(port: int, server: subprocess.Popen[bytes], deadline: float, *, evaluations: bool) -> None:
    while True:
        if server.poll() is not None:
            raise SystemExit(f"the server stopped with exit code {server.returncode}")
        try:
            status, body = _get(port, "/api/health", timeout=5)
            if status == 200 and (not evaluations or json.loads(body)["evaluations"] == "ready"):
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit("the server did not become ready in time")
        time.sleep(0.25)


def _urls(port: int) -> dict[str, list[str]]:
    """The URLs of each phase, chosen from what this warehouse holds."""
    _, body = _get(port, "/api/sites")
    sites = [site["id"] for site in json.loads(body) if site["practices_in_warehouse"]][:6]
    _, body = _get(port, "/api/indicators")
    indicators = [item["id"] for item in json.loads(body) if item["available"]]
    headline = "emergency_admissions" if "emergency_admissions" in indicators else indicators[0]
    others = [indicator for indicator in indicators if indicator != headline][:3]
    pages = ["/", "/sites", "/indicators", "/care-homes", "/data-quality"]
    pages += [f"/sites/{site}" for site in sites]
    pages += [
        f"/sites/{site}/indicators/{indicator}" for site in sites[:3] for indicator in [headline, *others[:1]]
    ]
    pages += [
        f"/indicators/{headline}",
        f"/indicators/{headline}?geography=ccg&period_kind=quarter",
        f"/indicators/{headline}?geography=practice&period_kind=financial_year&page=2",
        f"/indicators/{headline}?geography=care_model&period_kind=month",
        *[f"/indicators/{indicator}?geography=site" for indicator in others],
    ]
    api = ["/api/overview", "/api/sites", "/api/indicators", "/api/care-homes", "/api/data-quality"]
    api += [f"/api/sites/{site}" for site in sites]
    api += [f"/api/sites/{site}/indicators/{headline}" for site in sites[:3]]
    api += [
        f"/api/indicators/{headline}?geography=site",
        f"/api/indicators/{headline}?geography=practice&period_kind=quarter",
        f"/api/indicators/{headline}/practices",
        f"/api/indicators/{headline}/series?" + "&".join(f"code={quote(site)}" for site in sites[:3]),
    ]
    baseline = ["/static/nhsuk-frontend.min.js", "/assets/images/favicon.svg"]
    return {"baseline (static files)": baseline, "pages": pages, "API": api}


@dataclass
class Phase:
    name: str
    latencies_ms: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    bytes_received: int = 0
    seconds: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)


def _client(port: int, urls: list[str], offset: int, requests: int, phase: Phase) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        for index in range(requests):
            path = urls[(offset + index) % len(urls)]
            started = time.perf_counter()
            connection.request("GET", path)
            response = connection.getresponse()
            body = response.read()
            elapsed = (time.perf_counter() - started) * 1000
            with phase.lock:
                phase.latencies_ms.append(elapsed)
                phase.bytes_received += len(body)
                if response.status != 200:
                    phase.errors.append(f"{response.status} {path}")
    finally:
        connection.close()


def _run_phase(port: int, name: str, urls: list[str], clients: int, requests: int) -> Phase:
    phase = Phase(name)
    threads = [
        threading.Thread(target=_client, args=(port, urls, client * 7, requests, phase))
        for client in range(clients)
    ]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    phase.seconds = time.perf_counter() - started
    return phase


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--warehouse", type=Path, help="An existing warehouse file.")
    parser.add_argument(
        "--scale", choices=["tiny", "region", "england"], help="Generate and load an economy first."
    )
    parser.add_argument("--fraction", type=float, default=1.0)
    parser.add_argument("--out", type=Path, help="Where to generate (default: a temporary folder).")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--requests", type=int, default=40, help="Requests per client per phase.")
    parser.add_argument("--json", type=Path, help="Also write the figures to this JSON file.")
    arguments = parser.parse_args()
    if (arguments.warehouse is None) == (arguments.scale is None):
        parser.error("give exactly one of --warehouse or --scale")
    with tempfile.TemporaryDirectory(prefix="caremodels-dashboard-benchmark-") as temporary:
        warehouse = arguments.warehouse
        if warehouse is None:
            out = arguments.out or Path(temporary)
            out.mkdir(parents=True, exist_ok=True)
            warehouse = _prepare(out, arguments.scale, arguments.fraction)
        return _benchmark(warehouse, arguments)


def _benchmark(warehouse: Path, arguments: argparse.Namespace) -> int:
    port = _free_port()
    command = [_caremodels(), "--quiet", "serve", "--warehouse", str(warehouse), "--port", str(port)]
    started = time.monotonic()
    server = subprocess.Popen(command, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        _wait(port, server, started + 1800, evaluations=False)
        answering = time.monotonic() - started
        _wait(port, server, started + 3600, evaluations=True)
        ready = time.monotonic() - started
        print(f"server: {' '.join(command[1:])}")
        print(f"start-up: answering after {answering:.1f} s, evaluations ready after {ready:.1f} s")
        phases = _urls(port)
        cold: dict[str, float] = {}
        for urls in phases.values():
            for path in urls:
                begun = time.perf_counter()
                status, _ = _get(port, path)
                cold[path] = (time.perf_counter() - begun) * 1000
                if status != 200:
                    raise SystemExit(f"warm-up: {path} answered {status}")
        slowest = sorted(cold.items(), key=lambda item: -item[1])[:5]
        print(
            "first (uncached) answers, slowest: " + "; ".join(f"{path} {ms:.0f} ms" for path, ms in slowest)
        )
        results = [
            _run_phase(port, name, urls, arguments.clients, arguments.requests)
            for name, urls in phases.items()
        ]
    finally:
        server.terminate()
        server.wait(timeout=60)
    print(
        f"\n{arguments.clients} concurrent clients x {arguments.requests} requests per phase, keep-alive, loopback; "
        f"warehouse {warehouse.name} ({warehouse.stat().st_size / 1e6:.0f} MB)"
    )
    print(
        f"{'phase':<24}{'URLs':>6}{'requests':>10}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'max ms':>9}{'req/s':>8}"
    )
    document = {"startup_seconds": answering, "evaluations_ready_seconds": ready, "phases": {}}
    failed = False
    for phase, urls in zip(results, phases.values(), strict=True):
        values = phase.latencies_ms
        p95 = _percentile(values, 0.95)
        print(
            f"{phase.name:<24}{len(urls):>6}{len(values):>10}{statistics.median(values):>9.1f}{p95:>9.1f}"
            f"{_percentile(values, 0.99):>9.1f}{max(values):>9.1f}{len(values) / phase.seconds:>8.0f}"
        )
        document["phases"][phase.name] = {
            "urls": len(urls),
            "requests": len(values),
            "p50_ms": statistics.median(values),
            "p95_ms": p95,
            "p99_ms": _percentile(values, 0.99),
            "max_ms": max(values),
            "requests_per_second": len(values) / phase.seconds,
            "errors": phase.errors,
        }
        if phase.errors:
            print(f"  errors: {phase.errors[:5]}")
            failed = True
        if not phase.name.startswith("baseline") and p95 >= GOAL_MS:
            print(f"  p95 {p95:.0f} ms is over the goal of {GOAL_MS:.0f} ms")
            failed = True
    if arguments.json:
        arguments.json.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
