"""`care-record serve` starts the app with a fresh demo key: the CapabilityStatement answers, a token
printed by `care-record token` afterwards is accepted, and one printed before the start is not."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Callable

import httpx
from click.testing import CliRunner

from caremodels.care_record import open_store
from caremodels.care_record.identity import rotate_demo_key
from caremodels.cli import cli
from tests.care_record.scenario import all_cases, build


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _token(url: str, user: str) -> str:
    result = CliRunner().invoke(cli, ["care-record", "token", "--store", url, "--user", user])
    assert result.exit_code == 0, result.output
    return result.output.strip()


def test_serve_answers_with_a_fresh_demo_key(new_store_url: Callable[[str], str]) -> None:
    url = new_store_url("sqlite")
    assert CliRunner().invoke(cli, ["care-record", "init", "--store", url]).exit_code == 0
    store = open_store(url)
    cases = [case for case in all_cases(("clinician",)) if case.org == "practice"][:1]
    patients = build(store, cases)
    rotate_demo_key(store)
    store.close()
    user = cases[0].user_id()
    stale = _token(url, user)
    port = _free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "caremodels",
            "-q",
            "care-record",
            "serve",
            "--store",
            url,
            "--port",
            str(port),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                metadata = httpx.get(f"{base}/fhir/metadata", timeout=2)
                break
            except httpx.TransportError:
                time.sleep(0.2)
        else:
            raise AssertionError("the care record did not start")
        assert metadata.json()["resourceType"] == "CapabilityStatement"
        patient = patients[cases[0].key]
        fresh = _token(url, user)
        assert (
            httpx.get(
                f"{base}/fhir/Patient/{patient}", headers={"Authorization": f"Bearer {fresh}"}
            ).status_code
            == 200
        )
        assert (
            httpx.get(
                f"{base}/fhir/Patient/{patient}", headers={"Authorization": f"Bearer {stale}"}
            ).status_code
            == 401
        )
    finally:
        server.terminate()
        _, errors = server.communicate(timeout=20)
    assert b"999" not in errors  # no NHS number (synthetic ones start 999) in the server's log
