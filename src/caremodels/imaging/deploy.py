"""A folder of archives, one per trust: ``open_archives(folder, kind, trusts)`` gives the archives (and
starts an Orthanc server per trust when ``kind`` is "orthanc"), stopping the servers on exit. Used by
``care-record imaging load`` and ``care-record imaging serve``.

Boundaries: files and child processes only; nothing here reads a patient's data.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Literal

from caremodels.imaging.archive import DEFAULT_TIMEOUT, Archive, FileArchive
from caremodels.imaging.orthanc import OrthancServer

__all__ = ["ArchiveKind", "open_archives"]

ArchiveKind = Literal["file", "orthanc"]


@contextlib.contextmanager
def open_archives(
    folder: Path, kind: ArchiveKind, trusts: Sequence[str], *, timeout: float = DEFAULT_TIMEOUT
) -> Iterator[dict[str, Archive]]:
    servers: list[OrthancServer] = []
    archives: dict[str, Archive] = {}
    try:
        for trust in trusts:
            if kind == "file":
                archives[trust] = FileArchive(trust, folder / trust / "files", timeout=timeout)
            else:
                server = OrthancServer(trust, folder / trust / "orthanc").start()
                servers.append(server)
                archives[trust] = server.archive(timeout=timeout)
        yield archives
    finally:
        for server in servers:
            server.stop()
