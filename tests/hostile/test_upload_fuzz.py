"""Generated multipart requests against ``claimCertificate``, the mutation that takes an ``Upload``.

schemathesis has no generator for ``Upload``, so hypothesis builds the
multipart bodies itself: random file bytes, random or broken ``operations``
and ``map`` parts, missing and extra file parts, wrong content types and
boundaries, bodies cut short. Each is sent over real HTTP with the test
taker's token (or another role's); every answer must be below 500 with no
internals, and nothing may change: the certificate stays AWAITING_CLAIM and
no photo is stored.
"""

from __future__ import annotations

import json

import pytest
from hostile_support import HOSTILE, LEAKS, bearer, leaks_in, role_tokens
from hypothesis import given, settings
from hypothesis import strategies as st

from gql.ids import decode_id
from models import Certificate

CLAIM = """
mutation($input: ClaimCertificateInput!) {
  claimCertificate(input: $input) { certificate { id status } errors { code message field } }
}
"""
UPLOADS_SENT = 200
BOUNDARY = "certifyhostileboundary"

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)


@st.composite
def operations_parts(draw, sitting_id: str) -> str:
    """The ``operations`` part: a claim with a placeholder, a claim with the photo misplaced, or any JSON or text."""
    photo = draw(st.sampled_from([None, "", 0, {}, []]))
    claim = {
        "query": CLAIM,
        "variables": {"input": {"sittingId": sitting_id, "holderName": draw(st.text(max_size=30)), "photo": photo}},
    }
    value = draw(st.one_of(st.just(claim), st.just([claim]), json_values))
    return draw(st.one_of(st.just(json.dumps(value)), st.text(max_size=40)))


@st.composite
def map_parts(draw) -> str:
    """The ``map`` part: the right path, paths that lead nowhere, any JSON or text."""
    path = st.sampled_from(
        ["variables.input.photo", "variables.input", "variables.photo", "0.variables.input.photo", "query", ""]
    )
    value = draw(
        st.one_of(
            st.just({"0": ["variables.input.photo"]}),
            st.dictionaries(st.text(max_size=3), st.lists(path | st.text(max_size=12), max_size=3), max_size=3),
            json_values,
        )
    )
    return draw(st.one_of(st.just(json.dumps(value)), st.text(max_size=40)))


def part(name: str, value: bytes, *, filename: str | None = None, content_type: str | None = None) -> bytes:
    disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename is not None else "")
    headers = f"Content-Disposition: {disposition}\r\n" + (f"Content-Type: {content_type}\r\n" if content_type else "")
    return f"--{BOUNDARY}\r\n{headers}\r\n".encode() + value + b"\r\n"


@st.composite
def well_formed_claims(draw, sitting_id: str) -> tuple[bytes, str]:
    """A spec-conformant claim whose file is random bytes under a random name and content type."""
    operations = {
        "query": CLAIM,
        "variables": {"input": {"sittingId": sitting_id, "holderName": draw(st.text(max_size=30)), "photo": None}},
    }
    file = part(
        "0",
        draw(st.binary(max_size=4_000)),
        filename=draw(st.sampled_from(["portrait.jpg", "x.png", "", "../../etc/passwd", "a\u00e9.gif"])),
        content_type=draw(st.sampled_from(["image/jpeg", "image/png", "text/plain", "application/octet-stream", None])),
    )
    body = (
        part("operations", json.dumps(operations).encode())
        + part("map", json.dumps({"0": ["variables.input.photo"]}).encode())
        + file
        + f"--{BOUNDARY}--\r\n".encode()
    )
    return body, f"multipart/form-data; boundary={BOUNDARY}"


