"""JWT bearer authentication: verify tokens into a :class:`Principal`, and mint them.

Claims (docs/RULES.md, "Who sees what"): ``sub``, ``role`` (a :class:`Role` value),
``org`` (Organisation global ID, for org_admin and analyst), ``test_taker``
(TestTaker global ID, for test_taker), plus ``iss``, ``aud``, ``exp``.
HS256 with the configured secret, or RS256 when a public key is configured.
"""

from __future__ import annotations

import time

import jwt
from cachetools import TTLCache
from jwt import exceptions as jwt_errors

from gql.ids import decode_id
from models.enums import Role
from resolvers.access import Claim, token_claim
from resolvers.errors import Unauthenticated
from resolvers.principal import Principal, missing_scope
from server.settings import Settings

KNOWN_SCOPES = 10_000
"""Organisations and test takers remembered as existing, per process."""
KNOWN_SCOPE_SECONDS = 60
"""How long an existing scope is remembered before it is looked up again."""
VERIFIED_TOKENS = 4096
"""Tokens remembered as verified, per process (each until its ``exp``, at most :data:`VERIFIED_TOKEN_SECONDS`)."""
VERIFIED_TOKEN_SECONDS = 60
VERIFIED_TOKEN_MAX_CHARACTERS = 2048
"""Longer tokens are verified every time and never remembered."""


class TokenService:
    """Verifies and mints JWTs for one :class:`Settings`."""

    def __init__(self, settings: Settings):
        self._settings = settings
        self._known: TTLCache[tuple[int | None, int | None], bool] = TTLCache(KNOWN_SCOPES, KNOWN_SCOPE_SECONDS)
        self._verified: TTLCache[str, tuple[Principal, float]] = TTLCache(VERIFIED_TOKENS, VERIFIED_TOKEN_SECONDS)
        if settings.jwt_public_key:
            self._algorithm = "RS256"
            self._verify_key: str = settings.jwt_public_key
            self._sign_key: str | None = settings.jwt_private_key
        else:
            self._algorithm = "HS256"
            self._verify_key = settings.jwt_secret
            self._sign_key = settings.jwt_secret

    def verify(self, token: str) -> Principal:
        """Return the principal of a valid token (its claims only: :meth:`authenticate` also checks its scope).

        Raises:
            Unauthenticated: malformed, badly signed, of another algorithm,
                expired or not yet valid, wrong issuer or audience (the message
                names the setting), unknown role, or a missing/ill-formed claim.
                Messages are the service's own, never the JWT library's.

        A token verified in the last :data:`VERIFIED_TOKEN_SECONDS` is taken
        from memory while its ``exp`` lies ahead (PyJWT's decoding, about a
        twentieth of a 50-row page's server time, is not repeated); the same
        string under the same key verifies the same way every time, and its
        ``nbf`` and ``iat`` were already past.
        """
        remembered = self._verified.get(token)
        if remembered is not None and time.time() < remembered[1]:
            return remembered[0]
        try:
            claims = jwt.decode(
                token,
                self._verify_key,
                algorithms=[self._algorithm],
                audience=self._settings.jwt_audience,
                issuer=self._settings.jwt_issuer,
                options={"require": ["sub", "exp", "role"]},
            )
        except jwt_errors.PyJWTError as exc:
            raise Unauthenticated(self._refusal(exc)) from exc
        principal = _principal_from_claims(claims)
        if len(token) <= VERIFIED_TOKEN_MAX_CHARACTERS:
            self._verified[token] = (principal, float(claims["exp"]))
        return principal

    async def authenticate(self, value: str | None) -> Principal | None:
        """:meth:`verify_header`, then the organisation or test taker the token names must exist.

        Existing scopes are remembered for :data:`KNOWN_SCOPE_SECONDS`, so a
        client's requests after its first cost no look-up.

        Raises:
            Unauthenticated: as :meth:`verify_header`, or the named organisation / test taker does not exist.
        """
        principal = self.verify_header(value)
        if principal is None:
            return None
        key = (principal.organisation_id, principal.test_taker_id)
        if key == (None, None) or key in self._known:
            return principal
        missing = await missing_scope(principal)
        if missing is not None:
            raise Unauthenticated(f"the token names a {missing} that does not exist")
        self._known[key] = True
        return principal

    def _refusal(self, error: jwt_errors.PyJWTError) -> str:
        """The message for a token PyJWT refused, in the service's words."""
        settings = self._settings
        if isinstance(error, jwt_errors.ExpiredSignatureError):
            return "the token has expired"
        if isinstance(error, jwt_errors.ImmatureSignatureError):
            return "the token is not valid yet (its nbf or iat is in the future)"
        if isinstance(error, jwt_errors.InvalidAudienceError):
            return (
                f"the token's aud claim must be {settings.jwt_audience!r} "
                "(set CERTIFY_JWT_AUDIENCE to the audience your tokens carry)"
            )
        if isinstance(error, jwt_errors.InvalidIssuerError):
            return (
                f"the token's iss claim must be {settings.jwt_issuer!r} "
                "(set CERTIFY_JWT_ISSUER to the issuer your tokens carry)"
            )
        if isinstance(error, jwt_errors.MissingRequiredClaimError):
            return f"the token has no {error.claim!r} claim"
        if isinstance(error, jwt_errors.InvalidAlgorithmError):
            return f"the token must be signed with {self._algorithm}"
        if isinstance(error, jwt_errors.InvalidSignatureError):
            return "the token's signature does not match the configured key"
        if isinstance(error, jwt_errors.InvalidSubjectError):
            return "the token's sub claim must be a non-empty string"
        return "the token is malformed: not a JWT, or a claim of the wrong type"

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


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _principal_from_claims(claims: dict) -> Principal:
    try:
        role = Role(claims["role"])
    except (ValueError, TypeError) as exc:
        raise Unauthenticated(f"unknown role {str(claims['role'])[:40]!r}") from exc
    subject = claims["sub"]
    if not isinstance(subject, str) or not subject:
        raise Unauthenticated("the token's sub claim must be a non-empty string")
    organisation_id = test_taker_id = None
    claim = token_claim(role)
    if claim is Claim.ORGANISATION:
        organisation_id = decode_id(_text(claims.get("org")), "Organisation")
        if organisation_id is None:
            raise Unauthenticated(f"a {role.value} token needs an 'org' claim with an Organisation ID")
    if claim is Claim.TEST_TAKER:
        test_taker_id = decode_id(_text(claims.get("test_taker")), "TestTaker")
        if test_taker_id is None:
            raise Unauthenticated("a test_taker token needs a 'test_taker' claim with a TestTaker ID")
    return Principal(subject, role, organisation_id, test_taker_id)
