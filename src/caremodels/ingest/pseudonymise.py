"""Keyed pseudonyms for NHS numbers: HMAC-SHA256 under a secret key.

The same key gives the same pseudonym for a person in every table and every load, so records link
in the warehouse; without the key a pseudonym cannot be reversed or recomputed from an NHS number.
The key comes from the environment (``CAREMODELS_PSEUDONYMISATION_KEY``) or a key file, never from
the repository. ``derive_project_key`` gives each project its own key from one master key, so two
projects' pseudonyms cannot be linked.

People without an NHS number (FHIR data from outside England, such as US Core exports) get a keyed
pseudonym of ``system|value`` of a local identifier instead: the same HMAC under the same key, on an
input that can never be an NHS number (it contains ``|``), so such pseudonyms never collide with, and
never link to, NHS-number pseudonyms.

For speed on large files ``pseudonym_table`` computes the pseudonyms of many distinct values at
once: the HMAC's keyed inner and outer hash states are prepared once and copied for each value (RFC
2104), which gives exactly ``hmac.new(key, value, sha256)`` at a fraction of its cost per value.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from collections.abc import Iterable
from pathlib import Path

import pyarrow as pa

from caremodels.errors import CaremodelsError

__all__ = ["KEY_ENVIRONMENT_VARIABLE", "Pseudonymiser", "derive_project_key", "load_key"]

_HMAC_BLOCK_BYTES = 64  # SHA-256 block size (RFC 2104)

KEY_ENVIRONMENT_VARIABLE = "CAREMODELS_PSEUDONYMISATION_KEY"
_MINIMUM_KEY_BYTES = 16


def derive_project_key(master_key: bytes, project: str) -> bytes:
    return hmac.new(master_key, f"caremodels-project:{project}".encode(), hashlib.sha256).digest()


def load_key(key_file: Path | None = None, *, create: bool = False) -> bytes:
    """The key from ``key_file`` if given, else the environment variable.

    With ``create`` a missing key file is made with a new random key, readable by its owner only.
    """
    if key_file is not None:
        if not key_file.exists():
            if not create:
                raise CaremodelsError(f"pseudonymisation key file {key_file} does not exist")
            key_file.parent.mkdir(parents=True, exist_ok=True)
            key_file.write_text(secrets.token_hex(32) + "\n", encoding="ascii")
            key_file.chmod(0o600)
        text = key_file.read_text(encoding="ascii").strip()
    else:
        text = os.environ.get(KEY_ENVIRONMENT_VARIABLE, "").strip()
        if not text:
            raise CaremodelsError(
                f"no pseudonymisation key: set {KEY_ENVIRONMENT_VARIABLE} or pass --key-file"
            )
    key = text.encode()
    if len(key) < _MINIMUM_KEY_BYTES:
        raise CaremodelsError(f"the pseudonymisation key must be at least {_MINIMUM_KEY_BYTES} characters")
    return key


class Pseudonymiser:
    """HMAC-SHA256 pseudonyms under one key."""

    def __init__(self, key: bytes) -> None:
        if len(key) < _MINIMUM_KEY_BYTES:
            raise ValueError(f"the key must be at least {_MINIMUM_KEY_BYTES} bytes")
        # HMAC(K, m) = H((K' xor opad) || H((K' xor ipad) || m)), K' the key hashed if longer than a
        # block, then padded with zeros to one block.
        block_key = key if len(key) <= _HMAC_BLOCK_BYTES else hashlib.sha256(key).digest()
        block_key = block_key.ljust(_HMAC_BLOCK_BYTES, b"\0")
        self._inner = hashlib.sha256(bytes(byte ^ 0x36 for byte in block_key))
        self._outer = hashlib.sha256(bytes(byte ^ 0x5C for byte in block_key))

    def _hmac(self, message: bytes) -> str:
        inner = self._inner.copy()
        inner.update(message)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.hexdigest()

    def pseudonym(self, nhs_number: str) -> str:
        return self._hmac(nhs_number.encode("ascii"))

    def pseudonyms(self, nhs_numbers: Iterable[str]) -> dict[str, str]:
        """Pseudonyms of distinct NHS numbers (each computed once)."""
        return {number: self.pseudonym(number) for number in set(nhs_numbers)}

    def pseudonym_table(self, values: Iterable[str]) -> pa.Table:
        """A table (value, person_id) of the pseudonyms of distinct values, for joining in SQL."""
        distinct = list(dict.fromkeys(values))
        return pa.table(
            {
                "value": pa.array(distinct, pa.string()),
                "person_id": pa.array([self._hmac(value.encode()) for value in distinct], pa.string()),
            }
        )

    def identifier_pseudonym(self, system: str, value: str) -> str:
        """Keyed pseudonym of a local identifier, for people without an NHS number."""
        return self._hmac(f"{system}|{value}".encode())
