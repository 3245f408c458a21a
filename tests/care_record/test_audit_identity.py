"""The audit chain finds a changed or removed row; an audit that cannot be written fails the access;
identity: external issuer configuration, demo tokens refused then, CIS2-style claims read."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path

import jwt
import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi.testclient import TestClient

from caremodels.care_record import init_store, open_store
from caremodels.care_record.app import create_app
from caremodels.care_record.audit import verify
from caremodels.care_record.identity import demo_token, rotate_demo_key
from caremodels.care_record.resources import CareRecordError
from caremodels.care_record.store import audit_events
from caremodels.cli import cli
from tests.care_record.scenario import all_cases, build


@pytest.fixture
def small(backend: str, new_store_url: Callable[[str], str]):
    url = new_store_url(backend)
    init_store(url)
    store = open_store(url)
    rotate_demo_key(store)
    cases = [
        case
        for case in all_cases(("clinician",))
        if case.org == "practice" and case.mode == "legitimate" and not case.glass
    ][:4]
    patients = build(store, cases)
    yield url, store, cases, patients
    store.close()


def _touch(url: str, store, cases, patients, times: int = 3) -> None:
    client = TestClient(create_app(store))
    headers = {"Authorization": f"Bearer {demo_token(store, cases[0].user_id())}"}
    for case in cases[:times]:
        assert client.get(f"/fhir/Patient/{patients[case.key]}", headers=headers).status_code == 200


def test_tampering_with_one_row_is_found(small) -> None:
    url, store, cases, patients = small
    _touch(url, store, cases, patients)
    runner = CliRunner()
    intact = runner.invoke(cli, ["care-record", "audit", "verify", "--store", url])
    assert intact.exit_code == 0, intact.output
    assert "intact: 3 records" in intact.output
    with store.begin() as conn:
        row = conn.execute(sa.select(audit_events).where(audit_events.c.seq == 2)).one()
        changed = json.loads(row.content)
        changed["outcome"] = "4"
        conn.execute(audit_events.update().where(audit_events.c.seq == 2).values(content=json.dumps(changed)))
    broken = runner.invoke(cli, ["care-record", "audit", "verify", "--store", url])
    assert broken.exit_code == 1
    assert "audit record 2 was changed" in broken.output
    assert row.id in broken.output


def test_removing_a_row_or_the_newest_rows_is_found(small) -> None:
    url, store, cases, patients = small
    _touch(url, store, cases, patients)
    with store.begin() as conn:
        conn.execute(audit_events.delete().where(audit_events.c.seq == 3))
        result = verify(conn)
    assert not result.ok
    assert result.broken_seq == 3
    assert "missing" in result.reason
    with store.begin() as conn:
        conn.execute(audit_events.delete().where(audit_events.c.seq == 2))
        conn.execute(
            audit_events.insert().values(
                seq=2,
                id="x",
                recorded="x",
                user_id=None,
                patient_id=None,
                action="read",
                outcome="0",
                content="{}",
                previous_hash="0",
                hash="0",
            )
        )
        assert verify(conn).broken_seq == 2


def test_an_access_whose_audit_fails_fails(small, monkeypatch: pytest.MonkeyPatch) -> None:
    _url, store, cases, patients = small
    client = TestClient(create_app(store), raise_server_exceptions=False)
    headers = {"Authorization": f"Bearer {demo_token(store, cases[0].user_id())}"}
    patient = patients[cases[0].key]

    def broken(*args, **kwargs):
        raise RuntimeError("the audit table is unavailable")

    monkeypatch.setattr("caremodels.care_record.service.write_audit", broken)
    read = client.get(f"/fhir/Patient/{patient}", headers=headers)
    assert read.status_code == 500
    assert patient not in read.text
    condition = {
        "resourceType": "Condition",
        "subject": {"reference": f"Patient/{patient}"},
        "code": {"text": "x"},
    }
    assert client.post("/fhir/Condition", json=condition, headers=headers).status_code == 500
    monkeypatch.undo()
    found = client.get(f"/fhir/Condition?patient={patient}", headers=headers).json()
    assert found["total"] == 0  # the create was rolled back with its failed audit


def test_an_external_issuer_replaces_the_demo_issuer(small, tmp_path: Path) -> None:
    url, store, cases, patients = small
    key = ec.generate_private_key(ec.SECP256R1())
    public = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
    public["kid"] = "cis2-test"
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps({"keys": [public]}))
    runner = CliRunner()
    result = runner.invoke(
        cli,
        [
            "care-record",
            "init",
            "--store",
            url,
            "--oidc-issuer",
            "https://cis2.example/issuer",
            "--oidc-audience",
            "care-record",
            "--oidc-jwks",
            str(jwks),
        ],
    )
    assert result.exit_code == 0, result.output
    with pytest.raises(CareRecordError, match="demo tokens are refused"):
        demo_token(store, cases[0].user_id())
    refused = runner.invoke(cli, ["care-record", "token", "--store", url, "--user", cases[0].user_id()])
    assert refused.exit_code != 0
    now = dt.datetime.now(dt.UTC)
    claims = {
        "iss": "https://cis2.example/issuer",
        "aud": "care-record",
        "sub": "cis2-user-1",
        "exp": int((now + dt.timedelta(minutes=5)).timestamp()),
        "name": "Dr External",
        "nhsid_useruid": "555012345678",
        "selected_roleid": "role-1",
        "nhsid_nrbac_roles": [
            {"person_roleid": "role-0", "role_code": "S0080:G0450:R0001", "org_code": "RX1"},
            {"person_roleid": "role-1", "role_code": "S8000:G8000:R8000", "org_code": cases[0].org_code()},
        ],
    }
    token = jwt.encode(claims, key, algorithm="ES256", headers={"kid": "cis2-test"})
    client = TestClient(create_app(store))
    response = client.get(
        f"/fhir/Patient/{patients[cases[0].key]}", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 200  # the selected role (R8000 at the patient's practice) decides
    wrong_audience = jwt.encode(
        {**claims, "aud": "someone-else"}, key, algorithm="ES256", headers={"kid": "cis2-test"}
    )
    assert (
        client.get(
            f"/fhir/Patient/{patients[cases[0].key]}", headers={"Authorization": f"Bearer {wrong_audience}"}
        ).status_code
        == 401
    )


def _read_many(url: str, user_id: str, patient_ids: list[str], threads: int) -> None:
    """One server-like process: several threads, each reading (and so auditing) every patient."""
    import threading

    from caremodels.care_record.policy import Principal
    from caremodels.care_record.service import CareRecord
    from caremodels.care_record.store import users

    store = open_store(url)
    with store.begin() as conn:
        user = conn.execute(sa.select(users).where(users.c.id == user_id)).one()
    principal = Principal(
        user.id, user.name, user.role_code, user.org_code, user.sds_user_id, user.practitioner_id
    )
    service = CareRecord(store)

    def work() -> None:
        for patient_id in patient_ids:
            service.read(principal, "Patient", patient_id)

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    store.close()


def test_concurrent_writers_in_two_processes_keep_one_chain(small) -> None:
    """`serve --workers 2`: two processes, each with threads, append to one unbroken chain."""
    import multiprocessing

    url, store, cases, patients = small
    with store.begin() as conn:
        before = verify(conn).checked
    ids = [patients[case.key] for case in cases]
    # fork: the children open the store afresh (no connection of the parent is used in them).
    context = multiprocessing.get_context("fork")
    processes = [context.Process(target=_read_many, args=(url, cases[0].user_id(), ids, 3)) for _ in range(2)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=120)
        assert process.exitcode == 0
    with store.begin() as conn:
        result = verify(conn)
    assert result.ok, result.reason
    assert result.checked == before + 2 * 3 * len(ids)
