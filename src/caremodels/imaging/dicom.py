"""DICOM plumbing shared by the archives and the gateway: multipart/related bodies (STOW-RS requests,
WADO-RS answers), the index fields of an instance, DICOM JSON of a dataset without its pixels, the raw
bytes of one frame and a JPEG rendering of it.

Boundaries: pure functions over bytes and pydicom datasets; no HTTP, no store. Errors are
``DicomError`` and name the part (by position) and the attribute, never a patient-level value.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pydicom
from pydicom.dataset import Dataset

from caremodels.errors import CaremodelsError

__all__ = [
    "DicomError",
    "IndexFields",
    "boundary_of",
    "dicom_json",
    "frame_bytes",
    "index_fields",
    "multipart",
    "parse_instance",
    "read_multipart",
    "render_jpeg",
]

_BOUNDARY = re.compile(r'boundary="?([^";]+)"?', re.IGNORECASE)
PIXEL_DATA = "7FE00010"


class DicomError(CaremodelsError):
    """A DICOM object or a multipart body that cannot be used."""


@dataclass(frozen=True)
class IndexFields:
    """What the consortium index keeps of a study, read from one of its instances."""

    study_uid: str
    series_uid: str
    sop_uid: str
    patient_id: str
    modality: str
    study_date: str  # YYYYMMDD as in DICOM, "" when absent
    accession: str


def boundary_of(content_type: str) -> str:
    found = _BOUNDARY.search(content_type or "")
    if not found or not content_type.lower().startswith("multipart/related"):
        raise DicomError("the body must be multipart/related with a boundary")
    return found.group(1)


def multipart(parts: Iterable[bytes], boundary: str, part_type: str = "application/dicom") -> Iterator[bytes]:
    """A multipart/related body, one chunk per part, so that a study streams without being held whole."""
    for part in parts:
        yield (
            b"--"
            + boundary.encode()
            + b"\r\nContent-Type: "
            + part_type.encode()
            + b"\r\n\r\n"
            + part
            + b"\r\n"
        )
    yield b"--" + boundary.encode() + b"--\r\n"


def read_multipart(body: bytes, content_type: str) -> list[bytes]:
    """The parts' bodies of a multipart/related body."""
    delimiter = b"--" + boundary_of(content_type).encode()
    parts: list[bytes] = []
    for chunk in body.split(delimiter)[1:]:
        if chunk.startswith(b"--"):
            break
        head, separator, rest = chunk.partition(b"\r\n\r\n")
        if not separator:
            raise DicomError(f"part {len(parts) + 1} of the multipart body has no header end")
        del head
        parts.append(rest[:-2] if rest.endswith(b"\r\n") else rest)
    if not parts:
        raise DicomError("the multipart body has no parts")
    return parts


def parse_instance(data: bytes, position: int = 1, *, pixels: bool = False) -> Dataset:
    try:
        return pydicom.dcmread(io.BytesIO(data), stop_before_pixels=not pixels)
    except Exception as error:  # pydicom raises several types for a damaged object
        raise DicomError(f"part {position} is not a DICOM object ({type(error).__name__})") from None


def _text(ds: Dataset, keyword: str) -> str:
    value = ds.get(keyword)
    return "" if value is None else str(value).strip()


def index_fields(ds: Dataset, position: int = 1) -> IndexFields:
    fields = {
        keyword: _text(ds, keyword)
        for keyword in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "PatientID", "Modality")
    }
    for keyword, value in fields.items():
        if not value:
            raise DicomError(f"part {position}: {keyword} is missing")
    return IndexFields(
        study_uid=fields["StudyInstanceUID"],
        series_uid=fields["SeriesInstanceUID"],
        sop_uid=fields["SOPInstanceUID"],
        patient_id=fields["PatientID"],
        modality=fields["Modality"],
        study_date=_text(ds, "StudyDate"),
        accession=_text(ds, "AccessionNumber"),
    )


def dicom_json(ds: Dataset, bulk_uri: str | None = None) -> dict[str, Any]:
    """The DICOM JSON model of a dataset, its pixel data replaced by a bulk data reference."""

    def bulk(element: Any) -> str:
        del element
        return bulk_uri or ""

    document: dict[str, Any] = ds.to_json_dict(bulk_data_threshold=1024, bulk_data_element_handler=bulk)
    if PIXEL_DATA in document:
        document[PIXEL_DATA] = {"vr": document[PIXEL_DATA].get("vr", "OW"), "BulkDataURI": bulk_uri or ""}
    return document


def frame_bytes(ds: Dataset, frame: int) -> bytes:
    """The native (uncompressed) bytes of one frame, numbered from 1 as in WADO-RS."""
    if "PixelData" not in ds:
        raise DicomError("the instance has no pixel data")
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    if not 1 <= frame <= frames:
        raise DicomError(f"frame {frame} is outside 1..{frames}")
    if ds.file_meta.TransferSyntaxUID.is_compressed:
        ds.decompress()
    data: bytes = ds.PixelData
    size = len(data) // frames
    return data[(frame - 1) * size : frame * size]


def render_jpeg(ds: Dataset, frame: int = 1, quality: int = 90) -> bytes:
    """One frame as an 8-bit JPEG, windowed by the instance's own window (or its range when it has none)."""
    from PIL import Image

    if "PixelData" not in ds:
        raise DicomError("the instance has no pixel data")
    pixels = np.asarray(ds.pixel_array, dtype=np.float64)
    if int(ds.get("NumberOfFrames", 1) or 1) > 1:
        pixels = pixels[frame - 1]
    slope = float(ds.get("RescaleSlope", 1) or 1)
    intercept = float(ds.get("RescaleIntercept", 0) or 0)
    pixels = pixels * slope + intercept
    centre, width = ds.get("WindowCenter"), ds.get("WindowWidth")
    if centre is not None and width is not None:
        c = float(centre[0] if isinstance(centre, pydicom.multival.MultiValue) else centre)
        w = float(width[0] if isinstance(width, pydicom.multival.MultiValue) else width)
        low, high = c - w / 2, c + w / 2
    else:
        low, high = float(pixels.min()), float(pixels.max())
    scaled = np.clip((pixels - low) / max(high - low, 1e-9), 0, 1) * 255
    if _text(ds, "PhotometricInterpretation") == "MONOCHROME1":
        scaled = 255 - scaled
    image = Image.fromarray(scaled.astype(np.uint8))
    out = io.BytesIO()
    image.convert("L" if image.mode != "RGB" else "RGB").save(out, format="JPEG", quality=quality)
    return out.getvalue()
