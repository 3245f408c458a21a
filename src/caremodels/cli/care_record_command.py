"""caremodels care-record: the direct-care shared care record (init, load, users, token, serve, audit, extract)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from caremodels.cli.common import CONTEXT_SETTINGS, cli, print_json, reporter_of

STORE_OPTION = click.option(
    "--store",
    "store_url",
    required=True,
    help="SQLAlchemy URL of the operational store: sqlite:///care-record.db or "
    "postgresql+psycopg://user@host:5432/db (driver options in the query, e.g. ?options=-csearch_path%3Dschema).",
)


@cli.group("care-record", context_settings=CONTEXT_SETTINGS)
def care_record() -> None:
    """The direct-care shared care record: FHIR R4 API and pages over an operational store,
    one access policy (RBAC, sharing agreements, relationships, consent, break-glass) and a hash-chained audit."""


@care_record.command(context_settings=CONTEXT_SETTINGS)
@STORE_OPTION
@click.option(
    "--oidc-issuer",
    help="Use an external OIDC issuer (e.g. NHS CIS2) with this issuer id; demo tokens are then refused.",
)
@click.option("--oidc-audience", help="The audience (client id) tokens from the external issuer must carry.")
@click.option(
    "--oidc-jwks",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="The external issuer's JSON Web Key Set (a file: nothing is fetched at run time).",
)
@click.pass_context
def init(
    context: click.Context,
    store_url: str,
    oidc_issuer: str | None,
    oidc_audience: str | None,
    oidc_jwks: Path | None,
) -> None:
    """Create the store, or upgrade an older one to this version's schema."""
    from caremodels.care_record import init_store, open_store
    from caremodels.care_record.identity import configure_external_issuer

    before, after = init_store(store_url)
    reporter = reporter_of(context)
    if before == after:
        reporter.info(f"The store is current (schema revision {after}).")
    elif before is None:
        reporter.info(f"Created the store (schema revision {after}).")
    else:
        reporter.info(f"Upgraded the store from schema revision {before} to {after}.")
    if oidc_issuer or oidc_audience or oidc_jwks:
        if not (oidc_issuer and oidc_audience and oidc_jwks):
            raise click.UsageError("--oidc-issuer, --oidc-audience and --oidc-jwks go together")
        store = open_store(store_url)
        try:
            configure_external_issuer(store, issuer=oidc_issuer, audience=oidc_audience, jwks_file=oidc_jwks)
        finally:
            store.close()
        reporter.info("Configured the external identity issuer; demo tokens are refused from now on.")


@care_record.command(context_settings=CONTEXT_SETTINGS)
@STORE_OPTION
@click.option(
    "--from",
    "synth_dir",
    type=click.Path(path_type=Path, file_okay=False, exists=True),
    required=True,
    help="A `caremodels synth` output folder.",
)
@click.option(
    "--since",
    help="Load encounters, referrals and requests from this month (YYYY-MM); default: the economy's last six months.",
)
@click.option(
    "--patients",
    type=click.IntRange(min=1),
    help="Load only this many patients (the first by practice and NHS number).",
)
@click.option("--json", "as_json", is_flag=True, help="Print what was loaded as JSON.")
@click.pass_context
def load(
    context: click.Context,
    store_url: str,
    synth_dir: Path,
    since: str | None,
    patients: int | None,
    as_json: bool,
) -> None:
    """Fill the store from a synthetic economy: patients, organisations, care-home residence, conditions,
    encounters, referrals, advice and guidance requests, demo users and data-sharing agreements."""
    from caremodels.care_record import open_store
    from caremodels.care_record.load import load_synth
    from caremodels.cli.common import month

    store = open_store(store_url)
    try:
        with reporter_of(context).step("Loading the synthetic economy into the care record"):
            summary = load_synth(store, synth_dir, since=month(since), patients=patients)
    finally:
        store.close()
    if as_json:
        print_json(summary.as_dict())
    else:
        for name, count in summary.loaded.items():
            click.echo(f"{name}: {count:,} loaded, {summary.skipped[name]:,} already present")
        click.echo(f"demo users added: {summary.users}")


@care_record.command(context_settings=CONTEXT_SETTINGS)
@STORE_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print the users as JSON.")
def users(store_url: str, as_json: bool) -> None:
    """List the store's users (id, name, national RBAC role code, ODS organisation)."""
    from caremodels.care_record import open_store
    from caremodels.care_record.identity import list_users

    store = open_store(store_url)
    try:
        rows = [
            {
                "id": u["id"],
                "name": u["name"],
                "role_code": u["role_code"],
                "org_code": u["org_code"],
                "description": u["description"],
            }
            for u in list_users(store)
        ]
    finally:
        store.close()
    if as_json:
        print_json(rows)
    else:
        for row in rows:
            click.echo(f"{row['id']:<20} {row['role_code']:<6} {row['org_code']:<12} {row['name']}")


