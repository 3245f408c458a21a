"""Start and stop one Orthanc server per trust, configured as the consortium needs it: HTTP on a free
loopback port (``RemoteAccessAllowed`` false, so Orthanc refuses any other host), no DICOM listener,
authentication with one registered user (the gateway), the DICOMweb plugin with ``StudiesMetadata`` and
``SeriesMetadata`` "Full" (metadata answered from the stored files' full headers) and storage in a
folder of its own. Used by the tests, the benchmark and ``care-record imaging serve-archives``.

Boundaries: runs Debian's ``/usr/sbin/Orthanc`` as a child process; nothing here reads images.
A machine without Orthanc gets ``OrthancMissing`` naming what to install (``scripts/services`` does it
on Debian as root).
"""

from __future__ import annotations

import json
import secrets
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from caremodels.errors import CaremodelsError
from caremodels.imaging.archive import DEFAULT_TIMEOUT, OrthancArchive

__all__ = ["DICOMWEB_PLUGIN", "OrthancMissing", "OrthancServer", "free_port", "orthanc_available"]

DICOMWEB_PLUGIN = Path("/usr/share/orthanc/plugins/libOrthancDicomWeb.so")
GATEWAY_USER = "caremodels"


class OrthancMissing(CaremodelsError):
    """Orthanc or its DICOMweb plugin is not installed."""


def orthanc_binary() -> str | None:
    return shutil.which("Orthanc") or ("/usr/sbin/Orthanc" if Path("/usr/sbin/Orthanc").is_file() else None)


def orthanc_available() -> str | None:
    """None when Orthanc can run here, else what is missing."""
    if orthanc_binary() is None:
        return "Orthanc is not installed (Debian: apt-get install orthanc orthanc-dicomweb; scripts/services does it)"
    if not DICOMWEB_PLUGIN.is_file():
        return f"the Orthanc DICOMweb plugin is not at {DICOMWEB_PLUGIN} (Debian: apt-get install orthanc-dicomweb)"
    return None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class OrthancServer:
    """One trust's Orthanc: ``start()`` writes the configuration and waits until it answers."""

    name: str
    folder: Path
    port: int = 0
    password: str = field(default_factory=lambda: secrets.token_urlsafe(18))
    threads: int = 50
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def config(self) -> dict[str, object]:
        storage = self.folder / "storage"
        return {
            "Name": self.name,
            "StorageDirectory": str(storage),
            "IndexDirectory": str(storage),
            "HttpPort": self.port,
            "HttpThreadsCount": self.threads,
            "DicomServerEnabled": False,
            "RemoteAccessAllowed": False,
            "AuthenticationEnabled": True,
            "RegisteredUsers": {GATEWAY_USER: self.password},
            "HttpCompressionEnabled": False,
            "StorageCompression": False,
            "Plugins": [str(DICOMWEB_PLUGIN)],
            "DicomWeb": {
                "Enable": True,
                "Root": "/dicom-web/",
                "StudiesMetadata": "Full",
                "SeriesMetadata": "Full",
            },
        }

    def start(self, wait: float = 20.0) -> OrthancServer:
        missing = orthanc_available()
        if missing:
            raise OrthancMissing(missing)
        binary = orthanc_binary()
        if binary is None:  # pragma: no cover - orthanc_available said it was there
            raise OrthancMissing("Orthanc is not installed")
        if not self.port:
            self.port = free_port()
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / "storage").mkdir(exist_ok=True)
        config = self.folder / "orthanc.json"
        if config.is_file():
            # An archive folder started before keeps its gateway password (its port is chosen anew).
            users = json.loads(config.read_text(encoding="utf-8")).get("RegisteredUsers") or {}
            self.password = str(users.get(GATEWAY_USER, self.password))
        config.write_text(json.dumps(self.config(), indent=2), encoding="utf-8")
        config.chmod(0o600)  # it holds the gateway's password
        log = (self.folder / "orthanc.log").open("ab")
        # The binary is found on PATH or at Debian's path, and the argument is our own file.
        self.process = subprocess.Popen([binary, str(config)], stdout=log, stderr=subprocess.STDOUT)  # noqa: S603
        log.close()
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise OrthancMissing(
                    f"Orthanc for {self.name} exited at start (code {self.process.returncode}); "
                    f"see {self.folder / 'orthanc.log'}"
                )
            try:
                if (
                    httpx.get(f"{self.url}/system", auth=(GATEWAY_USER, self.password), timeout=1).status_code
                    == 200
                ):
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise OrthancMissing(f"Orthanc for {self.name} did not answer within {wait:g} s")

    def archive(self, timeout: float = DEFAULT_TIMEOUT) -> OrthancArchive:
        return OrthancArchive(
            self.name, self.url, username=GATEWAY_USER, password=self.password, timeout=timeout
        )

    def kill(self) -> None:
        """Stop it abruptly, as an outage would."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.process = None
