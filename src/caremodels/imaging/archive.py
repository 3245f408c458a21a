"""One member trust's DICOM archive behind one interface, ``Archive``: store (STOW-RS), search a study's
series and a series' instances, metadata, one frame, a rendered JPEG, a whole study as a stream, and
health. Two implementations pass the same contract tests (tests/imaging/test_archive_contract.py):

- ``OrthancArchive``: an Orthanc server (Debian's ``orthanc`` with ``orthanc-dicomweb``) spoken to over
  its DICOMweb API on loopback with HTTP basic authentication; every call has the archive's timeout.
- ``FileArchive``: DICOM files in a folder (``<study>/<series>/<instance>.dcm``) read with pydicom, for a
  laptop without Orthanc.

Boundaries: no policy and no audit here: the gateway (``caremodels.imaging.gateway``) decides and
audits before it calls an archive. Errors are ``ArchiveError`` (not found, refused) or
``ArchiveUnavailable`` (down, timed out), and never carry a patient-level value.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import httpx

from caremodels.errors import CaremodelsError
from caremodels.imaging.dicom import (
    DicomError,
    dicom_json,
    frame_bytes,
    index_fields,
    multipart,
    parse_instance,
    read_multipart,
    render_jpeg,
)

__all__ = [
    "Archive",
    "ArchiveError",
    "ArchiveUnavailable",
    "FileArchive",
    "InstanceInfo",
    "OrthancArchive",
    "SeriesInfo",
    "StudyStream",
]

DEFAULT_TIMEOUT = 2.0


class ArchiveError(CaremodelsError):
    """The archive answered but refused or does not hold what was asked for."""

    def __init__(self, message: str, *, status: int = 404) -> None:
        super().__init__(message)
        self.status = status


class ArchiveUnavailable(CaremodelsError):
    """The archive did not answer in time, or not at all."""


@dataclass(frozen=True)
class SeriesInfo:
    uid: str
    modality: str
    number: int | None
    instances: int


@dataclass(frozen=True)
class InstanceInfo:
    uid: str
    sop_class: str
    number: int | None
    rows: int
    columns: int
    frames: int


@dataclass(frozen=True)
class StudyStream:
    """A whole study as multipart/related application/dicom, in chunks as the archive sends them."""

    content_type: str
    chunks: Iterator[bytes]


class Archive(Protocol):
    name: str
    timeout: float

    def store(self, instances: Sequence[bytes]) -> int: ...

    def search_series(self, study_uid: str) -> list[SeriesInfo]: ...

    def search_instances(self, study_uid: str, series_uid: str) -> list[InstanceInfo]: ...

    def metadata(self, study_uid: str, series_uid: str | None = None) -> list[dict[str, Any]]: ...

    def frame(self, study_uid: str, series_uid: str, instance_uid: str, frame: int) -> bytes: ...

    def rendered(self, study_uid: str, series_uid: str, instance_uid: str) -> bytes: ...

    def retrieve_study(self, study_uid: str) -> StudyStream: ...

    def health(self) -> bool: ...


def _value(document: dict[str, Any], tag: str) -> Any:
    values = (document.get(tag) or {}).get("Value") or [None]
    return values[0]


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _safe_uid(uid: str) -> str:
    # UIDs are digits and dots; anything else would let a request walk out of the archive's folder.
    if not uid or len(uid) > 64 or any(ch not in "0123456789." for ch in uid):
        raise ArchiveError("a DICOM UID is digits and dots, at most 64 characters", status=400)
    return uid


class FileArchive:
    """DICOM files in a folder, one file per instance."""

    def __init__(self, name: str, root: Path, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.name = name
        self.root = Path(root)
        self.timeout = timeout
        self.root.mkdir(parents=True, exist_ok=True)

    def _study(self, study_uid: str) -> Path:
        folder = self.root / _safe_uid(study_uid)
        if not folder.is_dir():
            raise ArchiveError(f"archive {self.name} holds no study with that UID")
        return folder

    def _series(self, study_uid: str, series_uid: str) -> Path:
        folder = self._study(study_uid) / _safe_uid(series_uid)
        if not folder.is_dir():
            raise ArchiveError(f"archive {self.name} holds no such series in that study")
        return folder

    def _instance(self, study_uid: str, series_uid: str, instance_uid: str) -> Path:
        path = self._series(study_uid, series_uid) / f"{_safe_uid(instance_uid)}.dcm"
        if not path.is_file():
            raise ArchiveError(f"archive {self.name} holds no such instance in that series")
        return path

    def store(self, instances: Sequence[bytes]) -> int:
        for position, data in enumerate(instances, start=1):
            fields = index_fields(parse_instance(data, position), position)
            folder = self.root / _safe_uid(fields.study_uid) / _safe_uid(fields.series_uid)
            folder.mkdir(parents=True, exist_ok=True)
            # Written beside and renamed, so that a reader never sees half an instance.
            partial = folder / f".{uuid.uuid4().hex}.part"
            partial.write_bytes(data)
            partial.replace(folder / f"{_safe_uid(fields.sop_uid)}.dcm")
        return len(instances)

    def search_series(self, study_uid: str) -> list[SeriesInfo]:
        found = []
        for folder in sorted(p for p in self._study(study_uid).iterdir() if p.is_dir()):
            files = sorted(folder.glob("*.dcm"))
            if not files:
                continue
            ds = parse_instance(files[0].read_bytes())
            found.append(
                SeriesInfo(folder.name, str(ds.get("Modality", "")), _int(ds.get("SeriesNumber")), len(files))
            )
        return found

    def search_instances(self, study_uid: str, series_uid: str) -> list[InstanceInfo]:
        found = []
        for path in sorted(self._series(study_uid, series_uid).glob("*.dcm")):
            ds = parse_instance(path.read_bytes())
            found.append(
                InstanceInfo(
                    path.stem,
                    str(ds.get("SOPClassUID", "")),
                    _int(ds.get("InstanceNumber")),
                    int(ds.get("Rows", 0) or 0),
                    int(ds.get("Columns", 0) or 0),
                    int(ds.get("NumberOfFrames", 1) or 1),
                )
            )
        return sorted(found, key=lambda info: (info.number is None, info.number or 0, info.uid))

    def metadata(self, study_uid: str, series_uid: str | None = None) -> list[dict[str, Any]]:
        folders = (
            [self._series(study_uid, series_uid)]
            if series_uid
            else sorted(p for p in self._study(study_uid).iterdir() if p.is_dir())
        )
        return [
            dicom_json(parse_instance(path.read_bytes()))
            for folder in folders
            for path in sorted(folder.glob("*.dcm"))
        ]

    def frame(self, study_uid: str, series_uid: str, instance_uid: str, frame: int) -> bytes:
        path = self._instance(study_uid, series_uid, instance_uid)
        try:
            return frame_bytes(parse_instance(path.read_bytes(), pixels=True), frame)
        except DicomError as error:
            raise ArchiveError(str(error)) from None

    def rendered(self, study_uid: str, series_uid: str, instance_uid: str) -> bytes:
        path = self._instance(study_uid, series_uid, instance_uid)
        try:
            return render_jpeg(parse_instance(path.read_bytes(), pixels=True))
        except DicomError as error:
            raise ArchiveError(str(error)) from None

    def retrieve_study(self, study_uid: str) -> StudyStream:
        folder = self._study(study_uid)
        paths = sorted(folder.glob("*/*.dcm"))
        boundary = uuid.uuid4().hex
        return StudyStream(
            f'multipart/related; type="application/dicom"; boundary={boundary}',
            multipart((path.read_bytes() for path in paths), boundary),
        )

    def health(self) -> bool:
        return self.root.is_dir() and shutil.disk_usage(self.root).free > 0


class OrthancArchive:
    """An Orthanc server's DICOMweb API (``/dicom-web``), on loopback, with basic authentication."""

    def __init__(
        self,
        name: str,
        base_url: str,
        *,
        username: str,
        password: str,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.name = name
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._client = httpx.Client(
            base_url=self.base_url + "/dicom-web",
            auth=(username, password),
            timeout=timeout,
            # The gateway's reporters share a pool per archive; Orthanc keeps connections alive.
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=64),
        )

    def close(self) -> None:
        self._client.close()

    def _send(self, request: httpx.Request, *, stream: bool = False) -> httpx.Response:
        try:
            response = self._client.send(request, stream=stream)
        except httpx.TimeoutException:
            raise ArchiveUnavailable(
                f"archive {self.name} did not answer within {self.timeout:g} s"
            ) from None
        except httpx.TransportError as error:
            raise ArchiveUnavailable(
                f"archive {self.name} cannot be reached ({type(error).__name__})"
            ) from None
        if response.status_code >= 400:
            response.close()
            self._check(response)
        return response

    def _get(self, path: str, accept: str = "application/dicom+json") -> httpx.Response:
        return self._send(self._client.build_request("GET", path, headers={"Accept": accept}))

    def _check(self, response: httpx.Response) -> None:
        if response.status_code == 404:
            raise ArchiveError(f"archive {self.name} holds no such object")
        if response.status_code in (401, 403):
            raise ArchiveUnavailable(f"archive {self.name} refused the gateway's credentials")
        if response.status_code >= 500:
            raise ArchiveUnavailable(f"archive {self.name} failed ({response.status_code})")
        if response.status_code >= 400:
            raise ArchiveError(
                f"archive {self.name} refused the request ({response.status_code})", status=400
            )

    def _json(self, path: str) -> list[dict[str, Any]]:
        response = self._get(path)
        if not response.content:
            return []
        body = response.json()
        return body if isinstance(body, list) else [body]

    def store(self, instances: Sequence[bytes]) -> int:
        boundary = uuid.uuid4().hex
        response = self._send(
            self._client.build_request(
                "POST",
                "/studies",
                content=b"".join(multipart(instances, boundary)),
                headers={
                    "Content-Type": f'multipart/related; type="application/dicom"; boundary={boundary}',
                    "Accept": "application/dicom+json",
                },
            )
        )
        answer = response.json()
        failed = (answer.get("00081198") or {}).get("Value") or []
        if failed:
            raise ArchiveError(f"archive {self.name} refused {len(failed)} of the instances", status=409)
        return len((answer.get("00081199") or {}).get("Value") or [])

    def search_series(self, study_uid: str) -> list[SeriesInfo]:
        rows = self._json(f"/studies/{_safe_uid(study_uid)}/series")
        return sorted(
            (
                SeriesInfo(
                    str(_value(row, "0020000E")),
                    str(_value(row, "00080060") or ""),
                    _int(_value(row, "00200011")),
                    _int(_value(row, "00201209")) or 0,
                )
                for row in rows
            ),
            key=lambda info: info.uid,
        )

    def search_instances(self, study_uid: str, series_uid: str) -> list[InstanceInfo]:
        rows = self._json(
            f"/studies/{_safe_uid(study_uid)}/series/{_safe_uid(series_uid)}/instances"
            "?includefield=00280010&includefield=00280011&includefield=00280008"
        )
        found = [
            InstanceInfo(
                str(_value(row, "00080018")),
                str(_value(row, "00080016") or ""),
                _int(_value(row, "00200013")),
                _int(_value(row, "00280010")) or 0,
                _int(_value(row, "00280011")) or 0,
                _int(_value(row, "00280008")) or 1,
            )
            for row in rows
        ]
        return sorted(found, key=lambda info: (info.number is None, info.number or 0, info.uid))

    def metadata(self, study_uid: str, series_uid: str | None = None) -> list[dict[str, Any]]:
        path = f"/studies/{_safe_uid(study_uid)}"
        if series_uid:
            path += f"/series/{_safe_uid(series_uid)}"
        return self._json(path + "/metadata")

    def _instance_path(self, study_uid: str, series_uid: str, instance_uid: str) -> str:
        return (
            f"/studies/{_safe_uid(study_uid)}/series/{_safe_uid(series_uid)}"
            f"/instances/{_safe_uid(instance_uid)}"
        )

    def frame(self, study_uid: str, series_uid: str, instance_uid: str, frame: int) -> bytes:
        response = self._get(
            f"{self._instance_path(study_uid, series_uid, instance_uid)}/frames/{int(frame)}",
            accept='multipart/related; type="application/octet-stream"',
        )
        try:
            return read_multipart(response.content, response.headers.get("content-type", ""))[0]
        except DicomError as error:
            raise ArchiveUnavailable(f"archive {self.name} sent an unreadable frame ({error})") from None

    def rendered(self, study_uid: str, series_uid: str, instance_uid: str) -> bytes:
        return self._get(
            f"{self._instance_path(study_uid, series_uid, instance_uid)}/rendered", accept="image/jpeg"
        ).content

    def retrieve_study(self, study_uid: str) -> StudyStream:
        request = self._client.build_request(
            "GET",
            f"/studies/{_safe_uid(study_uid)}",
            headers={"Accept": 'multipart/related; type="application/dicom"'},
        )
        response = self._send(request, stream=True)

        def chunks() -> Iterator[bytes]:
            try:
                yield from response.iter_bytes(chunk_size=1 << 20)
            finally:
                response.close()

        return StudyStream(response.headers.get("content-type", "multipart/related"), chunks())

    def health(self) -> bool:
        try:
            response = self._client.get(self.base_url + "/system", timeout=min(self.timeout, 1.0))
        except httpx.HTTPError:
            return False
        return response.status_code == 200