@care_record.command(context_settings=CONTEXT_SETTINGS)
@STORE_OPTION
@click.option("--user", "user_id", required=True, help="A user id from `care-record users`.")
def token(store_url: str, user_id: str) -> None:
    """Print a bearer token from the demo issuer (refused when an external issuer is configured)."""
    from caremodels.care_record import open_store
    from caremodels.care_record.identity import demo_token

    store = open_store(store_url)
    try:
        click.echo(demo_token(store, user_id))
    finally:
        store.close()


@care_record.command(context_settings=CONTEXT_SETTINGS)
@STORE_OPTION
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=8100, show_default=True)
@click.pass_context
def serve(context: click.Context, store_url: str, host: str, port: int) -> None:
    """Serve the FHIR API (/fhir) and the pages, advice and guidance included, with a fresh demo signing key."""
    from caremodels.advice.app import create_app
    from caremodels.care_record.app import start_care_record

    reporter = reporter_of(context)
    reporter.info(f"Care record at http://{host}:{port}/ (FHIR at /fhir; Ctrl+C to stop)")
    start_care_record(
        store_url, host, port, log_level="warning" if reporter.quiet else "info", app_factory=create_app
    )


@care_record.group(context_settings=CONTEXT_SETTINGS)
def audit() -> None:
    """The audit trail."""


@audit.command(context_settings=CONTEXT_SETTINGS)
@STORE_OPTION
@click.option("--json", "as_json", is_flag=True)
def verify(store_url: str, as_json: bool) -> None:
    """Check the audit hash chain; exit 1 naming the first record changed or missing."""
    from caremodels.care_record import open_store
    from caremodels.care_record.audit import verify as verify_chain

    store = open_store(store_url)
    try:
        with store.begin() as conn:
            result = verify_chain(conn)
    finally:
        store.close()
    if as_json:
        print_json(
            {
                "ok": result.ok,
                "checked": result.checked,
                "broken_seq": result.broken_seq,
                "broken_id": result.broken_id,
                "reason": result.reason,
            }
        )
    elif result.ok:
        click.echo(f"audit chain intact: {result.checked:,} records")
    else:
        click.echo(
            f"audit chain broken: {result.reason}"
            + (f" (AuditEvent/{result.broken_id})" if result.broken_id else ""),
            err=True,
        )
    if not result.ok:
        sys.exit(1)


@care_record.command(context_settings=CONTEXT_SETTINGS)
@STORE_OPTION
@click.option(
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    required=True,
    help="Folder for the NDJSON files.",
)
def extract(store_url: str, out: Path) -> None:
    """Write the record as FHIR NDJSON for `caremodels ingest` (pseudonymised there)."""
    from caremodels.care_record import open_store
    from caremodels.care_record.extract import extract_ndjson

    store = open_store(store_url)
    try:
        counts = extract_ndjson(store, out)
    finally:
        store.close()
    for name, count in counts.items():
        click.echo(f"{name}: {count:,} -> {out / (name + '.ndjson')}")


@care_record.command("load-risk-list", context_settings=CONTEXT_SETTINGS)
@STORE_OPTION
@click.argument("list_path", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@click.option(
    "--key-file",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="The pseudonymisation key (default: $CAREMODELS_PSEUDONYMISATION_KEY), as given to ingest.",
)
@click.option("--project", help="The project whose derived key made the warehouse's pseudonyms, if any.")
@click.option("--json", "as_json", is_flag=True)
def load_risk_list_command(
    store_url: str, list_path: Path, key_file: Path | None, project: str | None, as_json: bool
) -> None:
    """Re-identify a monthly risk list (caremodels risk list) inside the care record: each row whose
    pseudonym is one of the record's patients, registered with the row's practice, becomes a
    RiskAssessment in their record (audited); their practice sees it, an extensive care team once the
    patient is enrolled with it. Prints counts only, never a patient."""
    from caremodels.care_record import open_store
    from caremodels.care_record.caseloads import load_risk_list
    from caremodels.ingest import Pseudonymiser, derive_project_key, load_key

    key = load_key(key_file)
    store = open_store(store_url)
    try:
        pseudonymiser = Pseudonymiser(derive_project_key(key, project) if project else key)
        summary = load_risk_list(store, list_path, pseudonymiser.pseudonym)
    finally:
        store.close()
    counts = {
        "rows": summary.rows,
        "reidentified": summary.reidentified,
        "other_practice": summary.other_practice,
        "unmatched": summary.unmatched,
        "already_loaded": summary.already_loaded,
    }
    if as_json:
        print_json(counts)
    else:
        click.echo(", ".join(f"{name.replace('_', ' ')}: {count:,}" for name, count in counts.items()))
