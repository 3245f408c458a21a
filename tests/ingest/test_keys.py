"""Pseudonymisation keys and files: enough entropy, owner-only key files, one key per warehouse,
owner-only warehouse and exports."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from caremodels.cli import main
from caremodels.errors import CaremodelsError
from caremodels.ingest import (
    KEY_ENVIRONMENT_VARIABLE,
    MINIMUM_KEY_BITS,
    Pseudonymiser,
    key_entropy_bits,
    load_key,
)
from caremodels.warehouse import Warehouse
from tests.conftest import TEST_KEY
from tests.ingest.test_files import GOOD, HEADER


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_keygen_writes_an_owner_only_256_bit_key_and_never_overwrites(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key_file = tmp_path / "keys" / "project.key"
    assert main(["keygen", "--out", str(key_file)]) == 0
    text = key_file.read_text(encoding="ascii").strip()
    assert len(text) == 64 and int(text, 16) >= 0 and _mode(key_file) == 0o600
    assert load_key(key_file) == text.encode()
    assert main(["keygen", "--out", str(key_file)]) == 1
    assert "already exists" in capsys.readouterr().err
    assert key_file.read_text(encoding="ascii").strip() == text


@pytest.mark.parametrize(
    "weak", ["0123456789abcdef", "a" * 64, "ab" * 40, "0123456789abcdef0123456789abcde", "passwordpassword"]
)
def test_keys_under_128_bits_are_refused(weak: str, monkeypatch: pytest.MonkeyPatch) -> None:
    assert key_entropy_bits(weak) < MINIMUM_KEY_BITS
    monkeypatch.setenv(KEY_ENVIRONMENT_VARIABLE, weak)
    with pytest.raises(CaremodelsError, match=r"too weak .* at least 128 needed"):
        load_key()


def test_the_test_key_and_random_keys_are_strong_enough() -> None:
    assert key_entropy_bits(TEST_KEY.decode()) >= MINIMUM_KEY_BITS
    assert key_entropy_bits("3f" * 8 + "0123456789abcdef") >= MINIMUM_KEY_BITS  # 32 hex digits


def test_a_key_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    key_file = tmp_path / "shared.key"
    key_file.write_text(TEST_KEY.decode() + "\n", encoding="ascii")
    key_file.chmod(0o644)
    with pytest.raises(CaremodelsError, match=r"can be read by group or others .mode 0644.*chmod 600"):
        load_key(key_file)
    key_file.chmod(0o600)
    assert load_key(key_file) == TEST_KEY


def test_a_second_key_is_refused_and_files_are_owner_only(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "apc_spells.csv"
    source.write_text(HEADER + GOOD, encoding="utf-8")
    warehouse = tmp_path / "w.duckdb"
    monkeypatch.setenv(KEY_ENVIRONMENT_VARIABLE, TEST_KEY.decode())
    assert main(["--quiet", "ingest", str(source), "--warehouse", str(warehouse)]) == 0
    other = tmp_path / "other.key"
    assert main(["keygen", "--out", str(other)]) == 0
    renamed = tmp_path / "apc_spells_2.csv"
    renamed.write_text(HEADER + GOOD.replace("S1,", "S2,"), encoding="utf-8")
    capsys.readouterr()
    code = main(["--quiet", "ingest", str(renamed), "--warehouse", str(warehouse), "--key-file", str(other)])
    error = " ".join(capsys.readouterr().err.split())
    assert code == 1 and "was loaded with another pseudonymisation key (fingerprint" in error
    with Warehouse(warehouse, read_only=True) as store:
        assert store.query("SELECT count(*) FROM apc_spells")[0][0] == 1
        assert store.key_fingerprint() == Pseudonymiser(TEST_KEY).fingerprint
    # The key never reaches the warehouse, only its fingerprint.
    assert TEST_KEY not in warehouse.read_bytes()
    assert _mode(warehouse) & 0o077 == 0
    out = tmp_path / "export"
    assert main(["warehouse", "export", "--warehouse", str(warehouse), "--out", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["tables"]["apc_spells"] == 1
    assert _mode(out) & 0o077 == 0
    assert all(_mode(path) & 0o077 == 0 for path in out.iterdir())
