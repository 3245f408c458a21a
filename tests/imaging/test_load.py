"""Synthetic imaging from the record's own encounters: A&E attendances and admissions at member trusts
get studies (STOW-RS through the gateway, so indexed and audited); other encounters do not."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import numpy as np
import sqlalchemy as sa

from caremodels.care_record import init_store, open_store
from caremodels.care_record.registry import ODS_SYSTEM, resource_type
from caremodels.care_record.resources import now_text, write_resource
from caremodels.care_record.service import CareRecord
from caremodels.care_record.store import audit_events, imaging_studies
from caremodels.imaging.gateway import Gateway
from caremodels.imaging.load import load_imaging
from tests.imaging import world
from tests.imaging.conftest import ArchiveFactory


def test_load_follows_the_encounters(
    archive_factory: ArchiveFactory, new_store_url: Callable[[str], str]
) -> None:
    url = new_store_url("sqlite")
    init_store(url)
    store = open_store(url)
    world.build(store, patients=3)
    moment = now_text(dt.datetime.now(dt.UTC))
    # 40 emergency attendances at RX1, 40 at a trust outside the consortium, 40 outpatient visits at RX1.
    with store.begin() as conn:
        for n in range(120):
            trust, kind = [("RX1", "EMER"), (world.OUTSIDE, "EMER"), ("RX1", "AMB")][n // 40]
            body = {
                "resourceType": "Encounter",
                "status": "finished",
                "class": {"code": kind},
                "subject": {"reference": f"Patient/p{n % 3}"},
                "period": {"start": f"2024-0{1 + n % 9}-1{n % 10}T10:00:00+00:00"},
                "serviceProvider": {"identifier": {"system": ODS_SYSTEM, "value": trust}},
            }
            write_resource(
                conn,
                resource_type("Encounter"),
                body,
                resource_id=f"e{n}",
                patient_id=f"p{n % 3}",
                moment=moment,
                expected_version=None,
            )  # type: ignore[arg-type]
    archive, _ = archive_factory("file", "RX1")
    gateway = Gateway(CareRecord(store), {"RX1": archive})
    summary = load_imaging(gateway, np.random.default_rng(5))
    assert summary.encounters == 40
    assert 5 <= summary.studies <= 30  # about two in five of 40
    assert set(summary.by_trust) == {"RX1"}
    with store.begin() as conn:
        rows = list(conn.execute(sa.select(imaging_studies)))
        creates = conn.execute(
            sa.select(sa.func.count()).select_from(audit_events).where(audit_events.c.action == "create")
        ).scalar()
    assert len(rows) == summary.studies
    assert sum(row.instances for row in rows) == summary.instances
    assert {row.archive for row in rows} == {"RX1"}
    assert creates == summary.studies  # one study per request, one patient each
    again = load_imaging(gateway, np.random.default_rng(5))
    assert again.studies == summary.studies  # the same seed: the same studies, indexed once
    with store.begin() as conn:
        assert (
            conn.execute(sa.select(sa.func.count()).select_from(imaging_studies)).scalar() == summary.studies
        )
    gateway.close()
    store.close()


def test_cli_load_writes_the_consortium(new_store_url: Callable[[str], str], tmp_path) -> None:
    import json

    from click.testing import CliRunner

    from caremodels.care_record.policy import load_agreements
    from caremodels.cli import cli

    url = new_store_url("sqlite")
    init_store(url)
    store = open_store(url)
    world.build(store, patients=1)
    with store.begin() as conn:
        conn.execute(sa.text("DELETE FROM agreement_members"))
    result = CliRunner().invoke(
        cli,
        [
            "care-record",
            "imaging",
            "load",
            "--store",
            url,
            "--archives",
            str(tmp_path),
            "--kind",
            "file",
            "--trust",
            "RX1",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["studies"] == 0  # no encounters in this store
    with store.begin() as conn:
        before = {a.id: a.members for a in load_agreements(conn, "2017-06-01")}["emrad"]
        after = {a.id: a.members for a in load_agreements(conn, "2018-06-01")}["emrad"]
    assert "RJF" in before and "RTG" not in before and "RTG" in after and "RX1" in before
    refused = CliRunner().invoke(
        cli, ["care-record", "imaging", "load", "--store", url, "--archives", str(tmp_path), "--trust", "RJZ"]
    )
    assert refused.exit_code != 0 and "not a consortium member: RJZ" in refused.output
    store.close()
