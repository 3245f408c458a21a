"""caremodels care-record imaging: the shared radiology record's archives (load, serve)."""

from __future__ import annotations

from pathlib import Path

import click

from caremodels.cli.care_record_command import STORE_OPTION, care_record
from caremodels.cli.common import CONTEXT_SETTINGS, print_json, reporter_of

ARCHIVES_OPTION = click.option(
    "--archives",
    "archives_dir",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Folder of the trusts' archives (one subfolder per trust; made when missing).",
)
KIND_OPTION = click.option(
    "--kind",
    type=click.Choice(["orthanc", "file"]),
    default="orthanc",
    show_default=True,
    help="orthanc: an Orthanc server per trust (Debian's orthanc, orthanc-dicomweb); file: DICOM files (pydicom).",
)
TRUSTS_OPTION = click.option(
    "--trust",
    "trusts",
    multiple=True,
    help="ODS code of a member trust to give an archive (repeatable; default: every member trust).",
)


def _trusts(store_url: str, given: tuple[str, ...]) -> list[str]:
    from caremodels.imaging.consortium import load_consortium

    members = [member.code for member in load_consortium().members]
    unknown = sorted(set(given) - set(members))
    if unknown:
        raise click.UsageError(f"not a consortium member: {', '.join(unknown)}")
    del store_url
    return list(given) or members


@care_record.group(context_settings=CONTEXT_SETTINGS)
def imaging() -> None:
    """The shared radiology record (EMRAD): archives, the consortium index, the DICOMweb gateway."""


@imaging.command(context_settings=CONTEXT_SETTINGS)
@STORE_OPTION
@ARCHIVES_OPTION
@KIND_OPTION
@TRUSTS_OPTION
@click.option("--seed", type=int, default=20170512, show_default=True)
@click.option("--limit", type=click.IntRange(1), default=None, help="At most this many studies.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def load(
    context: click.Context,
    store_url: str,
    archives_dir: Path,
    kind: str,
    trusts: tuple[str, ...],
    seed: int,
    limit: int | None,
    as_json: bool,
) -> None:
    """Write the consortium (dated membership) into the store and send synthetic studies for the
    store's A&E attendances and admissions at member trusts to their archives with STOW-RS."""
    import numpy as np

    from caremodels.care_record import open_store
    from caremodels.care_record.service import CareRecord
    from caremodels.imaging.consortium import ensure_consortium, load_consortium
    from caremodels.imaging.deploy import open_archives
    from caremodels.imaging.gateway import Gateway
    from caremodels.imaging.load import load_imaging

    reporter = reporter_of(context)
    store = open_store(store_url)
    try:
        with store.begin() as conn:
            ensure_consortium(conn, load_consortium())
        with open_archives(archives_dir, kind, _trusts(store_url, trusts)) as archives:  # type: ignore[arg-type]
            gateway = Gateway(CareRecord(store), archives)
            try:
                summary = load_imaging(gateway, np.random.default_rng(seed), limit=limit)
            finally:
                gateway.close()
    finally:
        store.close()
    if as_json:
        print_json(summary.as_dict())
    else:
        reporter.info(
            f"{summary.studies:,} studies ({summary.instances:,} instances) for {summary.encounters:,} "
            f"A&E attendances and admissions at member trusts; by trust {dict(summary.by_trust)}, "
            f"by modality {dict(summary.by_modality)}"
        )


@imaging.command(context_settings=CONTEXT_SETTINGS)
@STORE_OPTION
@ARCHIVES_OPTION
@KIND_OPTION
@TRUSTS_OPTION
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(0, 65535), default=8100, show_default=True)
@click.option(
    "--timeout",
    type=click.FloatRange(0.1, 60),
    default=2.0,
    show_default=True,
    help="Per-archive timeout (s).",
)
@click.pass_context
def serve(
    context: click.Context,
    store_url: str,
    archives_dir: Path,
    kind: str,
    trusts: tuple[str, ...],
    host: str,
    port: int,
    timeout: float,
) -> None:
    """Serve the care record with the DICOMweb gateway at /dicomweb and the trusts' archives."""
    import signal
    import sys

    from caremodels.care_record.app import create_app, start_care_record
    from caremodels.imaging.api import imaging_extension
    from caremodels.imaging.deploy import open_archives

    reporter = reporter_of(context)
    base = f"http://{host}:{port}"
    # uvicorn re-raises SIGTERM once it has shut down: exit through Python then, so that the
    # archives' Orthanc servers are stopped by open_archives rather than left running.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with open_archives(archives_dir, kind, _trusts(store_url, trusts), timeout=timeout) as archives:  # type: ignore[arg-type]
        reporter.info(
            f"Care record at {base}/ with DICOMweb at {base}/dicomweb ({len(archives)} {kind} archives)"
        )
        start_care_record(
            store_url,
            host,
            port,
            log_level="warning" if reporter.quiet else "info",
            app_factory=lambda store: create_app(
                store, extensions=[imaging_extension(archives, base_url=base)]
            ),
        )
