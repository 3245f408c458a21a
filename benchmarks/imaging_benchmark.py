"""Shared radiology record speed: the DICOMweb gateway (token, policy, audit, index, archive) against the
same requests sent to the trust's Orthanc directly (the floor: basic authentication, no policy, no
audit), in one run on this machine.

Measured:
- QIDO-RS study search by NHS number, p95 at ``--clients`` concurrent clients;
- one frame (WADO-RS frames/1 of a 512 x 512 16-bit image), p95 at ``--clients`` clients;
- one whole study (WADO-RS retrieve, ``--big-instances`` 512 x 512 images) streamed: MB/s and time to
  first byte (median of ``--streams`` runs, one at a time);
- ``--reporters`` concurrent remote reporters (a user each) working the worklist: each takes
  ``--sessions`` tasks in turn, claims it, reads the study (metadata, four frames, one rendering) and
  reports it; p95 per task, tasks per second and errors.

Usage (from the repository root; needs Debian's orthanc and orthanc-dicomweb):

    .venv/bin/python benchmarks/imaging_benchmark.py [--patients 120] [--clients 8] [--requests 40]
        [--big-instances 120] [--streams 5] [--reporters 50] [--sessions 2]

It makes a temporary SQLite store with the consortium, ``--patients`` patients and a radiologist at
Nottingham (RX1), serves ``caremodels care-record imaging serve`` with one Orthanc archive for RX1,
loads a DX study per patient (and a CT for every fourth) plus one large CT with STOW-RS through the
gateway, then measures. The run stops its servers by itself.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CAREMODELS = [sys.executable, "-m", "caremodels", "-q"]
BOUNDARY = "benchmark-boundary"


def run(*args: str) -> str:
    return subprocess.run([*CAREMODELS, *args], check=True, capture_output=True, text=True).stdout


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1] if len(values) > 1 else values[0]


def timed(clients: int, requests: int, work: Callable[[int, int], None]) -> tuple[float, float, int]:
    """p95 latency (ms), requests per second and errors of ``work(client, i)`` over all clients."""
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()

    def client(number: int) -> None:
        mine = []
        for i in range(requests):
            start = time.perf_counter()
            try:
                work(number, i)
            except Exception:  # a benchmark counts failures rather than stopping at the first
                with lock:
                    errors[0] += 1
            mine.append((time.perf_counter() - start) * 1000)
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    return p95(latencies), len(latencies) / elapsed, errors[0]


def build_store(url: str, patients: int, reporters_count: int) -> list[str]:
    """The consortium, a practice, the patients and the radiologist, straight into the store."""
    from caremodels.care_record import init_store, open_store
    from caremodels.care_record.registry import NHS_NUMBER_SYSTEM, ODS_SYSTEM, resource_type
    from caremodels.care_record.resources import now_text, write_resource
    from caremodels.care_record.store import users
    from caremodels.imaging.consortium import ensure_consortium, load_consortium
    from caremodels.synth.nhs_number import synthetic_nhs_numbers

    init_store(url)
    store = open_store(url)
    moment = now_text(dt.datetime.now(dt.UTC))
    numbers = [str(n) for n in synthetic_nhs_numbers(np.arange(patients), population=patients, seed=5)]
    organisation, patient = resource_type("Organization"), resource_type("Patient")
    assert organisation is not None and patient is not None
    with store.begin() as conn:
        for code in ("RX1", "C84001"):
            body = {"resourceType": "Organization", "identifier": [{"system": ODS_SYSTEM, "value": code}]}
            write_resource(
                conn,
                organisation,
                body,
                resource_id=f"org-{code}",
                patient_id=None,
                moment=moment,
                expected_version=None,
            )
        for n, number in enumerate(numbers):
            body = {
                "resourceType": "Patient",
                "identifier": [{"system": NHS_NUMBER_SYSTEM, "value": number}],
                "generalPractitioner": [{"reference": "Organization/org-C84001"}],
            }
            write_resource(
                conn,
                patient,
                body,
                resource_id=f"p{n}",
                patient_id=f"p{n}",
                moment=moment,
                expected_version=None,
            )
        reporters = [(f"reporter-{n:02d}", "R8000") for n in range(reporters_count)]
        for user_id, role in (("radiologist", "R8000"), ("radiographer-rx1", "R8003"), *reporters):
            conn.execute(
                users.insert().values(
                    id=user_id,
                    name=user_id,
                    sds_user_id=f"sds-{user_id}",
                    role_profile_id=f"rp-{user_id}",
                    role_code=role,
                    org_code="RX1",
                    practitioner_id=None,
                    description="",
                )
            )
        ensure_consortium(conn, load_consortium())
    store.close()
    return numbers


def stow(client: httpx.Client, instances: list[bytes]) -> None:
    body = (
        b"".join(
            b"--" + BOUNDARY.encode() + b"\r\nContent-Type: application/dicom\r\n\r\n" + part + b"\r\n"
            for part in instances
        )
        + b"--"
        + BOUNDARY.encode()
        + b"--\r\n"
    )
    answer = client.post(
        "/dicomweb/studies",
        content=body,
        headers={"Content-Type": f'multipart/related; type="application/dicom"; boundary={BOUNDARY}'},
    )
    answer.raise_for_status()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--patients", type=int, default=120)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--big-instances", type=int, default=120)
    parser.add_argument("--streams", type=int, default=5)
    parser.add_argument("--reporters", type=int, default=50)
    parser.add_argument("--sessions", type=int, default=2)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "src"))
    from caremodels.imaging.orthanc import free_port
    from caremodels.imaging.synthetic import MODALITIES, ModalityShape, StudySpec, make_study, uid_for

    folder = Path(tempfile.mkdtemp(prefix="imaging-benchmark-"))
    url = f"sqlite:///{folder / 'store.db'}"
    numbers = build_store(url, args.patients, args.reporters)
    port = free_port()
    server = subprocess.Popen(
        [
            *CAREMODELS,
            "care-record",
            "imaging",
            "serve",
            "--store",
            url,
            "--archives",
            str(folder / "archives"),
            "--kind",
            "orthanc",
            "--trust",
            "RX1",
            "--port",
            str(port),
            "--timeout",
            "5",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                if httpx.get(f"{base}/fhir/metadata", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        else:
            raise SystemExit("the care record did not start")
        config = json.loads((folder / "archives" / "RX1" / "orthanc" / "orthanc.json").read_text())
        direct_base = f"http://127.0.0.1:{config['HttpPort']}/dicom-web"
        direct_auth = ("caremodels", config["RegisteredUsers"]["caremodels"])
        tokens = {
            u: run("care-record", "token", "--store", url, "--user", u).strip()
            for u in ("radiologist", "radiographer-rx1")
        }
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
        gateway = httpx.Client(
            base_url=base,
            headers={"Authorization": f"Bearer {tokens['radiologist']}"},
            timeout=60,
            limits=limits,
        )
        direct = httpx.Client(base_url=direct_base, auth=direct_auth, timeout=60, limits=limits)
        sender = httpx.Client(
            base_url=base, headers={"Authorization": f"Bearer {tokens['radiographer-rx1']}"}, timeout=120
        )

        rng = np.random.default_rng(20170512)
        loaded = time.perf_counter()
        studies: list[tuple[str, str, str, str]] = []  # nhs, study, series, instance
        for n, number in enumerate(numbers):
            for modality in ("DX", "CT") if n % 4 == 0 else ("DX",):
                key = f"bench-{n}-{modality}"
                spec = StudySpec(
                    key,
                    number,
                    "Bench",
                    "Pat",
                    "19600101",
                    "F",
                    modality,
                    "20240301",
                    f"B{n}{modality}",
                    "RX1",
                )
                stow(sender, make_study(spec, rng))
                studies.append(
                    (
                        number,
                        uid_for(key, "study"),
                        uid_for(key, "series", "1"),
                        uid_for(key, "instance", "1", "1"),
                    )
                )
        big_shape = ModalityShape(
            "CT", MODALITIES["CT"].sop_class, 1, args.big_instances, 512, 512, "CT chest", (40, 400)
        )
        big_spec = StudySpec(
            "bench-big", numbers[0], "Bench", "Pat", "19600101", "F", "CT", "20240302", "BIG1", "RX1"
        )
        big = make_study(big_spec, rng, big_shape)
        for start in range(0, len(big), 20):
            stow(sender, big[start : start + 20])
        big_uid = uid_for("bench-big", "study")
        big_bytes = sum(len(part) for part in big)
        print(
            f"loaded {len(studies) + 1} studies ({big_bytes / 1e6:.0f} MB in the large one) through STOW-RS in {time.perf_counter() - loaded:.0f} s"
        )

        dx = studies

        def qido(client: httpx.Client, path: str) -> Callable[[int, int], None]:
            def work(c: int, i: int) -> None:
                number = numbers[(c * args.requests + i) % len(numbers)]
                client.get(path, params={"PatientID": number}).raise_for_status()

            return work

        def frame(client: httpx.Client, prefix: str) -> Callable[[int, int], None]:
            def work(c: int, i: int) -> None:
                _, study, series, instance = dx[(c * args.requests + i) % len(dx)]
                client.get(
                    f"{prefix}/studies/{study}/series/{series}/instances/{instance}/frames/1",
                    headers={"Accept": 'multipart/related; type="application/octet-stream"'},
                ).raise_for_status()

            return work

        rows = []
        for name, gateway_work, floor_work in (
            ("QIDO-RS study search", qido(gateway, "/dicomweb/studies"), qido(direct, "/studies")),
            ("WADO-RS one frame", frame(gateway, "/dicomweb"), frame(direct, "")),
        ):
            floor = timed(args.clients, args.requests, floor_work)
            through = timed(args.clients, args.requests, gateway_work)
            rows.append((name, through, floor))

        def stream(client: httpx.Client, path: str) -> tuple[float, float]:
            rates, firsts = [], []
            for _ in range(args.streams):
                started = time.perf_counter()
                first = None
                size = 0
                with client.stream(
                    "GET", path, headers={"Accept": 'multipart/related; type="application/dicom"'}
                ) as answer:
                    answer.raise_for_status()
                    for chunk in answer.iter_bytes():
                        if first is None:
                            first = time.perf_counter() - started
                        size += len(chunk)
                elapsed = time.perf_counter() - started
                rates.append(size / elapsed / 1e6)
                firsts.append((first or elapsed) * 1000)
            return statistics.median(rates), statistics.median(firsts)

        stream_gateway = stream(gateway, f"/dicomweb/studies/{big_uid}")
        stream_floor = stream(direct, f"/studies/{big_uid}")

        # The worklist: every study is a Task; reporter c works tasks c, c + reporters, ... in turn:
        # claim, read the study as a reporter does (metadata, four frames, one rendering), report.
        tasks = [
            item["task"]["id"] for item in gateway.get("/dicomweb/worklist", params={"limit": 500}).json()
        ]
        by_task = {
            item["task"]["id"]: item["study_uid"]
            for item in gateway.get("/dicomweb/worklist", params={"limit": 500}).json()
        }
        index = {study: (number, series, instance) for number, study, series, instance in studies}
        from caremodels.care_record import open_store
        from caremodels.care_record.identity import demo_token

        token_store = open_store(url)
        reporter_tokens = [demo_token(token_store, f"reporter-{n:02d}") for n in range(args.reporters)]
        token_store.close()
        reporter_clients = [
            httpx.Client(
                base_url=base,
                headers={"Authorization": f"Bearer {reporter_tokens[n]}"},
                timeout=120,
                limits=limits,
            )
            for n in range(args.reporters)
        ]

        def session(c: int, i: int) -> None:
            position = c + i * args.reporters
            if position >= len(tasks):
                return
            task = tasks[position]
            client = reporter_clients[c]
            study = by_task[task]
            client.post(f"/dicomweb/worklist/{task}/claim").raise_for_status()
            client.get(f"/dicomweb/studies/{study}/metadata").raise_for_status()
            if study in index:
                _, series, instance = index[study]
                for _ in range(4):
                    client.get(
                        f"/dicomweb/studies/{study}/series/{series}/instances/{instance}/frames/1"
                    ).raise_for_status()
                client.get(
                    f"/dicomweb/studies/{study}/series/{series}/instances/{instance}/rendered"
                ).raise_for_status()
            client.post(
                f"/dicomweb/worklist/{task}/report", json={"conclusion": "No acute abnormality."}
            ).raise_for_status()

        reporting = timed(args.reporters, args.sessions, session)

        print(f"\n{'measure':34} {'gateway':>22} {'Orthanc directly (floor)':>26}")
        for name, (g95, grate, gerr), (f95, frate, ferr) in rows:
            print(
                f"{name + ' p95':34} {g95:>9.1f} ms {grate:>6.0f}/s {gerr} err  {f95:>9.1f} ms {frate:>6.0f}/s {ferr} err"
            )
        print(
            f"{'whole study streamed':34} {stream_gateway[0]:>9.0f} MB/s          {stream_floor[0]:>9.0f} MB/s"
        )
        print(
            f"{'  first byte (median)':34} {stream_gateway[1]:>9.1f} ms            {stream_floor[1]:>9.1f} ms"
        )
        print(
            f"{args.reporters} concurrent reporters x {args.sessions} worklist tasks (claim, metadata, 4 frames, "
            f"rendered, report): p95 task {reporting[0]:.0f} ms, {reporting[1]:.1f} tasks/s, {reporting[2]} errors, "
            f"{min(len(tasks), args.reporters * args.sessions)} of {len(tasks)} open tasks worked"
        )
        print(
            f"({args.clients} clients x {args.requests} requests per latency row; {len(studies) + 1} studies; this machine)"
        )
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()


if __name__ == "__main__":
    main()
