"""Identity: bearer tokens (JWT, pyjwt) carrying NHS CIS2-style claims.

Two issuers, one set of claims. The built-in demo issuer signs ES256 tokens with an ephemeral key that
``care-record serve`` (or a test) generates and keeps in the store's settings, so ``care-record token``
can sign for a demo user while the server runs; a new serve makes a new key. An external OIDC issuer
(NHS CIS2 in production) is configured with its issuer, audience and signing keys (a JWKS file read at
``care-record init``: nothing is fetched at run time); the demo issuer is then refused.

Claims read (as CIS2 issues them): ``sub``, ``name``, ``nhsid_useruid`` (SDS user id),
``selected_roleid`` (the role the user chose at login) and ``nhsid_nrbac_roles`` (each with
``person_roleid``, ``role_code`` ``S..:G..:R....`` whose last part is the national RBAC R-code, and
``org_code``, the ODS code).

Boundaries: reads and writes only the ``settings`` and ``users`` tables.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
import sqlalchemy as sa
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy.engine import Connection

from caremodels.care_record.policy import Principal
from caremodels.care_record.resources import CareRecordError
from caremodels.care_record.store import Store, settings, users

__all__ = [
    "DEMO_AUDIENCE",
    "DEMO_ISSUER",
    "Authenticator",
    "Unauthenticated",
    "configure_external_issuer",
    "demo_token",
    "list_users",
    "rotate_demo_key",
]

DEMO_ISSUER = "urn:caremodels:care-record:demo-issuer"
DEMO_AUDIENCE = "caremodels-care-record"
_DEMO_KEY = "demo_issuer_private_key"
_EXTERNAL = "external_issuer"
TOKEN_LIFETIME = dt.timedelta(hours=8)


class Unauthenticated(CareRecordError):
    status = 401
    code = "login"


def _setting(conn: Connection, key: str) -> str | None:
    return conn.execute(sa.select(settings.c.value).where(settings.c.key == key)).scalar()


def _put_setting(conn: Connection, key: str, value: str) -> None:
    conn.execute(settings.delete().where(settings.c.key == key))
    conn.execute(settings.insert().values(key=key, value=value))


def rotate_demo_key(store: Store) -> None:
    """A new ephemeral demo signing key: tokens signed with the previous one stop working."""
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")
    with store.begin() as conn:
        _put_setting(conn, _DEMO_KEY, pem)


def configure_external_issuer(store: Store, *, issuer: str, audience: str, jwks_file: Path) -> None:
    try:
        jwks = json.loads(jwks_file.read_text(encoding="utf-8"))
        jwt.PyJWKSet.from_dict(jwks)
    except (OSError, ValueError, jwt.PyJWKSetError) as error:
        raise CareRecordError(f"file {jwks_file}: not a JSON Web Key Set ({type(error).__name__})") from None
    with store.begin() as conn:
        _put_setting(conn, _EXTERNAL, json.dumps({"issuer": issuer, "audience": audience, "jwks": jwks}))


def list_users(store: Store) -> list[dict[str, Any]]:
    with store.begin() as conn:
        return [dict(row._mapping) for row in conn.execute(sa.select(users).order_by(users.c.id))]


def demo_token(store: Store, user_id: str, *, now: dt.datetime | None = None) -> str:
    """A token from the demo issuer for a demo user (refused when an external issuer is configured)."""
    moment = now or dt.datetime.now(dt.UTC)
    with store.begin() as conn:
        if _setting(conn, _EXTERNAL) is not None:
            raise CareRecordError(
                "this store uses an external identity issuer: demo tokens are refused",
                status=403,
                code="forbidden",
            )
        user = conn.execute(sa.select(users).where(users.c.id == user_id)).first()
        pem = _setting(conn, _DEMO_KEY)
    if user is None:
        raise CareRecordError(
            f"no user {user_id!r} in the store (see `care-record users`)", status=404, code="not-found"
        )
    if pem is None:
        raise CareRecordError("the demo issuer has no key yet: start `care-record serve` first")
    key = serialization.load_pem_private_key(pem.encode("ascii"), password=None)
    claims = {
        "iss": DEMO_ISSUER,
        "aud": DEMO_AUDIENCE,
        "sub": user.id,
        "iat": int(moment.timestamp()),
        "exp": int((moment + TOKEN_LIFETIME).timestamp()),
        "name": user.name,
        "nhsid_useruid": user.sds_user_id,
        "selected_roleid": user.role_profile_id,
        "nhsid_nrbac_roles": [
            {
                "person_roleid": user.role_profile_id,
                "role_code": f"S8000:G8000:{user.role_code}",
                "org_code": user.org_code,
            }
        ],
        "practitioner_id": user.practitioner_id,
    }
    return jwt.encode(claims, key, algorithm="ES256")  # type: ignore[arg-type]


@functools.lru_cache(maxsize=8)
def _public_key(pem: str) -> Any:
    return serialization.load_pem_private_key(pem.encode("ascii"), password=None).public_key()


@dataclass
class Authenticator:
    """Verifies bearer tokens against the configured issuer and reads the principal from the claims."""

    store: Store
    # The issuer settings change only at `init` and at the start of `serve`; reading them once a few
    # seconds spares every request a transaction of its own.
    cache_seconds: float = 5.0
    _cached: tuple[float, str | None, str | None] | None = None

    def _settings(self) -> tuple[str | None, str | None]:
        now = time.monotonic()
        if self._cached is None or now - self._cached[0] > self.cache_seconds:
            with self.store.begin() as conn:
                self._cached = (now, _setting(conn, _EXTERNAL), _setting(conn, _DEMO_KEY))
        return self._cached[1], self._cached[2]

    def _verifier(self) -> tuple[str, str, Any, list[str]]:
        external, pem = self._settings()
        if external is not None:
            config = json.loads(external)
            return (
                config["issuer"],
                config["audience"],
                jwt.PyJWKSet.from_dict(config["jwks"]),
                ["RS256", "ES256", "PS256"],
            )
        if pem is None:
            raise Unauthenticated("the demo issuer has no key: the server was not started with one")
        return DEMO_ISSUER, DEMO_AUDIENCE, _public_key(pem), ["ES256"]

    def authenticate(self, authorization: str | None) -> Principal:
        if not authorization or not authorization.lower().startswith("bearer "):
            raise Unauthenticated("a bearer token is needed (Authorization: Bearer <token>)")
        token = authorization[7:].strip()
        issuer, audience, keys, algorithms = self._verifier()
        try:
            if isinstance(keys, jwt.PyJWKSet):
                kid = jwt.get_unverified_header(token).get("kid")
                matching = [key for key in keys.keys if kid is None or key.key_id == kid]
                if not matching:
                    raise Unauthenticated("the token's signing key is not one of the issuer's")
                key: Any = matching[0].key
            else:
                key = keys
            claims = jwt.decode(
                token,
                key,
                algorithms=algorithms,
                audience=audience,
                issuer=issuer,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except jwt.PyJWTError as error:
            raise Unauthenticated(f"the bearer token is not valid: {type(error).__name__}") from None
        return principal_of(claims)


def principal_of(claims: dict[str, Any]) -> Principal:
    selected = claims.get("selected_roleid")
    roles = claims.get("nhsid_nrbac_roles")
    if not isinstance(roles, list):
        raise Unauthenticated("the token has no nhsid_nrbac_roles claim")
    chosen = next(
        (role for role in roles if isinstance(role, dict) and role.get("person_roleid") == selected), None
    )
    if chosen is None:
        raise Unauthenticated("the token's selected_roleid is not one of its nhsid_nrbac_roles")
    role_code = str(chosen.get("role_code", "")).split(":")[-1]
    org_code = str(chosen.get("org_code", ""))
    if not role_code or not org_code:
        raise Unauthenticated("the selected role has no role_code or org_code")
    return Principal(
        user_id=str(claims["sub"]),
        name=str(claims.get("name", claims["sub"])),
        role_code=role_code,
        org_code=org_code,
        sds_user_id=str(claims.get("nhsid_useruid", claims["sub"])),
        practitioner_id=claims.get("practitioner_id"),
    )
