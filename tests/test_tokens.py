"""Every way a bearer token can be wrong is UNAUTHENTICATED, in the service's own words, over HTTP and websockets.

The messages never carry the JWT library's text; a token refused for its
issuer or audience names the setting an integrator changes.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time

import jwt
import pytest
from builders import build_world
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from harness import TEST_SECRET, live_server, make_settings
from support import snapshot
from ws_client import ws_connect

from gql.ids import to_global_id

SITTINGS = "{ sittings { totalCount } }"
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
RSA_PUBLIC_PEM = RSA_KEY.public_key().public_bytes(
    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
)
RSA_PRIVATE_PEM = RSA_KEY.private_bytes(
    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
)


def hs256_with(key: bytes, payload: dict) -> str:
    """An HS256 token signed with ``key`` by hand (PyJWT refuses a PEM key as an HMAC secret; an attacker need not)."""
    part = lambda data: base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=")  # noqa: E731
    signing_input = part({"alg": "HS256", "typ": "JWT"}) + b"." + part(payload)
    signature = base64.urlsafe_b64encode(hmac.new(key, signing_input, hashlib.sha256).digest()).rstrip(b"=")
    return (signing_input + b"." + signature).decode()


def claims(organisation_gid: str, **overrides) -> dict:
    now = int(time.time())
    base = {"sub": "mallory", "role": "org_admin", "org": organisation_gid, "iss": "certify", "aud": "certify-api"}
    base |= {"iat": now, "exp": now + 600}
    return {k: v for k, v in (base | overrides).items() if v is not None}


def refused_tokens(organisation_gid: str) -> dict[str, tuple[str, str]]:
    """Case → (Authorization value, the exact message)."""
    sign = lambda **c: "Bearer " + jwt.encode(claims(organisation_gid, **c), TEST_SECRET, algorithm="HS256")  # noqa: E731
    now = int(time.time())
    return {
        "alg none": (
            "Bearer " + jwt.encode(claims(organisation_gid), None, algorithm="none"),
            "the token must be signed with HS256",
        ),
        "wrong key": (
            "Bearer "
            + jwt.encode(claims(organisation_gid), "another-secret-0123456789abcdef01234567", algorithm="HS256"),
            "the token's signature does not match the configured key",
        ),
        "RS256 token": (
            "Bearer " + jwt.encode(claims(organisation_gid), RSA_KEY, algorithm="RS256"),
            "the token must be signed with HS256",
        ),
        "wrong audience": (
            sign(aud="someone-else"),
            "the token's aud claim must be 'certify-api' (set CERTIFY_JWT_AUDIENCE to the audience your tokens carry)",
        ),
        "wrong issuer": (
            sign(iss="their-idp"),
            "the token's iss claim must be 'certify' (set CERTIFY_JWT_ISSUER to the issuer your tokens carry)",
        ),
        "expired": (sign(exp=now - 60), "the token has expired"),
        "not valid yet": (sign(nbf=now + 3600), "the token is not valid yet (its nbf or iat is in the future)"),
        "no expiry": (sign(exp=None), "the token has no 'exp' claim"),
        "exp not a number": (sign(exp="tomorrow"), "the token is malformed: not a JWT, or a claim of the wrong type"),
        "unknown role": (sign(role="superuser"), "unknown role 'superuser'"),
        "role not a string": (sign(role=7), "unknown role '7'"),
        "sub not a string": (sign(sub=42), "the token's sub claim must be a non-empty string"),
        "org not a string": (sign(org=12), "a org_admin token needs an 'org' claim with an Organisation ID"),
        "an organisation that does not exist": (
            sign(org=to_global_id("Organisation", 987_654)),
            "the token names a organisation that does not exist",
        ),
        "a test taker that does not exist": (
            sign(role="test_taker", org=None, test_taker=to_global_id("TestTaker", 987_654)),
            "the token names a test taker that does not exist",
        ),
        "not a JWT": ("Bearer not.a.jwt", "the token is malformed: not a JWT, or a claim of the wrong type"),
    }


@pytest.mark.parametrize("transport", ["http", "websocket"])
async def test_every_bad_token_is_unauthenticated_with_its_own_message(sqlite_server, transport):
    # given an organisation with sittings
    world = await build_world(sqlite_server.platform(), sittings=2)
    before = await snapshot(world.organisation_pk)

    # when each bad token is used
    answers = {}
    for case, (value, _) in refused_tokens(world.organisation_id).items():
        if transport == "http":
            body = (
                await sqlite_server.http.post("/graphql", json={"query": SITTINGS}, headers={"Authorization": value})
            ).json()
            assert body["data"] is None, (case, body)
            answers[case] = [(e["extensions"]["code"], e["message"]) for e in body["errors"]]
        else:
            async with ws_connect(sqlite_server.ws_url) as client:
                await client.send({"type": "connection_init", "payload": {"Authorization": value}})
                answers[case] = await client.close_code()

    # then each is refused with its message (HTTP) or the connection is closed 4403 (websocket), and nothing changed
    if transport == "http":
        assert answers == {
            case: [("UNAUTHENTICATED", message)] for case, (_, message) in refused_tokens(world.organisation_id).items()
        }
    else:
        assert answers == {case: 4403 for case in refused_tokens(world.organisation_id)}
    assert await snapshot(world.organisation_pk) == before


async def test_a_token_of_an_existing_organisation_is_accepted_and_remembered(sqlite_server):
    # given an organisation and a well-signed token naming it
    world = await build_world(sqlite_server.platform(), sittings=3)
    token = "Bearer " + jwt.encode(claims(world.organisation_id), TEST_SECRET, algorithm="HS256")

    # when it is used twice
    answers = [
        (await sqlite_server.http.post("/graphql", json={"query": SITTINGS}, headers={"Authorization": token})).json()
        for _ in range(2)
    ]

    # then both are answered
    assert [a["data"] for a in answers] == [{"sittings": {"totalCount": 3}}] * 2


async def test_a_remembered_token_is_refused_once_it_expires(sqlite_server):
    # given a token that expires two seconds from now, accepted once (and so remembered as verified)
    world = await build_world(sqlite_server.platform(), sittings=1)
    expires_at = int(time.time()) + 2
    token = "Bearer " + jwt.encode(claims(world.organisation_id, exp=expires_at), TEST_SECRET, algorithm="HS256")
    first = (
        await sqlite_server.http.post("/graphql", json={"query": SITTINGS}, headers={"Authorization": token})
    ).json()

    # when it is used again after its exp
    await asyncio.sleep(max(0.0, expires_at - time.time()) + 0.1)
    again = (
        await sqlite_server.http.post("/graphql", json={"query": SITTINGS}, headers={"Authorization": token})
    ).json()

    # then the first answer was data and the second the expiry refusal
    assert first["data"] == {"sittings": {"totalCount": 1}}
    assert [(e["extensions"]["code"], e["message"]) for e in again["errors"]] == [
        ("UNAUTHENTICATED", "the token has expired")
    ]


async def test_an_rs256_service_refuses_hs256_signed_with_its_public_key(tmp_path, sqlite_url):
    # given a service verifying RS256 with a public key, and an organisation
    settings = make_settings(
        tmp_path, sqlite_url, jwt_public_key=RSA_PUBLIC_PEM.decode(), jwt_private_key=RSA_PRIVATE_PEM.decode()
    )
    async with live_server(settings) as server:
        world = await build_world(server.platform(), sittings=1)
        forged = hs256_with(RSA_PUBLIC_PEM, claims(world.organisation_id))
        genuine = jwt.encode(claims(world.organisation_id), RSA_KEY, algorithm="RS256")

        # when the forged token (HS256, keyed with the public key) and a genuine RS256 one are used
        answers = [
            (
                await server.http.post("/graphql", json={"query": SITTINGS}, headers={"Authorization": f"Bearer {t}"})
            ).json()
            for t in (forged, genuine)
        ]

    # then the forgery is refused for its algorithm, the genuine token is answered
    assert answers[0]["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert answers[0]["errors"][0]["message"] == "the token must be signed with RS256"
    assert answers[1] == {
        "data": {"sittings": {"totalCount": 1}},
        "extensions": {"cost": {"requested": 51, "limit": 50_000}},
    }
