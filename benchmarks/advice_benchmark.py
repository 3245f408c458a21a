"""Advice and guidance latency: the specialist's worklist and one request's conversation, each with the
access decisions and their audit rows, at ``--clients`` concurrent clients against a real
``caremodels care-record serve`` process, beside the same queries run directly on the database (the
floor: no HTTP, no token, no policy, no audit).

Usage (from the repository root):

    .venv/bin/python benchmarks/advice_benchmark.py [--store URL] [--patients 2000] [--requests-made 150]
        [--clients 8] [--requests 40]

A tiny economy is generated and loaded (``--patients``); the GP demo user then makes
``--requests-made`` advice and guidance requests through the API to the trust of the demo consultant
(``radiologist``), who asks a question back on every third, so that conversations have messages. Each
phase then makes clients x requests requests. The run stops by itself.
"""

from __future__ import annotations

import argparse
import http.client
import json
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent))
from care_record_benchmark import CAREMODELS, free_port, run, timed

NHS = "https://fhir.nhs.uk/Id/nhs-number"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store")
    parser.add_argument("--patients", type=int, default=2000)
    parser.add_argument("--requests-made", type=int, default=150)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, default=40)
    options = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="advice-benchmark-"))
    url = options.store or f"sqlite:///{work / 'care-record.db'}"
    synth = work / "economy"
    run("synth", "--scale", "tiny", "--out", str(synth))
    run("care-record", "init", "--store", url)
    run("care-record", "load", "--store", url, "--from", str(synth), "--patients", str(options.patients))
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        practice = conn.execute(sa.text("SELECT org_code FROM users WHERE id = 'gp'")).scalar()
        trust = conn.execute(sa.text("SELECT org_code FROM users WHERE id = 'radiologist'")).scalar()
        patients = list(
            conn.execute(
                sa.text(
                    "SELECT g.resource_id FROM search_index g JOIN search_index o ON o.resource_type = 'Organization' "
                    "AND o.param = 'identifier' AND o.value = :practice AND g.value = 'Organization/' || o.resource_id "
                    "WHERE g.resource_type = 'Patient' AND g.param = 'general-practitioner'"
                ),
                {"practice": practice},
            ).scalars()
        )
    if not patients:
        raise SystemExit("the GP has no patients among those loaded: raise --patients")
    port = free_port()
    server = subprocess.Popen(
        [*CAREMODELS, "care-record", "serve", "--store", url, "--port", str(port)], stderr=subprocess.DEVNULL
    )
    try:
        for _ in range(200):
            try:
                probe = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                probe.request("GET", "/fhir/metadata")
                probe.getresponse().read()
                break
            except OSError:
                time.sleep(0.1)
        tokens = {
            user: run("care-record", "token", "--store", url, "--user", user).strip()
            for user in ("gp", "radiologist")
        }
        local = threading.local()

        def call(
            method: str, path: str, user: str, body: dict[str, object] | None = None
        ) -> dict[str, object]:
            if not hasattr(local, "connection"):
                local.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            headers = {"Authorization": f"Bearer {tokens[user]}", "Content-Type": "application/json"}
            try:
                local.connection.request(
                    method, path, body=json.dumps(body) if body else None, headers=headers
                )
                response = local.connection.getresponse()
            except (http.client.RemoteDisconnected, ConnectionError):
                # The server closed an idle keep-alive connection: open a new one and send again.
                local.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                local.connection.request(
                    method, path, body=json.dumps(body) if body else None, headers=headers
                )
                response = local.connection.getresponse()
            data = response.read()
            if response.status >= 300:
                raise SystemExit(f"{method} {path}: {response.status} {data[:300]!r}")
            return dict(json.loads(data))

        made: list[str] = []
        started = time.perf_counter()
        for position in range(options.requests_made):
            answer = call(
                "POST",
                "/api/advice/requests",
                "gp",
                {
                    "patient": patients[position % len(patients)],
                    "provider": trust,
                    "specialty": ("330", "320", "300", "130")[position % 4],
                    "question": "Benchmark question: what next?",
                    "would_otherwise_refer": position % 2 == 0,
                    "authorised_to_convert": True,
                },
            )
            made.append(str(answer["request"]))
            if position % 3 == 0:
                call(
                    "POST",
                    f"/api/advice/requests/{made[-1]}/ask",
                    "radiologist",
                    {"message": "Any photographs?"},
                )
                call("POST", f"/api/advice/requests/{made[-1]}/reply", "gp", {"message": "Attached."})
        print(
            f"store {url.split('?')[0].split('@')[-1]}: {len(made)} requests made through the API "
            f"in {time.perf_counter() - started:.1f} s"
        )

        def api_worklist(client: int, i: int) -> None:
            call("GET", "/api/advice/worklist", "radiologist")

        def api_conversation(client: int, i: int) -> None:
            call("GET", f"/api/advice/requests/{made[(client * 7919 + i) % len(made)]}", "gp")

        content = (
            "SELECT v.content FROM resources r JOIN resource_versions v ON v.resource_type = r.resource_type "
            "AND v.id = r.id AND v.version_id = r.version_id "
        )
        worklist_sql = sa.text(
            content
            + "JOIN search_index o ON o.resource_type = 'Task' AND o.resource_id = r.id AND o.param = 'owner' "
            "JOIN search_index s ON s.resource_type = 'Task' AND s.resource_id = r.id AND s.param = 'status' "
            "AND s.value IN ('requested', 'on-hold') WHERE r.resource_type = 'Task' AND o.value = :owner LIMIT 20"
        )
        requests_sql = sa.text(
            content + "WHERE r.resource_type = 'CommunicationRequest' AND r.id IN :ids"
        ).bindparams(sa.bindparam("ids", expanding=True))
        conversation_sql = sa.text(
            content + "JOIN search_index b ON b.resource_id = r.id AND b.resource_type = r.resource_type "
            "AND b.value = :based WHERE (r.resource_type = 'Communication' AND b.param = 'based-on') "
            "OR (r.resource_type = 'Task' AND b.param = 'focus') OR (r.resource_type = 'ServiceRequest' AND b.param = 'based-on')"
        )
        request_sql = sa.text(content + "WHERE r.resource_type = 'CommunicationRequest' AND r.id = :id")
        with engine.connect() as conn:
            owner = conn.execute(
                sa.text(
                    "SELECT 'Organization/' || resource_id FROM search_index WHERE resource_type = 'Organization' "
                    "AND param = 'identifier' AND value = :code"
                ),
                {"code": trust},
            ).scalar()

        def db_worklist(client: int, i: int) -> None:
            with engine.connect() as conn:
                tasks = [json.loads(row.content) for row in conn.execute(worklist_sql, {"owner": owner})]
                ids = [task["focus"]["reference"].split("/")[1] for task in tasks]
                [json.loads(row.content) for row in conn.execute(requests_sql, {"ids": ids})]

        def db_conversation(client: int, i: int) -> None:
            request_id = made[(client * 7919 + i) % len(made)]
            with engine.connect() as conn:
                [json.loads(row.content) for row in conn.execute(request_sql, {"id": request_id})]
                [
                    json.loads(row.content)
                    for row in conn.execute(conversation_sql, {"based": f"CommunicationRequest/{request_id}"})
                ]

        phases: list[tuple[str, Callable[[int, int], None], Callable[[int, int], None]]] = [
            ("worklist", api_worklist, db_worklist),
            ("conversation", api_conversation, db_conversation),
        ]
        print(
            f"{options.clients} clients x {options.requests} requests; worklist pages of up to 20 open requests"
        )
        print(f"{'query':<16} {'API p95 ms':>10} {'API req/s':>10} {'floor p95 ms':>13} {'floor req/s':>12}")
        for name, api, floor in phases:
            api(0, 0)  # warm up
            api_p95, api_rate = timed(options.clients, options.requests, api)
            floor_p95, floor_rate = timed(options.clients, options.requests, floor)
            print(f"{name:<16} {api_p95:>10.1f} {api_rate:>10.0f} {floor_p95:>13.2f} {floor_rate:>12.0f}")
    finally:
        server.terminate()
        server.wait(timeout=20)
        engine.dispose()


if __name__ == "__main__":
    main()
