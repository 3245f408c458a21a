"""The DICOMweb gateway over real archives: STOW, QIDO, WADO round trips through the care record's one
policy and audit; refusals outside the consortium and for cross-patient probes; dated membership."""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pydicom
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from caremodels.care_record import init_store, open_store
from caremodels.care_record.app import create_app
from caremodels.care_record.identity import demo_token, rotate_demo_key
from caremodels.care_record.store import Store, audit_events
from caremodels.imaging.api import imaging_extension
from caremodels.imaging.archive import Archive
from caremodels.imaging.dicom import multipart, read_multipart
from caremodels.imaging.orthanc import OrthancServer
from tests.imaging import world
from tests.imaging.conftest import ArchiveFactory

CASES = [("orthanc", "sqlite"), ("file", "sqlite"), ("file", "postgresql")]


@dataclass
class World:
    client: TestClient
    store: Store
    numbers: list[str]
    archives: dict[str, Archive]
    servers: dict[str, OrthancServer | None]
    studies: dict[str, list[bytes]]
    tokens: dict[str, dict[str, str]]

    def as_(self, user: str) -> dict[str, str]:
        if user not in self.tokens:
            self.tokens[user] = {"Authorization": f"Bearer {demo_token(self.store, user)}"}
        return self.tokens[user]

    def audit_rows(self) -> list[Any]:
        with self.store.begin() as conn:
            return list(conn.execute(sa.select(audit_events).order_by(audit_events.c.seq)))


def stow(client: TestClient, headers: dict[str, str], instances: list[bytes]) -> Any:
    boundary = "caremodels-test-boundary"
    return client.post(
        "/dicomweb/studies",
        content=b"".join(multipart(instances, boundary)),
        headers={
            **headers,
            "Content-Type": f'multipart/related; type="application/dicom"; boundary={boundary}',
        },
    )


def make_world(
    factory: ArchiveFactory,
    new_store_url: Callable[[str], str],
    kind: str,
    backend: str,
    timeout: float = 2.0,
) -> World:
    url = new_store_url(backend)
    init_store(url)
    store = open_store(url)
    rotate_demo_key(store)
    numbers = world.build(store)
    archives: dict[str, Archive] = {}
    servers: dict[str, OrthancServer | None] = {}
    for trust in world.TRUSTS:
        archives[trust], servers[trust] = factory(kind, trust, timeout)
    app = create_app(store, extensions=[imaging_extension(archives)])
    w = World(TestClient(app), store, numbers, archives, servers, {}, {})
    # Patient 0 has a CT at Nottingham (RX1) and an MR at Sherwood Forest (RK5); patient 1 an X-ray at RX1.
    w.studies = {
        "ct": world.study("ct0", numbers[0], "CT", "RX1"),
        "mr": world.study("mr0", numbers[0], "MR", "RK5"),
        "dx": world.study("dx1", numbers[1], "DX", "RX1"),
    }
    for key, user in (("ct", "radiologist"), ("mr", "sherwood-radiographer"), ("dx", "radiologist")):
        answer = stow(w.client, w.as_(user), w.studies[key])
        if answer.status_code != 200:
            raise RuntimeError(f"STOW of {key} failed: {answer.status_code} {answer.text}")
    return w


@pytest.fixture(scope="module", params=CASES, ids=["-".join(case) for case in CASES])
def gw(
    request: pytest.FixtureRequest, archive_factory: ArchiveFactory, new_store_url: Callable[[str], str]
) -> Iterator[World]:
    kind, backend = request.param
    w = make_world(archive_factory, new_store_url, kind, backend)
    yield w
    w.store.close()


def uid(data: bytes, keyword: str) -> str:
    return str(pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True).get(keyword))


def test_qido_studies_across_trusts_one_audit_per_patient(gw: World) -> None:
    before = len(gw.audit_rows())
    answer = gw.client.get(
        "/dicomweb/studies", params={"PatientID": gw.numbers[0]}, headers=gw.as_("radiologist")
    )
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("application/dicom+json")
    found = {
        (s["0020000D"]["Value"][0], s["00080080"]["Value"][0], s["00080061"]["Value"][0])
        for s in answer.json()
    }
    assert found == {
        (uid(gw.studies["ct"][0], "StudyInstanceUID"), "RX1", "CT"),
        (uid(gw.studies["mr"][0], "StudyInstanceUID"), "RK5", "MR"),
    }
    assert "warning" not in answer.headers
    rows = gw.audit_rows()[before:]
    assert [(row.patient_id, row.outcome) for row in rows] == [("p0", "0")]


