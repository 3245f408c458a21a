"""Screenshots of the care record's pages, as each demo user sees them, for docs/care-record.md.

Usage (from the repository root, on a store filled by ``care-record load``):

    .venv/bin/python scripts/care_record_screenshots.py --store sqlite:///care-record.db --out docs/images

Serves the store on a free port, drives headless Chromium (/usr/bin/chromium, through Playwright) through
the log-in page, a GP's patient view, a care-home nurse refused a patient outside her home and
breaking the glass, a receptionist's and an outside clinician's view, and the privacy officer's alerts
and accesses, and writes ``care-record-*.png``. The server is stopped at the end.

Boundaries: reads the store only to choose patients (ids, never NHS numbers on screen beyond the
search box of the synthetic data); everything else goes through the pages.
"""

from __future__ import annotations

import argparse
import http.client
import socket
import subprocess
import sys
import time
from pathlib import Path

import sqlalchemy as sa
from playwright.sync_api import Page, sync_playwright

CHROMIUM = "/usr/bin/chromium"
NHS = "https://fhir.nhs.uk/Id/nhs-number"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def choose_patients(url: str) -> dict[str, tuple[str, str]]:
    """(id, NHS number) of a care-home resident at the GP's practice and of a GP patient not in a home."""
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        practice = conn.execute(sa.text("SELECT org_code FROM users WHERE id = 'gp'")).scalar()
        rows = conn.execute(
            sa.text(
                "SELECT i.resource_id, i.value FROM search_index i JOIN search_index g "
                "ON g.resource_type = 'Patient' AND g.resource_id = i.resource_id AND g.param = 'general-practitioner' "
                "JOIN search_index o ON o.resource_type = 'Organization' AND o.param = 'identifier' "
                "AND o.value = :practice AND g.value = 'Organization/' || o.resource_id "
                "WHERE i.resource_type = 'Patient' AND i.param = 'identifier' AND i.value LIKE :prefix "
                "ORDER BY i.resource_id"
            ),
            {"practice": practice, "prefix": NHS + "|%"},
        ).all()
        residents = set(
            conn.execute(
                sa.text("SELECT patient_id FROM resources WHERE resource_type = 'EpisodeOfCare'")
            ).scalars()
        )
    engine.dispose()
    patients = [(row.resource_id, row.value.split("|")[1]) for row in rows]
    resident = next((p for p in patients if p[0] in residents), None)
    other = next(p for p in patients if p[0] not in residents)
    if resident is None:
        raise SystemExit("no care-home resident among the GP's patients: load more patients")
    return {"resident": resident, "other": other}


def log_in(page: Page, base: str, user_id: str) -> None:
    page.context.clear_cookies()
    page.goto(f"{base}/login")
    page.check(f"input[name=user_id][value='{user_id}']")
    page.click("form[action='/login'] button[type=submit]")
    page.wait_for_load_state()


def shot(page: Page, out: Path, name: str) -> None:
    page.screenshot(path=str(out / f"care-record-{name}.png"), full_page=True)
    print(out / f"care-record-{name}.png")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", required=True)
    parser.add_argument("--out", type=Path, default=Path("docs/images"))
    options = parser.parse_args()
    options.out.mkdir(parents=True, exist_ok=True)
    patients = choose_patients(options.store)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(  # noqa: S603 - this interpreter running caremodels, no shell
        [
            sys.executable,
            "-m",
            "caremodels",
            "-q",
            "care-record",
            "serve",
            "--store",
            options.store,
            "--port",
            str(port),
        ],
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(1200):  # a loaded machine can take a minute to start the server
            if server.poll() is not None:
                raise SystemExit("the care record server stopped: is the store initialised and loaded?")
            try:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                connection.request("GET", "/login")
                connection.getresponse().read()
                break
            except OSError:
                time.sleep(0.1)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM,
                args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
            )
            page = browser.new_page(viewport={"width": 1100, "height": 900})
            page.goto(f"{base}/login")
            shot(page, options.out, "login")
            resident_id, resident_number = patients["resident"]
            other_id, _ = patients["other"]
            log_in(page, base, "gp")
            page.fill("#nhs_number", resident_number)
            page.click("form[action='/'] button[type=submit]")
            page.wait_for_load_state()
            shot(page, options.out, "gp-search")
            page.goto(f"{base}/patients/{resident_id}")
            shot(page, options.out, "gp-patient")
            log_in(page, base, "care-home-nurse")
            page.goto(f"{base}/patients/{resident_id}")
            shot(page, options.out, "nurse-resident")
            page.goto(f"{base}/patients/{other_id}")
            shot(page, options.out, "nurse-refused")
            page.goto(f"{base}/patients/{other_id}/break-glass")
            page.fill("#reason", "Resident's visiting relative collapsed in the home; GP surgery closed")
            shot(page, options.out, "break-glass")
            page.click(f"form[action='/patients/{other_id}/break-glass'] button[type=submit]")
            page.wait_for_load_state()
            shot(page, options.out, "nurse-after-break-glass")
            log_in(page, base, "receptionist")
            page.goto(f"{base}/patients/{resident_id}")
            shot(page, options.out, "receptionist")
            log_in(page, base, "outside-clinician")
            page.goto(f"{base}/patients/{resident_id}")
            shot(page, options.out, "outside-clinician")
            log_in(page, base, "radiologist")
            page.goto(f"{base}/patients/{resident_id}")
            shot(page, options.out, "radiologist")
            log_in(page, base, "privacy-officer")
            page.goto(f"{base}/privacy/alerts")
            shot(page, options.out, "privacy-alerts")
            page.goto(f"{base}/privacy/accesses?patient={other_id}")
            shot(page, options.out, "privacy-accesses")
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=20)


if __name__ == "__main__":
    main()
