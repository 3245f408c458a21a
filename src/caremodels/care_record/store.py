"""The operational store: identifiable direct-care data in SQLite (a file, WAL) or PostgreSQL (psycopg 3).

Tables are SQLAlchemy 2 Core (no ORM): FHIR resources are kept as the JSON that was validated on write
(``resource_versions``, every version), with the current version and its patient in ``resources`` and
the values of allow-listed search parameters in ``search_index``. Users, data-sharing agreements,
break-glass sessions, self-claimed relationships, alerts, the hash-chained audit and the store's settings
have their own tables. The schema is created and upgraded only by the Alembic chain shipped in
``caremodels.care_record.migrations``; ``open_store`` refuses a store at another revision, so an older
store is upgraded by ``init_store``, never silently reused.

Boundaries: this module knows SQL and URLs, nothing of FHIR or policy. Errors name the store by its
URL without the password; nothing here logs a value read from the store.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError

from caremodels.errors import CaremodelsError

__all__ = [
    "MIGRATIONS",
    "Store",
    "StoreError",
    "current_versions",
    "head_revision",
    "init_store",
    "metadata",
    "open_store",
    "store_revision",
]

MIGRATIONS = Path(__file__).parent / "migrations"

metadata = sa.MetaData()

# Instants are stored as ISO 8601 text in UTC (``2026-12-03T14:00:00.123456+00:00``): the same bytes on
# both databases, so that the audit hash chain and the FHIR meta.lastUpdated read back unchanged.
resources = sa.Table(
    "resources",
    metadata,
    sa.Column("resource_type", sa.String(64), primary_key=True),
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("version_id", sa.Integer, nullable=False),
    sa.Column("last_updated", sa.String(40), nullable=False),
    sa.Column("patient_id", sa.String(64), nullable=True),
    sa.Index("ix_resources_patient", "patient_id", "resource_type"),
)
resource_versions = sa.Table(
    "resource_versions",
    metadata,
    sa.Column("resource_type", sa.String(64), primary_key=True),
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("version_id", sa.Integer, primary_key=True),
    sa.Column("last_updated", sa.String(40), nullable=False),
    sa.Column("content", sa.Text, nullable=False),
)
# Each resource's current version: ``resources`` joined to its row of ``resource_versions``.
current_versions = resources.join(
    resource_versions,
    sa.and_(
        resource_versions.c.resource_type == resources.c.resource_type,
        resource_versions.c.id == resources.c.id,
        resource_versions.c.version_id == resources.c.version_id,
    ),
)
search_index = sa.Table(
    "search_index",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("resource_type", sa.String(64), nullable=False),
    sa.Column("resource_id", sa.String(64), nullable=False),
    sa.Column("param", sa.String(64), nullable=False),
    sa.Column("value", sa.String(512), nullable=False),
    sa.Index("ix_search_lookup", "resource_type", "param", "value"),
    sa.Index("ix_search_resource", "resource_type", "resource_id"),
)
users = sa.Table(
    "users",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("sds_user_id", sa.String(64), nullable=False),
    sa.Column("role_profile_id", sa.String(64), nullable=False),
    sa.Column("role_code", sa.String(16), nullable=False),
    sa.Column("org_code", sa.String(32), nullable=False),
    sa.Column("practitioner_id", sa.String(64), nullable=True),
    sa.Column("description", sa.String(400), nullable=False, server_default=""),
)
sharing_agreements = sa.Table(
    "sharing_agreements",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("mode", sa.String(40), nullable=False),
)
agreement_members = sa.Table(
    "agreement_members",
    metadata,
    sa.Column("agreement_id", sa.String(64), sa.ForeignKey("sharing_agreements.id"), primary_key=True),
    sa.Column("org_code", sa.String(32), primary_key=True),
    # Revision 0003: membership has dates (ISO days; NULL joined = from the start, NULL left = still in).
    sa.Column("joined", sa.String(10), nullable=True),
    sa.Column("left", sa.String(10), nullable=True),
)
audit_events = sa.Table(
    "audit_events",
    metadata,
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
    sa.Index("ix_audit_patient", "patient_id", "seq"),
)
# One row: the last sequence number and hash of the audit chain. Writers lock it (SELECT ... FOR UPDATE
# on PostgreSQL; SQLite transactions here all start with BEGIN IMMEDIATE), so the chain has no forks,
# and deleting the newest audit rows still leaves a head that no remaining row reaches.
audit_chain = sa.Table(
    "audit_chain",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
)
settings = sa.Table(
    "settings",
    metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)
# Added by revision 0002.
break_glass = sa.Table(
    "break_glass",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("user_id", sa.String(64), nullable=False),
    sa.Column("patient_id", sa.String(64), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("started", sa.String(40), nullable=False),
    sa.Column("expires", sa.String(40), nullable=False),
    sa.Index("ix_break_glass_user_patient", "user_id", "patient_id"),
)
self_claims = sa.Table(
    "self_claims",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("user_id", sa.String(64), nullable=False),
    sa.Column("patient_id", sa.String(64), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("claimed", sa.String(40), nullable=False),
    sa.Index("ix_self_claims_user_patient", "user_id", "patient_id"),
)
alerts = sa.Table(
    "alerts",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("raised", sa.String(40), nullable=False),
    sa.Column("user_id", sa.String(64), nullable=False),
    sa.Column("patient_id", sa.String(64), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("audit_seq", sa.Integer, nullable=True),
)


class StoreError(CaremodelsError):
    """The operational store cannot be opened or is not at this version's schema."""