def test_qido_refusals(gw: World) -> None:
    before = len(gw.audit_rows())
    outside = gw.client.get(
        "/dicomweb/studies", params={"PatientID": gw.numbers[0]}, headers=gw.as_("outside-clinician")
    )
    assert outside.status_code == 403
    # Nothing matched for them: the search is filtered before it is answered, so the refusal is
    # audited against the patient whose studies they asked for.
    probes = [
        {},
        {"PatientID": "*"},
        {"PatientID": gw.numbers[0][:5] + "*"},
        {"ModalitiesInStudy": "CT"},
        {"PatientName": "Test*"},
    ]
    statuses = [
        gw.client.get("/dicomweb/studies", params=probe, headers=gw.as_("radiologist")).status_code
        for probe in probes
    ]
    assert statuses == [403, 403, 403, 403, 400]
    clerk = gw.client.get("/dicomweb/studies", params={"PatientID": gw.numbers[0]}, headers=gw.as_("clerk"))
    assert clerk.status_code == 403
    anonymous = gw.client.get("/dicomweb/studies", params={"PatientID": gw.numbers[0]})
    assert anonymous.status_code == 401
    rows = gw.audit_rows()[before:]
    refused = [row for row in rows if row.outcome == "4"]
    assert len(refused) >= 1 + 4 + 1
    assert all(row.outcome == "4" for row in rows)


def test_outside_clinician_refused_everywhere(gw: World) -> None:
    study = uid(gw.studies["ct"][0], "StudyInstanceUID")
    series = uid(gw.studies["ct"][0], "SeriesInstanceUID")
    instance = uid(gw.studies["ct"][0], "SOPInstanceUID")
    paths = [
        f"/dicomweb/studies/{study}/metadata",
        f"/dicomweb/studies/{study}/series",
        f"/dicomweb/studies/{study}/series/{series}/instances/{instance}/frames/1",
        f"/dicomweb/studies/{study}/series/{series}/instances/{instance}/rendered",
        f"/dicomweb/studies/{study}",
    ]
    before = len(gw.audit_rows())
    for path in paths:
        answer = gw.client.get(path, headers=gw.as_("outside-clinician"))
        assert answer.status_code == 403, path
        assert answer.json()["resourceType"] == "OperationOutcome"
    rows = gw.audit_rows()[before:]
    assert [(row.patient_id, row.outcome) for row in rows] == [("p0", "4")] * len(paths)
    refused = stow(gw.client, gw.as_("outside-clinician"), gw.studies["dx"])
    assert refused.status_code == 403


def test_wado_round_trip_through_the_gateway(gw: World) -> None:
    data = gw.studies["mr"][0]
    study, series, instance = (
        uid(data, k) for k in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID")
    )
    headers = gw.as_("radiologist")  # at RX1, opening Sherwood Forest's study: consortium-wide
    before = len(gw.audit_rows())
    metadata = gw.client.get(f"/dicomweb/studies/{study}/metadata", headers=headers)
    assert metadata.status_code == 200
    assert len(metadata.json()) == len(gw.studies["mr"])
    series_list = gw.client.get(f"/dicomweb/studies/{study}/series", headers=headers).json()
    assert series in {s["0020000E"]["Value"][0] for s in series_list}
    instances = gw.client.get(f"/dicomweb/studies/{study}/series/{series}/instances", headers=headers).json()
    assert instance in {i["00080018"]["Value"][0] for i in instances}
    frame = gw.client.get(
        f"/dicomweb/studies/{study}/series/{series}/instances/{instance}/frames/1", headers=headers
    )
    assert frame.status_code == 200
    assert (
        read_multipart(frame.content, frame.headers["content-type"])[0]
        == pydicom.dcmread(io.BytesIO(data)).PixelData
    )
    jpeg = gw.client.get(
        f"/dicomweb/studies/{study}/series/{series}/instances/{instance}/rendered", headers=headers
    )
    assert jpeg.headers["content-type"] == "image/jpeg" and jpeg.content[:2] == b"\xff\xd8"
    whole = gw.client.get(f"/dicomweb/studies/{study}", headers=headers)
    parts = read_multipart(whole.content, whole.headers["content-type"])
    assert len(parts) == len(gw.studies["mr"])
    rows = gw.audit_rows()[before:]
    assert [(row.patient_id, row.outcome) for row in rows] == [("p0", "0")] * 6


def test_imaging_study_and_endpoint_in_fhir(gw: World) -> None:
    bundle = gw.client.get("/fhir/ImagingStudy", params={"patient": "p0"}, headers=gw.as_("privacy-officer"))
    assert bundle.status_code == 403  # privacy officers audit records; they do not read them
    # The patient's own record through FHIR (the GP practice is not in the consortium, so a trust user
    # without a relationship sees it through the gateway only); the index's rows are FHIR resources.
    with gw.store.begin() as conn:
        from caremodels.care_record.resources import read_resource
        from caremodels.care_record.store import imaging_studies

        rows = list(conn.execute(sa.select(imaging_studies).where(imaging_studies.c.patient_id == "p0")))
        assert len(rows) == 2
        for row in rows:
            stored = read_resource(conn, "ImagingStudy", row.imaging_study_id)
            assert stored is not None and stored.patient_id == "p0"
            assert stored.content["identifier"][0]["value"] == f"urn:oid:{row.study_uid}"
            assert stored.content["numberOfInstances"] == row.instances
            endpoint = read_resource(
                conn, "Endpoint", stored.content["endpoint"][0]["reference"].split("/")[1]
            )
            assert endpoint is not None and endpoint.content["address"].endswith("/dicomweb")


