"""Imaging fixtures: archives of both kinds, one per trust. An Orthanc archive is a real Orthanc server
(Debian's package) started with a generated configuration on a free loopback port and stopped at the
end. Where Orthanc is not installed the Orthanc half of the tests fails saying so (CI installs it
through scripts/services); it is never skipped."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from caremodels.imaging.archive import Archive, FileArchive
from caremodels.imaging.orthanc import OrthancServer, orthanc_available

ARCHIVE_KINDS = ("orthanc", "file")


class ArchiveFactory:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.servers: list[OrthancServer] = []
        self.count = 0

    def __call__(self, kind: str, name: str, timeout: float = 2.0) -> tuple[Archive, OrthancServer | None]:
        self.count += 1
        folder = self.folder / f"{kind}-{name}-{self.count}"
        if kind == "file":
            return FileArchive(name, folder, timeout=timeout), None
        missing = orthanc_available()
        if missing:
            pytest.fail(f"the imaging contract tests need Orthanc: {missing}")
        server = OrthancServer(name, folder).start()
        self.servers.append(server)
        return server.archive(timeout=timeout), server

    def stop_all(self) -> None:
        for server in self.servers:
            server.stop()


@pytest.fixture(scope="session")
def archive_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ArchiveFactory]:
    factory = ArchiveFactory(tmp_path_factory.mktemp("archives"))
    yield factory
    factory.stop_all()


@pytest.fixture(params=ARCHIVE_KINDS)
def archive_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


NewArchive = Callable[[str, str], tuple[Archive, OrthancServer | None]]


from tests.care_record.conftest import new_store_url  # noqa: E402,F401  (the store factory, both backends)