def _safe(url: URL) -> str:
    return url.render_as_string(hide_password=True)


def _parse(url: str) -> URL:
    try:
        parsed = make_url(url)
    except ArgumentError as error:
        raise StoreError(
            f"--store {url!r} is not a SQLAlchemy URL (sqlite:///path or postgresql+psycopg://...)"
        ) from error
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise StoreError(f"store {_safe(parsed)}: only SQLite and PostgreSQL are supported")
    if parsed.get_backend_name() == "postgresql" and parsed.get_driver_name() != "psycopg":
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() == "sqlite":
        if not parsed.database or parsed.database == ":memory:":
            raise StoreError("the SQLite store must be a file: sqlite:///path/to/care-record.db")
        folder = Path(parsed.database).parent
        if not folder.is_dir():
            raise StoreError(f"store {_safe(parsed)}: folder {folder} does not exist")
    return parsed


def _engine(url: URL) -> Engine:
    try:
        if url.get_backend_name() == "sqlite":
            engine = sa.create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

            @sa.event.listens_for(engine, "connect")
            def _configure(dbapi_connection: Any, _record: Any) -> None:
                # Let SQLAlchemy, not the driver, start transactions, and start every one as a writer:
                # every access writes its audit rows, and a reader that upgrades to a writer mid-way
                # could fail with "database is locked" instead of waiting.
                dbapi_connection.isolation_level = None
                cursor = dbapi_connection.cursor()
                cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute("PRAGMA synchronous=NORMAL")
                cursor.execute("PRAGMA foreign_keys=ON")
                cursor.execute("PRAGMA busy_timeout=30000")
                cursor.close()

            @sa.event.listens_for(engine, "begin")
            def _begin(connection: Connection) -> None:
                connection.exec_driver_sql("BEGIN IMMEDIATE")

            return engine
        return sa.create_engine(url, pool_size=10, max_overflow=10)
    except (NoSuchModuleError, ArgumentError) as error:
        raise StoreError(f"store {_safe(url)}: {error}") from error