@st.composite
def hostile_multipart(draw, sitting_id: str) -> tuple[bytes, str]:
    """A (body, Content-Type header) pair: mostly multipart, sometimes mislabelled, sometimes cut short."""
    parts = []
    if draw(st.booleans()) or draw(st.booleans()):
        parts.append(part("operations", draw(operations_parts(sitting_id)).encode()))
    if draw(st.booleans()) or draw(st.booleans()):
        parts.append(part("map", draw(map_parts()).encode()))
    for _ in range(draw(st.integers(0, 3))):
        parts.append(
            part(
                draw(st.sampled_from(["0", "1", "photo", "operations"]) | st.text(max_size=5)).replace('"', ""),
                draw(st.binary(max_size=2_000)),
                filename=draw(st.sampled_from(["portrait.jpg", "x.png", "", "../../etc/passwd"])),
                content_type=draw(
                    st.sampled_from(["image/jpeg", "image/png", "text/plain", "application/octet-stream", None])
                ),
            )
        )
    if draw(st.booleans()):
        parts.reverse()
    body = b"".join(parts) + f"--{BOUNDARY}--\r\n".encode()
    if draw(st.integers(0, 4)) == 0:
        body = body[: draw(st.integers(0, len(body)))]
    content_type = draw(
        st.sampled_from(
            [
                f"multipart/form-data; boundary={BOUNDARY}",
                f"multipart/form-data; boundary={BOUNDARY}",
                f"multipart/form-data; boundary={BOUNDARY}",
                "multipart/form-data",
                "multipart/form-data; boundary=other",
                "application/json",
                "text/plain",
                "application/x-www-form-urlencoded",
            ]
        )
    )
    return body, content_type


def multipart_requests(sitting_id: str):
    """Half well-formed claims carrying random files, half broken multipart requests."""
    return st.one_of(well_formed_claims(sitting_id), hostile_multipart(sitting_id))


def certificate_state(server, certificate_id: str) -> tuple:
    async def read():
        certificate = await Certificate.get(id=decode_id(certificate_id, "Certificate"))
        return str(certificate.status), certificate.photo_key, certificate.holder_name

    return server.run(read())


def stored_photos(server) -> list[str]:
    photos = server.live.settings.files_dir / "photos"
    return sorted(path.name for path in photos.glob("*")) if photos.exists() else []


@pytest.mark.slow
def test_generated_multipart_claims_are_refused_cleanly(
    server_on_each_backend, world_on_each_backend, http_on_each_backend
):
    """Given the test taker of A's certified sitting, on SQLite and on PostgreSQL, when hypothesis sends 200
    generated multipart requests to claimCertificate, then each gets an answer below 500 without internals,
    and the certificate and the stored photos are exactly as before."""
    threaded_server, world, http = server_on_each_backend, world_on_each_backend, http_on_each_backend
    tokens = role_tokens(threaded_server, world.a)
    before = certificate_state(threaded_server, world.a.certificate_id)
    photos_before = stored_photos(threaded_server)
    statuses: dict[int, int] = {}

    @settings(HOSTILE, max_examples=UPLOADS_SENT)
    @given(request=multipart_requests(world.a.certified_sitting_id), role=st.sampled_from(sorted(tokens)))
    def send(request, role) -> None:
        body, content_type = request
        headers = {"Content-Type": content_type, **bearer(tokens[role])}
        response = http.post("/graphql", content=body, headers=headers)
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        assert response.status_code < 500, (response.status_code, response.text[:2000])
        if response.headers.get("content-type", "").startswith("application/json"):
            answer = response.json()
            assert leaks_in(answer) == [], leaks_in(answer)
            claimed = ((answer.get("data") or {}).get("claimCertificate") or {}).get("certificate")
            assert claimed is None, answer
        else:
            assert LEAKS.search(response.text) is None, response.text[:2000]

    send()
    print(f"multipart answers by status: {dict(sorted(statuses.items()))}")
    assert sum(statuses.values()) == UPLOADS_SENT
    assert certificate_state(threaded_server, world.a.certificate_id) == before
    assert stored_photos(threaded_server) == photos_before
