"""The archive contract: Orthanc and the file archive answer the same STOW, QIDO and WADO round trips."""

from __future__ import annotations

import io

import numpy as np
import pydicom
import pytest

from caremodels.imaging.archive import ArchiveError, FileArchive
from caremodels.imaging.dicom import read_multipart
from caremodels.imaging.synthetic import MODALITIES, StudySpec, make_study
from tests.imaging.conftest import ArchiveFactory


def _spec(key: str, modality: str) -> StudySpec:
    return StudySpec(
        key, "9434765919", "Test", "Pat", "19600101", "F", modality, "20240105", "ACC" + key, "RX1"
    )


@pytest.fixture(scope="module")
def studies() -> dict[str, list[bytes]]:
    rng = np.random.default_rng(7)
    return {modality: make_study(_spec(f"k-{modality}", modality), rng) for modality in ("CT", "MR", "DX")}


def test_round_trip(
    archive_factory: ArchiveFactory, archive_kind: str, studies: dict[str, list[bytes]]
) -> None:
    archive, _server = archive_factory(archive_kind, "RX1")
    stored = archive.store([instance for study in studies.values() for instance in study])
    assert stored == sum(len(study) for study in studies.values())
    assert archive.health()
    mr = [pydicom.dcmread(io.BytesIO(data)) for data in studies["MR"]]
    study_uid = str(mr[0].StudyInstanceUID)
    series = archive.search_series(study_uid)
    shape = MODALITIES["MR"]
    assert [(s.modality, s.instances) for s in series] == [("MR", shape.instances)] * shape.series
    assert sorted(s.uid for s in series) == sorted({str(ds.SeriesInstanceUID) for ds in mr})
    first_series = sorted(series, key=lambda s: s.number or 0)[0]
    instances = archive.search_instances(study_uid, first_series.uid)
    assert [i.number for i in instances] == list(range(1, shape.instances + 1))
    assert {(i.rows, i.columns, i.frames) for i in instances} == {(shape.rows, shape.columns, 1)}
    metadata = archive.metadata(study_uid)
    assert len(metadata) == shape.series * shape.instances
    assert {m["0020000D"]["Value"][0] for m in metadata} == {study_uid}
    assert {m["00100020"]["Value"][0] for m in metadata} == {"9434765919"}
    one = next(ds for ds in mr if str(ds.SOPInstanceUID) == instances[0].uid)
    frame = archive.frame(study_uid, first_series.uid, instances[0].uid, 1)
    assert frame == pydicom.dcmread(io.BytesIO(studies["MR"][mr.index(one)])).PixelData
    jpeg = archive.rendered(study_uid, first_series.uid, instances[0].uid)
    assert jpeg[:3] == b"\xff\xd8\xff"
    stream = archive.retrieve_study(study_uid)
    body = b"".join(stream.chunks)
    parts = read_multipart(body, stream.content_type)
    assert sorted(pydicom.dcmread(io.BytesIO(p)).SOPInstanceUID for p in parts) == sorted(
        ds.SOPInstanceUID for ds in mr
    )


def test_unknown_and_unsafe(archive_factory: ArchiveFactory, archive_kind: str) -> None:
    archive, _server = archive_factory(archive_kind, "RK5")
    with pytest.raises(ArchiveError):
        archive.metadata("1.2.3.4")
    with pytest.raises(ArchiveError):
        archive.search_series("../etc")
    with pytest.raises(ArchiveError):
        archive.frame("1.2.3", "1.2.3.4", "1.2.3.4.5", 1)


def test_file_archive_rejects_non_dicom(tmp_path) -> None:
    from caremodels.imaging.dicom import DicomError

    with pytest.raises(DicomError, match="part 2 is not a DICOM object"):
        FileArchive("X", tmp_path).store(
            [make_study(_spec("a", "DX"), np.random.default_rng(1))[0], b"nonsense"]
        )