def _alembic_config(connection: Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The revision this version of caremodels expects."""
    head = ScriptDirectory(str(MIGRATIONS)).get_current_head()
    if head is None:  # pragma: no cover - the package ships its chain
        raise StoreError("the care record migrations are missing from the package")
    return head


def store_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


class _WriterQueue:
    """Writers to one SQLite file, queued. SQLite lets one transaction write at a time, and a writer that
    finds the file locked polls (its busy handler sleeps up to 100 ms between tries), which under eight
    concurrent requests made the slowest wait for hundreds of milliseconds. Every transaction here writes
    (its audit rows), so they queue instead on a thread lock within the process and on an ``flock`` of a
    file beside the database across processes (``serve --workers``): the next writer wakes as soon as the
    last one commits. SQLite's own lock (BEGIN IMMEDIATE) still guarantees the exclusion; this only
    orders the waiting, so a writer that does not queue here (another program) is still safe."""

    def __init__(self, database: str) -> None:
        self._path = database + "-writers.lock"
        self._thread_lock = threading.Lock()
        self._fd: int | None = None
        self._pid = 0

    @contextlib.contextmanager
    def hold(self) -> Iterator[None]:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX: SQLite's busy timeout alone orders writers
            yield
            return
        with self._thread_lock:
            if self._fd is None or self._pid != os.getpid():
                self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
                self._pid = os.getpid()
            fcntl.flock(self._fd, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        if self._fd is not None and self._pid == os.getpid():
            os.close(self._fd)
        self._fd = None


@dataclass
class Store:
    """An open operational store at the current schema revision."""

    engine: Engine
    url: URL

    def __post_init__(self) -> None:
        self._writers = (
            _WriterQueue(str(self.url.database)) if self.url.get_backend_name() == "sqlite" else None
        )

    @property
    def name(self) -> str:
        return _safe(self.url)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextlib.contextmanager
    def begin(self) -> Iterator[Connection]:
        """One transaction: committed when the block ends, rolled back if it raises."""
        if self._writers is None:
            with self.engine.begin() as connection:
                yield connection
            return
        with self._writers.hold(), self.engine.begin() as connection:
            yield connection

    def close(self) -> None:
        if self._writers is not None:
            self._writers.close()
        self.engine.dispose()


def _connect_error(url: URL, error: Exception) -> StoreError:
    first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return StoreError(f"cannot open the store {_safe(url)}: {first_line}")


def open_store(url: str) -> Store:
    """Open a store created by ``init_store`` at this version's schema; refuse any other."""
    parsed = _parse(url)
    engine = _engine(parsed)
    try:
        with engine.connect() as connection:
            revision = store_revision(connection)
    except OperationalError as error:
        engine.dispose()
        raise _connect_error(parsed, error) from error
    head = head_revision()
    if revision != head:
        engine.dispose()
        if revision is None:
            raise StoreError(
                f"store {_safe(parsed)} is not a care record store yet: run `caremodels care-record init --store URL`"
            )
        raise StoreError(
            f"store {_safe(parsed)} is at schema revision {revision}, this caremodels needs {head}: "
            "run `caremodels care-record init --store URL` to upgrade it"
        )
    return Store(engine, parsed)


def init_store(url: str, *, revision: str = "head") -> tuple[str | None, str]:
    """Create the store or upgrade it to ``revision`` (default: the newest); returns (before, after)."""
    parsed = _parse(url)
    engine = _engine(parsed)
    try:
        with engine.begin() as connection:
            before = store_revision(connection)
            command.upgrade(_alembic_config(connection), revision)
            after = store_revision(connection)
    except OperationalError as error:
        raise _connect_error(parsed, error) from error
    finally:
        engine.dispose()
    if after is None:  # pragma: no cover - alembic always stamps
        raise StoreError(f"store {_safe(parsed)}: the migration did not record its revision")
    return before, after


# Added by revision 0003: the shared radiology record's consortium index (one row per study, naming the
# trust and archive that hold it), the archives' connection states and their outages.
imaging_studies = sa.Table(
    "imaging_studies",
    metadata,
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
    sa.Index("ix_imaging_studies_patient", "patient_id", "study_date"),
    sa.Index("ix_imaging_studies_archive", "archive"),
)
imaging_archives = sa.Table(
    "imaging_archives",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("trust", sa.String(32), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("changed", sa.String(40), nullable=False),
    sa.Column("changed_by", sa.String(64), nullable=True),
    sa.Column("reason", sa.Text, nullable=False, server_default=""),
)
imaging_outages = sa.Table(
    "imaging_outages",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("archive", sa.String(64), nullable=False),
    sa.Column("started", sa.String(40), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("assured", sa.String(40), nullable=True),
    sa.Column("assured_by", sa.String(64), nullable=True),
    sa.Column("ended", sa.String(40), nullable=True),
    sa.Index("ix_imaging_outages_archive", "archive", "started"),
)
