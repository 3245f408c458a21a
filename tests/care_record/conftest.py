"""Care record fixtures: every store test runs on SQLite and on PostgreSQL.

PostgreSQL is the server at 127.0.0.1:5432, database ``test`` (trust authentication, user root or
postgres). Each test session works in schemas of its own, passed to the driver as
``?options=-csearch_path%3D<schema>``, and drops them at the end. If PostgreSQL cannot be reached the
PostgreSQL half of the tests fails, saying so; it is never skipped.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

PG_HOST = os.environ.get("CAREMODELS_TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("CAREMODELS_TEST_PG_PORT", "5432"))
PG_DATABASE = "test"
BACKENDS = ("sqlite", "postgresql")


def _pg_user() -> str:
    errors = []
    for user in ("root", "postgres"):
        try:
            with psycopg.connect(
                host=PG_HOST, port=PG_PORT, dbname=PG_DATABASE, user=user, connect_timeout=5
            ):
                return user
        except psycopg.OperationalError as error:
            errors.append(f"{user}: {str(error).strip().splitlines()[0]}")
    pytest.fail(
        f"the care record tests need PostgreSQL at {PG_HOST}:{PG_PORT}, database {PG_DATABASE} "
        f"(trust auth, user root or postgres); could not connect: {'; '.join(errors)}"
    )


class StoreFactory:
    """Makes empty stores (a SQLite file or a PostgreSQL schema) and removes the schemas at the end."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.schemas: list[str] = []
        self._pg_user: str | None = None

    def pg_user(self) -> str:
        if self._pg_user is None:
            self._pg_user = _pg_user()
        return self._pg_user

    def __call__(self, backend: str) -> str:
        name = f"cr_{os.getpid()}_{secrets.token_hex(4)}"
        if backend == "sqlite":
            return f"sqlite:///{self.folder / (name + '.db')}"
        user = self.pg_user()
        with psycopg.connect(
            host=PG_HOST, port=PG_PORT, dbname=PG_DATABASE, user=user, autocommit=True
        ) as conn:
            conn.execute(f'CREATE SCHEMA "{name}"')
        self.schemas.append(name)
        return f"postgresql+psycopg://{user}@{PG_HOST}:{PG_PORT}/{PG_DATABASE}?options=-csearch_path%3D{name}"

    def drop_all(self) -> None:
        if not self.schemas:
            return
        with psycopg.connect(
            host=PG_HOST, port=PG_PORT, dbname=PG_DATABASE, user=self.pg_user(), autocommit=True
        ) as conn:
            for name in self.schemas:
                conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


@pytest.fixture(scope="session")
def new_store_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[str], str]]:
    factory = StoreFactory(tmp_path_factory.mktemp("care-record"))
    yield factory
    factory.drop_all()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


class Scenario:
    def __init__(
        self, backend: str, url: str, store: object, app: object, patients: dict[str, str], cases: list
    ) -> None:
        self.backend = backend
        self.url = url
        self.store = store
        self.app = app
        self.patients = patients
        self.cases = cases
        self._tokens: dict[str, dict[str, str]] = {}

    def token(self, user_id: str) -> dict[str, str]:
        from caremodels.care_record.identity import demo_token

        if user_id not in self._tokens:
            self._tokens[user_id] = {"Authorization": f"Bearer {demo_token(self.store, user_id)}"}  # type: ignore[arg-type]
        return self._tokens[user_id]


@pytest.fixture(scope="session", params=BACKENDS)
def scenario(request: pytest.FixtureRequest, new_store_url: Callable[[str], str]) -> Iterator[Scenario]:
    from fastapi.testclient import TestClient

    from caremodels.care_record import init_store, open_store
    from caremodels.care_record.app import create_app
    from caremodels.care_record.identity import rotate_demo_key
    from tests.care_record.scenario import all_cases, build

    url = new_store_url(str(request.param))
    init_store(url)
    store = open_store(url)
    rotate_demo_key(store)
    cases = all_cases()
    patients = build(store, cases)
    app = create_app(store)
    with TestClient(app) as client:
        yield Scenario(str(request.param), url, store, client, patients, cases)
    store.close()
