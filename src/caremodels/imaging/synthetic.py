"""Synthetic DICOM studies: real DICOM Part 10 objects (pydicom) with generated pixels, for the
synthetic economy's patients. ``make_study`` writes one study (one or more series of instances) for
one patient; the pixel values come from the seeded ``numpy.random.Generator`` passed in, so the same
seed gives the same bytes.

Boundaries: makes bytes only; loading them (STOW-RS through the gateway) is ``caremodels.imaging.load``.
"""

from __future__ import annotations

import io
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, UID, ExplicitVRLittleEndian

__all__ = ["MODALITIES", "ModalityShape", "StudySpec", "make_study", "uid_for"]


@dataclass(frozen=True)
class ModalityShape:
    """How a study of one modality is made: its SOP class, series and instances, and image size."""

    modality: str
    sop_class: str
    series: int
    instances: int
    rows: int
    columns: int
    description: str
    window: tuple[float, float]  # centre, width


# Study shapes kept small (the demo loads thousands): a real CT series has hundreds of slices.
MODALITIES: dict[str, ModalityShape] = {
    "DX": ModalityShape("DX", "1.2.840.10008.5.1.4.1.1.1.1", 1, 1, 512, 512, "XR chest", (2048, 4096)),
    "CT": ModalityShape("CT", "1.2.840.10008.5.1.4.1.1.2", 1, 8, 256, 256, "CT head", (40, 400)),
    "MR": ModalityShape("MR", "1.2.840.10008.5.1.4.1.1.4", 2, 4, 256, 256, "MR brain", (600, 1200)),
    "US": ModalityShape("US", "1.2.840.10008.5.1.4.1.1.6.1", 1, 2, 240, 320, "US abdomen", (128, 256)),
}


@dataclass(frozen=True)
class StudySpec:
    key: str  # a stable key the UIDs are derived from (the attendance or spell id)
    nhs_number: str
    family: str
    given: str
    birth_date: str  # YYYYMMDD
    sex: str  # M, F, O
    modality: str
    study_date: str  # YYYYMMDD
    accession: str
    trust: str  # the acquiring trust's ODS code (InstitutionCodeSequence is not needed for this)


_UID_NAMESPACE = uuid.UUID("5b1f6a52-63b5-4c2c-9d1c-6d1c0e7d2a01")  # this project's own, fixed


def uid_for(*parts: str) -> str:
    """A deterministic UID for a study, series or instance key: the 2.25 form (PS3.5 B.2) of a UUID 5,
    so loading the same encounters again gives the same UIDs."""
    return f"2.25.{uuid.uuid5(_UID_NAMESPACE, '/'.join(parts)).int}"


def _pixels(rng: np.random.Generator, shape: ModalityShape, position: int) -> np.ndarray:
    # A smooth body-like ellipse with texture and noise, so a rendered image is recognisably an image.
    y, x = np.mgrid[0 : shape.rows, 0 : shape.columns]
    cy, cx = shape.rows / 2, shape.columns / 2
    radius = ((y - cy) / (shape.rows * 0.42)) ** 2 + ((x - cx) / (shape.columns * 0.36)) ** 2
    centre, width = shape.window
    body = np.where(radius < 1, centre + width * 0.2 * np.cos(radius * 6 + position), centre - width * 0.45)
    noise = rng.normal(0, width * 0.03, size=(shape.rows, shape.columns))
    return np.clip(body + noise + 1024, 0, 65535).astype(np.uint16)


def make_study(spec: StudySpec, rng: np.random.Generator, shape: ModalityShape | None = None) -> list[bytes]:
    """Every instance of one study as DICOM Part 10 bytes (``shape``: another size than the modality's)."""
    if spec.modality not in MODALITIES:
        raise ValueError(f"modality {spec.modality} is not one of {sorted(MODALITIES)}")
    shape = shape or MODALITIES[spec.modality]
    study_uid = uid_for(spec.key, "study")
    out: list[bytes] = []
    for series in range(1, shape.series + 1):
        series_uid = uid_for(spec.key, "series", str(series))
        for number in range(1, shape.instances + 1):
            out.append(_instance(spec, shape, study_uid, series_uid, series, number, rng))
    return out


def _instance(
    spec: StudySpec,
    shape: ModalityShape,
    study_uid: str,
    series_uid: str,
    series: int,
    number: int,
    rng: np.random.Generator,
) -> bytes:
    sop_uid = uid_for(spec.key, "instance", str(series), str(number))
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID(shape.sop_class)
    meta.MediaStorageSOPInstanceUID = UID(sop_uid)
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    ds = Dataset()
    ds.file_meta = meta
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.SOPClassUID = shape.sop_class
    ds.SOPInstanceUID = sop_uid
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid
    ds.PatientID = spec.nhs_number
    ds.IssuerOfPatientID = "NHS"
    ds.PatientName = f"{spec.family}^{spec.given}"
    ds.PatientBirthDate = spec.birth_date
    ds.PatientSex = spec.sex
    ds.StudyDate = spec.study_date
    ds.SeriesDate = spec.study_date
    ds.StudyTime = "120000"
    ds.AccessionNumber = spec.accession
    ds.StudyID = spec.accession[-8:]
    ds.StudyDescription = shape.description
    ds.SeriesDescription = f"{shape.description} series {series}"
    ds.InstitutionName = spec.trust
    ds.Modality = spec.modality
    ds.SeriesNumber = series
    ds.InstanceNumber = number
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = shape.rows
    ds.Columns = shape.columns
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0
    ds.RescaleIntercept = -1024
    ds.RescaleSlope = 1
    ds.WindowCenter = shape.window[0]
    ds.WindowWidth = shape.window[1]
    ds.PixelData = _pixels(rng, shape, number).tobytes()
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def instances_of(studies: Sequence[list[bytes]]) -> list[bytes]:
    return [instance for study in studies for instance in study]
