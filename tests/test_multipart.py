"""Malformed GraphQL multipart requests get a 400 at once, never a 500 or a hang (server/multipart.py)."""

from __future__ import annotations

import asyncio
import json
import logging
import time

import pytest
from certificate_flow import CLAIM, certified_candidates, portrait
from harness import live_server, make_settings

from models import Certificate


def operations(variables: dict | None = None) -> str:
    if variables is None:
        variables = {"input": {"sittingId": "U2l0dGluZzox", "holderName": "Zoë", "photo": None}}
    return json.dumps({"query": CLAIM, "variables": variables})


PHOTO = {"0": ("portrait.jpg", b"\xff\xd8\xff\xe0 not really", "image/jpeg")}
MAP = json.dumps({"0": ["variables.input.photo"]})

MALFORMED = {
    "no map": ({"operations": operations()}, PHOTO),
    "map pointing to a missing part": (
        {"operations": operations(), "map": json.dumps({"1": ["variables.input.photo"]})},
        PHOTO,
    ),
    "path into a missing variable": (
        {"operations": operations(), "map": json.dumps({"0": ["variables.nothing.photo"]})},
        PHOTO,
    ),
    "path into missing variables": (
        {"operations": json.dumps({"query": CLAIM}), "map": MAP},
        PHOTO,
    ),
    "path to a missing key": (
        {"operations": operations(), "map": json.dumps({"0": ["variables.input.picture"]})},
        PHOTO,
    ),
    "path outside variables": ({"operations": operations(), "map": json.dumps({"0": ["query"]})}, PHOTO),
    "path through a string": (
        {"operations": operations(), "map": json.dumps({"0": ["variables.input.holderName.x"]})},
        PHOTO,
    ),
    "path to a non-null value": (
        {"operations": operations(), "map": json.dumps({"0": ["variables.input.holderName"]})},
        PHOTO,
    ),
    "list index out of range": (
        {"operations": operations({"files": [None]}), "map": json.dumps({"0": ["variables.files.3"]})},
        PHOTO,
    ),
    "list index not a number": (
        {"operations": operations({"files": [None]}), "map": json.dumps({"0": ["variables.files.x"]})},
        PHOTO,
    ),
    "map is not json": ({"operations": operations(), "map": "{not json"}, PHOTO),
    "map is a list": ({"operations": operations(), "map": json.dumps([["variables.input.photo"]])}, PHOTO),
    "map entry is not a list": ({"operations": operations(), "map": json.dumps({"0": "variables.input.photo"})}, PHOTO),
    "map names a text field": ({"operations": operations(), "map": MAP, "0": "just text"}, {}),
    "no operations": ({"map": MAP}, PHOTO),
    "operations is not json": ({"operations": "{oops", "map": MAP}, PHOTO),
    "operations is a number": ({"operations": "42", "map": MAP}, PHOTO),
}


@pytest.mark.parametrize("case", list(MALFORMED))
async def test_a_malformed_multipart_request_is_a_quick_400(sqlite_server, case):
    # given a certified sitting (a well-formed claim would change it)
    _, [candidate] = await certified_candidates(sqlite_server)
    data, files = MALFORMED[case]
    if "operations" in data:
        data = {**data, "operations": data["operations"].replace("U2l0dGluZzox", candidate.sitting_id)}

    # when the malformed request is sent
    started = time.monotonic()
    response = await sqlite_server.http.post(
        "/graphql",
        data=data,
        files=files or {"unused": ("empty.txt", b"", "text/plain")},
        headers={"Authorization": f"Bearer {candidate.client.token}"},
        timeout=5,
    )

    # then a 400 within a second, and nothing changed
    assert response.status_code == 400, response.text
    assert time.monotonic() - started < 1.0
    assert (await Certificate.get(id=candidate.certificate_pk)).status == "AWAITING_CLAIM"


async def test_a_body_that_is_not_multipart_at_all_is_a_400(sqlite_server):
    response = await sqlite_server.http.post(
        "/graphql",
        content=b'--xyz\r\nContent-Disposition: form-data; name="operations"\r\n\r\n{}',  # never terminated
        headers={"Content-Type": "multipart/form-data; boundary=xyz"},
        timeout=5,
    )
    assert response.status_code == 400


async def test_a_well_formed_claim_still_works_and_places_the_file(sqlite_server):
    # given a certified sitting
    _, [candidate] = await certified_candidates(sqlite_server)

    # when the claim follows the spec exactly
    response = await sqlite_server.http.post(
        "/graphql",
        data={
            "operations": operations(
                {"input": {"sittingId": candidate.sitting_id, "holderName": "Zoë", "photo": None}}
            ),
            "map": MAP,
        },
        files={"0": ("portrait.jpg", portrait(), "image/jpeg")},
        headers={"Authorization": f"Bearer {candidate.client.token}"},
    )

    # then
    assert response.status_code == 200
    assert response.json()["data"]["claimCertificate"]["errors"] == []
    assert response.json()["data"]["claimCertificate"]["certificate"]["status"] == "UNDER_REVIEW"


