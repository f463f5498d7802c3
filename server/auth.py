"""JWT bearer authentication: verify tokens into a :class:`Principal`, and mint them.

Claims (docs/RULES.md, "Who sees what"): ``sub``, ``role`` (a :class:`Role` value),
``org`` (Organisation global ID, for org_admin and analyst), ``test_taker``
(TestTaker global ID, for test_taker), plus ``iss``, ``aud``, ``exp``.
HS256 with the configured secret, or RS256 when a public key is configured.
"""

from __future__ import annotations

import time

import jwt

from gql.ids import decode_id
from models.enums import Role
from resolvers.access import Claim, token_claim
from resolvers.errors import Unauthenticated
from resolvers.principal import Principal
from server.settings import Settings


class TokenService:
    """Verifies and mints JWTs for one :class:`Settings`."""

    def __init__(self, settings: Settings):
        self._settings = settings
        if settings.jwt_public_key:
            self._algorithm = "RS256"
            self._verify_key: str = settings.jwt_public_key
            self._sign_key: str | None = settings.jwt_private_key
        else:
            self._algorithm = "HS256"
            self._verify_key = settings.jwt_secret
            self._sign_key = settings.jwt_secret

    def verify(self, token: str) -> Principal:
        """Return the principal of a valid token.

        Raises:
            Unauthenticated: malformed, badly signed, expired, wrong issuer or
                audience, unknown role, or a missing/ill-formed scope claim.
        """
        try:
            claims = jwt.decode(
                token,
                self._verify_key,
                algorithms=[self._algorithm],
                audience=self._settings.jwt_audience,
                issuer=self._settings.jwt_issuer,
                options={"require": ["sub", "exp", "role"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise Unauthenticated("the token has expired") from exc
        except jwt.PyJWTError as exc:
            raise Unauthenticated(f"invalid token: {exc}") from exc
        return _principal_from_claims(claims)

    def verify_header(self, value: str | None) -> Principal | None:
        """Verify an ``Authorization`` value; ``None`` when absent.

        Raises:
            Unauthenticated: present but not ``Bearer <valid JWT>``.
        """
        if value is None or value == "":
            return None
        scheme, _, token = value.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated("the Authorization header must be 'Bearer <token>'")
        return self.verify(token.strip())

    def mint(
        self,
        *,
        role: Role,
        subject: str,
        organisation_gid: str | None = None,
        test_taker_gid: str | None = None,
        ttl_seconds: int = 3600,
    ) -> str:
        """Sign a token for the given claims, valid ``ttl_seconds`` from now.

        Raises:
            RuntimeError: RS256 is configured without a private key.
        """
        if self._sign_key is None:
            raise RuntimeError("minting RS256 tokens needs CERTIFY_JWT_PRIVATE_KEY")
        now = int(time.time())
        claims: dict[str, object] = {
            "sub": subject,
            "role": role.value,
            "iss": self._settings.jwt_issuer,
            "aud": self._settings.jwt_audience,
            "iat": now,
            "exp": now + ttl_seconds,
        }
        if organisation_gid is not None:
            claims["org"] = organisation_gid
        if test_taker_gid is not None:
            claims["test_taker"] = test_taker_gid
        return jwt.encode(claims, self._sign_key, algorithm=self._algorithm)


def _principal_from_claims(claims: dict) -> Principal:
    try:
        role = Role(claims["role"])
    except ValueError as exc:
        raise Unauthenticated(f"unknown role {claims['role']!r}") from exc
    subject = claims["sub"]
    if not isinstance(subject, str) or not subject:
        raise Unauthenticated("the token's sub claim must be a non-empty string")
    organisation_id = test_taker_id = None
    claim = token_claim(role)
    if claim is Claim.ORGANISATION:
        organisation_id = decode_id(claims.get("org", ""), "Organisation")
        if organisation_id is None:
            raise Unauthenticated(f"a {role.value} token needs an 'org' claim with an Organisation ID")
    if claim is Claim.TEST_TAKER:
        test_taker_id = decode_id(claims.get("test_taker", ""), "TestTaker")
        if test_taker_id is None:
            raise Unauthenticated("a test_taker token needs a 'test_taker' claim with a TestTaker ID")
    return Principal(subject, role, organisation_id, test_taker_id)
