"""Advice and guidance fixtures: a store (SQLite and PostgreSQL, as every care record store test) with
the directory of ``fixture.py``, and the app with advice and guidance, in process."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.care_record.conftest import BACKENDS, new_store_url  # noqa: F401  (the shared store factory)


class Advice:
    def __init__(self, backend: str, store: object, client: object, patients: list[str]) -> None:
        self.backend = backend
        self.store = store
        self.client = client
        self.patients = patients
        self._tokens: dict[str, dict[str, str]] = {}
        self._next = 0

    def token(self, user_id: str) -> dict[str, str]:
        from caremodels.care_record.identity import demo_token

        if user_id not in self._tokens:
            self._tokens[user_id] = {"Authorization": f"Bearer {demo_token(self.store, user_id)}"}  # type: ignore[arg-type]
        return self._tokens[user_id]

    def patient(self) -> str:
        """A patient no earlier test in the session has used."""
        self._next += 1
        return self.patients[self._next - 1]


@pytest.fixture(scope="session", params=BACKENDS)
def advice(request: pytest.FixtureRequest, new_store_url: Callable[[str], str]) -> Iterator[Advice]:  # noqa: F811
    from fastapi.testclient import TestClient

    from caremodels.advice.app import create_app
    from caremodels.care_record import init_store, open_store
    from caremodels.care_record.identity import rotate_demo_key
    from tests.advice.fixture import build

    url = new_store_url(str(request.param))
    init_store(url)
    store = open_store(url)
    rotate_demo_key(store)
    patients = build(store, 400)
    with TestClient(create_app(store)) as client:
        yield Advice(str(request.param), store, client, patients)
    store.close()