async def test_a_photo_sent_as_json_instead_of_a_file_is_invalid_photo(sqlite_server):
    # given a certified sitting
    _, [candidate] = await certified_candidates(sqlite_server)

    # when the Upload variable is a plain string in a JSON request
    variables = {"input": {"sittingId": candidate.sitting_id, "holderName": "Zoë", "photo": "aGVsbG8="}}
    body = await candidate.client.post(CLAIM, variables)

    # then nothing is stored
    assert body["data"]["claimCertificate"]["errors"] == [
        {"code": "INVALID_PHOTO", "message": "send the photo as a file upload", "field": ["input", "photo"]}
    ]
    assert (await Certificate.get(id=candidate.certificate_pk)).status == "AWAITING_CLAIM"


async def test_a_chunked_upload_over_the_limit_is_refused_while_streaming(sqlite_server):
    # given a multipart upload streamed without a Content-Length, 40 MB long
    async def body():
        yield b'--abc\r\nContent-Disposition: form-data; name="0"; filename="a.jpg"\r\nContent-Type: image/jpeg\r\n\r\n'
        for _ in range(40):
            yield b"x" * 1024 * 1024

    # when it is posted
    response = await sqlite_server.http.post(
        "/graphql", content=body(), headers={"Content-Type": "multipart/form-data; boundary=abc"}
    )

    # then it is a 413 as soon as the limit is passed, a GraphQL error naming the limit,
    # and nothing is left in the data dir's files
    assert response.status_code == 413
    message = "the request body is more than 25 MB; at most 25 MB is allowed"
    assert response.json() == {"errors": [{"message": message, "extensions": {"code": "PAYLOAD_TOO_LARGE"}}]}
    assert list(sqlite_server.settings.files_dir.rglob("*.*")) == []


UPLOAD_HEAD = (
    b"POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; boundary=BB\r\n"
    b"Content-Length: 5000000\r\n\r\n--BB\r\n"
)


async def _status_line(reader: asyncio.StreamReader) -> bytes:
    return (await reader.readline()).strip()


async def test_an_upload_that_stalls_is_answered_408_and_closed(tmp_path, sqlite_url):
    settings = make_settings(tmp_path, sqlite_url, request_body_idle_seconds=0.5, request_body_total_seconds=30)
    async with live_server(settings) as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(UPLOAD_HEAD)
        await writer.drain()

        started = time.monotonic()
        status = await asyncio.wait_for(_status_line(reader), 5)

        assert status == b"HTTP/1.1 408 Request Timeout"
        assert 0.4 <= time.monotonic() - started < 3
        rest = await asyncio.wait_for(reader.read(), 5)  # then the server closes the connection
        writer.close()
        head, _, body = rest.partition(b"\r\n\r\n")
        assert b"content-type: application/json" in head.lower()
        message = "the request body did not arrive within 0.5 s of silence or 30 s in all"
        assert json.loads(body) == {"errors": [{"message": message, "extensions": {"code": "REQUEST_TIMEOUT"}}]}


async def test_an_upload_that_trickles_in_is_cut_off_at_the_total_limit(tmp_path, sqlite_url):
    settings = make_settings(tmp_path, sqlite_url, request_body_idle_seconds=1.0, request_body_total_seconds=2.0)
    async with live_server(settings) as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(UPLOAD_HEAD)

        async def trickle() -> None:
            while True:  # one byte every 0.2 s: never idle for a second
                await asyncio.sleep(0.2)
                writer.write(b"x")
                await writer.drain()

        sender = asyncio.create_task(trickle())
        try:
            status = await asyncio.wait_for(_status_line(reader), 8)
        finally:
            sender.cancel()
            writer.close()

        assert status == b"HTTP/1.1 408 Request Timeout"
        assert (await server.http.post("/graphql", json={"query": "{ __typename }"})).status_code == 200


async def test_a_client_that_leaves_mid_upload_is_no_server_error(sqlite_server, caplog):
    reader, writer = await asyncio.open_connection("127.0.0.1", sqlite_server.port)
    writer.write(UPLOAD_HEAD + b"x" * 1000)
    await writer.drain()
    await asyncio.sleep(0.3)

    with caplog.at_level(logging.ERROR):
        writer.close()
        await asyncio.sleep(0.5)

    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert (await sqlite_server.http.post("/graphql", json={"query": "{ __typename }"})).status_code == 200


async def test_too_many_parts_are_refused_in_this_apis_words(sqlite_server):
    many_fields = {"operations": "{}", "map": "{}", **{f"f{i}": "v" for i in range(11)}}
    many_files = {f"p{i}": (f"p{i}.txt", b"x", "text/plain") for i in range(11)}

    fields = await sqlite_server.http.post("/graphql", data=many_fields, files={"x": ("x.txt", b"x", "text/plain")})
    files = await sqlite_server.http.post("/graphql", data={"operations": "{}", "map": "{}"}, files=many_files)

    assert (fields.status_code, fields.json()["errors"][0]["message"]) == (
        400,
        "Invalid multipart request: at most 10 text parts per request; this one has more",
    )
    assert (files.status_code, files.json()["errors"][0]["message"]) == (
        400,
        "Invalid multipart request: at most 10 files per request; this one has more",
    )
