"""The shared radiology record: dated consortium membership, the study index, archive states, outages.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    with op.batch_alter_table("agreement_members") as batch:
        batch.add_column(sa.Column("joined", sa.String(10), nullable=True))
        batch.add_column(sa.Column("left", sa.String(10), nullable=True))
    op.create_table(
        "imaging_studies",
        sa.Column("study_uid", sa.String(64), primary_key=True),
        sa.Column("patient_id", sa.String(64), nullable=False),
        sa.Column("trust", sa.String(32), nullable=False),
        sa.Column("archive", sa.String(64), nullable=False),
        sa.Column("modality", sa.String(16), nullable=False),
        sa.Column("study_date", sa.String(10), nullable=True),
        sa.Column("accession", sa.String(64), nullable=True),
        sa.Column("instances", sa.Integer, nullable=False),
        sa.Column("imaging_study_id", sa.String(64), nullable=False),
        sa.Column("indexed", sa.String(40), nullable=False),
    )
    op.create_index("ix_imaging_studies_patient", "imaging_studies", ["patient_id", "study_date"])
    op.create_index("ix_imaging_studies_archive", "imaging_studies", ["archive"])
    op.create_table(
        "imaging_archives",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("trust", sa.String(32), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("changed", sa.String(40), nullable=False),
        sa.Column("changed_by", sa.String(64), nullable=True),
        sa.Column("reason", sa.Text, nullable=False, server_default=""),
    )
    op.create_table(
        "imaging_outages",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("archive", sa.String(64), nullable=False),
        sa.Column("started", sa.String(40), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("assured", sa.String(40), nullable=True),
        sa.Column("assured_by", sa.String(64), nullable=True),
        sa.Column("ended", sa.String(40), nullable=True),
    )
    op.create_index("ix_imaging_outages_archive", "imaging_outages", ["archive", "started"])


def downgrade() -> None:
    op.drop_table("imaging_outages")
    op.drop_table("imaging_archives")
    op.drop_table("imaging_studies")
    with op.batch_alter_table("agreement_members") as batch:
        batch.drop_column("left")
        batch.drop_column("joined")
