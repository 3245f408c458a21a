"""Alembic environment for the care record store: always run programmatically by
``caremodels.care_record.store.init_store`` on a connection it passes in (no alembic.ini)."""

from __future__ import annotations

from alembic import context

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=None, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
