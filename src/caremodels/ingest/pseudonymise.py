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

A key must carry at least ``MINIMUM_KEY_BITS`` (128) bits of entropy. ``key_entropy_bits`` estimates
it from the key's text: its length times the bits per character of the smallest usual alphabet
holding every character (hex 4, base64 6, printable ASCII 6.6), or, when the characters use that
alphabet unevenly (Shannon entropy per character under 0.6 of the alphabet's bits), its length times
their Shannon entropy; so short keys, keys of a few repeated characters and hex keys under 32 digits
are refused. ``write_key_file`` (``caremodels keygen``) writes 32 random
bytes as 64 hex digits (256 bits), readable by its owner only; a key file readable by group or
others is refused. ``Pseudonymiser.fingerprint`` (an HMAC of a fixed label under the key, never the
key) is recorded in the warehouse on its first load, so a load under another key is refused.

For speed on large files ``pseudonym_table`` computes the pseudonyms of many distinct values at
once: the HMAC's keyed inner and outer hash states are prepared once and copied for each value (RFC
2104), which gives exactly ``hmac.new(key, value, sha256)`` at a fraction of its cost per value.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import os
import secrets
import stat
import string
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import pyarrow as pa

from caremodels.errors import CaremodelsError

__all__ = [
    "KEY_ENVIRONMENT_VARIABLE",
    "MINIMUM_KEY_BITS",
    "Pseudonymiser",
    "derive_project_key",
    "key_entropy_bits",
    "load_key",
    "write_key_file",
]

_HMAC_BLOCK_BYTES = 64  # SHA-256 block size (RFC 2104)

KEY_ENVIRONMENT_VARIABLE = "CAREMODELS_PSEUDONYMISATION_KEY"
_MINIMUM_KEY_BYTES = 16
MINIMUM_KEY_BITS = 128
_FINGERPRINT_LABEL = b"caremodels-pseudonymisation-key-fingerprint-v1"
_HEX = frozenset(string.hexdigits)
_BASE64 = frozenset(string.ascii_letters + string.digits + "+/=-_")
_EVEN_USE = 0.6


def key_entropy_bits(text: str) -> float:
    """An upper estimate of the entropy of a key's text, in bits (see the module docstring)."""
    if not text:
        return 0.0
    characters = set(text)
    if characters <= _HEX:
        per_character = 4.0
    elif characters <= _BASE64:
        per_character = 6.0
    else:
        per_character = math.log2(95)
    counts = Counter(text)
    shannon = -sum(count / len(text) * math.log2(count / len(text)) for count in counts.values())
    # Random text uses its alphabet evenly (Shannon near the alphabet's bits); text that repeats a
    # few characters is scored by its own variety instead.
    return len(text) * (per_character if shannon >= _EVEN_USE * per_character else shannon)


def write_key_file(path: Path) -> None:
    """Write a new random key (32 bytes as 64 hex digits) to ``path``, owner-only (mode 0600).
    Refuses to overwrite an existing file: losing a key unlinks every pseudonym made with it."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError as error:
        raise CaremodelsError(f"{path} already exists: a key file is never overwritten") from error
    with os.fdopen(descriptor, "w", encoding="ascii") as handle:
        handle.write(secrets.token_hex(32) + "\n")
    path.chmod(0o600)


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
            write_key_file(key_file)
        mode = key_file.stat().st_mode
        if os.name == "posix" and mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise CaremodelsError(
                f"pseudonymisation key file {key_file} can be read by group or others (mode"
                f" {stat.S_IMODE(mode):04o}): make it owner-only with chmod 600 {key_file}"
            )
        try:
            text = key_file.read_text(encoding="ascii").strip()
        except (OSError, UnicodeDecodeError) as error:
            raise CaremodelsError(
                f"cannot read pseudonymisation key file {key_file} ({type(error).__name__})"
            ) from error
        where = f"key file {key_file}"
    else:
        text = os.environ.get(KEY_ENVIRONMENT_VARIABLE, "").strip()
        if not text:
            raise CaremodelsError(
                f"no pseudonymisation key: set {KEY_ENVIRONMENT_VARIABLE} or pass --key-file"
                " (make one with: caremodels keygen --out FILE)"
            )
        where = KEY_ENVIRONMENT_VARIABLE
    bits = key_entropy_bits(text)
    if len(text.encode()) < _MINIMUM_KEY_BYTES or bits < MINIMUM_KEY_BITS:
        raise CaremodelsError(
            f"the pseudonymisation key in {where} is too weak (about {bits:.0f} bits of entropy; at least"
            f" {MINIMUM_KEY_BITS} needed): make a key with caremodels keygen --out FILE"
        )
    return text.encode()


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

    @property
    def fingerprint(self) -> str:
        """Identifies the key without revealing it: HMAC of a fixed label, first 16 hex digits."""
        return self._hmac(_FINGERPRINT_LABEL)[:16]

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