def test_membership_has_dates(gw: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """Derby joined in 2018: a Derby clinician opens a Nottingham study now, and was refused in 2017."""
    params = {"PatientID": gw.numbers[1]}
    assert (
        gw.client.get("/dicomweb/studies", params=params, headers=gw.as_("derby-clinician")).status_code
        == 200
    )
    service = gw.client.app.state.service  # type: ignore[attr-defined]
    monkeypatch.setattr(service, "clock", lambda: dt.datetime(2017, 6, 1, tzinfo=dt.UTC))
    assert (
        gw.client.get("/dicomweb/studies", params=params, headers=gw.as_("derby-clinician")).status_code
        == 403
    )
    assert gw.client.get("/dicomweb/studies", params=params, headers=gw.as_("radiologist")).status_code == 200


def test_stow_conflicts_and_bad_input(gw: World) -> None:
    # The same study sent by another trust is refused: it is held by its first archive.
    answer = stow(gw.client, gw.as_("sherwood-radiographer"), gw.studies["ct"])
    assert answer.status_code == 409
    bad = stow(gw.client, gw.as_("radiologist"), [b"not dicom"])
    assert bad.status_code == 400
    assert "part 1 is not a DICOM object" in bad.json()["issue"][0]["diagnostics"]
    unknown = world.study("zz", "9999999999"[:9] + "0", "DX", "RX1")
    assert stow(gw.client, gw.as_("radiologist"), unknown).status_code in (400, 422)


def test_remote_reporting_worklist(gw: World) -> None:
    """Each study is a Task on the worklist; a reporter of any member trust claims and reports it."""
    listed = gw.client.get("/dicomweb/worklist", headers=gw.as_("sherwood-radiographer"))
    assert listed.status_code == 200
    ct = uid(gw.studies["ct"][0], "StudyInstanceUID")
    by_study = {item["study_uid"]: item for item in listed.json()}
    assert {uid(gw.studies[k][0], "StudyInstanceUID") for k in ("ct", "mr", "dx")} <= set(by_study)
    task = by_study[ct]["task"]
    assert task["status"] == "requested" and by_study[ct]["trust"] == "RX1"
    assert gw.client.get("/dicomweb/worklist", headers=gw.as_("outside-clinician")).json() == []
    assert (
        gw.client.post(
            f"/dicomweb/worklist/{task['id']}/claim", headers=gw.as_("outside-clinician")
        ).status_code
        == 403
    )
    # Sherwood Forest's radiographer reports Nottingham's CT remotely.
    claimed = gw.client.post(
        f"/dicomweb/worklist/{task['id']}/claim", headers=gw.as_("sherwood-radiographer")
    )
    assert claimed.status_code == 200 and claimed.json()["status"] == "in-progress"
    assert (
        gw.client.post(f"/dicomweb/worklist/{task['id']}/claim", headers=gw.as_("radiologist")).status_code
        == 409
    )
    conclusion = {"conclusion": "No acute intracranial abnormality."}
    assert (
        gw.client.post(
            f"/dicomweb/worklist/{task['id']}/report", json=conclusion, headers=gw.as_("radiologist")
        ).status_code
        == 409
    )
    done = gw.client.post(
        f"/dicomweb/worklist/{task['id']}/report", json=conclusion, headers=gw.as_("sherwood-radiographer")
    )
    assert done.status_code == 200 and done.json()["status"] == "completed"
    assert ct not in {
        item["study_uid"]
        for item in gw.client.get("/dicomweb/worklist", headers=gw.as_("radiologist")).json()
    }
    gw.client.cookies.set("care_record_token", gw.as_("radiologist")["Authorization"].split()[1])
    try:
        assert "No acute intracranial abnormality." in gw.client.get(f"/imaging/studies/{ct}").text
    finally:
        gw.client.cookies.clear()


def test_viewer_pages(gw: World) -> None:
    token = gw.as_("radiologist")["Authorization"].split()[1]
    gw.client.cookies.set("care_record_token", token)
    try:
        page = gw.client.get("/imaging", params={"nhs": gw.numbers[0]})
        assert page.status_code == 200 and "2 studies" in page.text
        assert "RK5" in page.text and "RX1" in page.text
        study = uid(gw.studies["mr"][0], "StudyInstanceUID")
        view = gw.client.get(f"/imaging/studies/{study}")
        assert view.status_code == 200
        assert view.text.count("/rendered") == len(gw.studies["mr"])
        assert "Not reported yet" in view.text
        gw.client.cookies.set("care_record_token", gw.as_("outside-clinician")["Authorization"].split()[1])
        assert gw.client.get(f"/imaging/studies/{study}").status_code == 403
    finally:
        gw.client.cookies.clear()
