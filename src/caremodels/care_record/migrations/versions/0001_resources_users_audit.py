"""Resources and their versions, the search index, users, data-sharing agreements, the audit chain, settings.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None


def upgrade() -> None:
    op.create_table(
        "resources",
        sa.Column("resource_type", sa.String(64), primary_key=True),
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("version_id", sa.Integer, nullable=False),
        sa.Column("last_updated", sa.String(40), nullable=False),
        sa.Column("patient_id", sa.String(64), nullable=True),
    )
    op.create_index("ix_resources_patient", "resources", ["patient_id", "resource_type"])
    op.create_table(
        "resource_versions",
        sa.Column("resource_type", sa.String(64), primary_key=True),
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("version_id", sa.Integer, primary_key=True),
        sa.Column("last_updated", sa.String(40), nullable=False),
        sa.Column("content", sa.Text, nullable=False),
    )
    op.create_table(
        "search_index",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("resource_type", sa.String(64), nullable=False),
        sa.Column("resource_id", sa.String(64), nullable=False),
        sa.Column("param", sa.String(64), nullable=False),
        sa.Column("value", sa.String(512), nullable=False),
    )
    op.create_index("ix_search_lookup", "search_index", ["resource_type", "param", "value"])
    op.create_index("ix_search_resource", "search_index", ["resource_type", "resource_id"])
    op.create_table(
        "users",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("sds_user_id", sa.String(64), nullable=False),
        sa.Column("role_profile_id", sa.String(64), nullable=False),
        sa.Column("role_code", sa.String(16), nullable=False),
        sa.Column("org_code", sa.String(32), nullable=False),
        sa.Column("practitioner_id", sa.String(64), nullable=True),
        sa.Column("description", sa.String(400), nullable=False, server_default=""),
    )
    op.create_table(
        "sharing_agreements",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("mode", sa.String(40), nullable=False),
    )
    op.create_table(
        "agreement_members",
        sa.Column("agreement_id", sa.String(64), sa.ForeignKey("sharing_agreements.id"), primary_key=True),
        sa.Column("org_code", sa.String(32), primary_key=True),
    )
    op.create_table(
        "audit_events",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("id", sa.String(64), nullable=False, unique=True),
        sa.Column("recorded", sa.String(40), nullable=False),
        sa.Column("user_id", sa.String(64), nullable=True),
        sa.Column("patient_id", sa.String(64), nullable=True),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("outcome", sa.String(4), nullable=False),
        sa.Column("content", sa.Text, nullable=False),
        sa.Column("previous_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
    )
    op.create_index("ix_audit_patient", "audit_events", ["patient_id", "seq"])
    op.create_table(
        "audit_chain",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
    )
    op.bulk_insert(
        sa.table("audit_chain", sa.column("id"), sa.column("seq"), sa.column("hash")),
        [{"id": 1, "seq": 0, "hash": "0" * 64}],
    )
    op.create_table(
        "settings",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )
