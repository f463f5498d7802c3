"""The credential library offline (credentials/): signing and verifying, tampering, contexts, status lists, baking.

The Digital Bazaar fixtures (tests/data/credentials/, made by
tests/interop/vc-verify/make-fixtures.mjs) prove our verifier accepts what
the JavaScript libraries wallets use have signed.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import gzip
import io
import json
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from PIL import Image

from credentials import proof
from credentials.badge import BadgeFacts, identity_hash, open_badge
from credentials.baking import BakingError, bake, baked_text, read_credential, unbake
from credentials.did import did_document, did_document_url, did_web
from credentials.keys import KeyRing, load_or_create_key_ring, new_key, public_key_from_multibase, read_key_ring, rotate
from credentials.status_list import LIST_LENGTH, StatusListError, bit_is_set, decode_list, encode_list
from credentials.verifier import verify_credential

FIXTURES = Path(__file__).resolve().parents[1] / "data" / "credentials"
NOW = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)
ISSUER = did_web("https://certify.example", "orgs", "7")
STATUS_URL = "https://certify.example/orgs/7/credentials/status/1"


def facts(**changes) -> BadgeFacts:
    values = {
        "credential_url": "https://certify.example/credentials/7K3M-Q9XD-2HVT-R8BN",
        "issuer_did": ISSUER,
        "organisation_name": "Acme Languages",
        "organisation_url": "https://certify.example",
        "achievement_id": "https://certify.example/achievements/3",
        "test_name": "English B2 Academic",
        "holder_name": "Zoë Nguyễn",
        "holder_email": "zoe@example.com",
        "score": 77,
        "score_max": 100,
        "level": "B2",
        "levels": ("B1", "B2"),
        "taken_at": datetime(2026, 11, 2, 9, 30, tzinfo=UTC),
        "issued_at": datetime(2026, 11, 20, 12, 0, tzinfo=UTC),
        "expires_at": datetime(2028, 11, 2, 9, 30, tzinfo=UTC),
        "status_list_url": STATUS_URL,
        "status_list_index": 4242,
    }
    values.update(changes)
    return BadgeFacts(**values)


class World:
    """An issuer key, its DID document and a status list, served by ``fetch_json`` as a web server would."""

    def __init__(self, revoked: tuple[int, ...] = ()) -> None:
        self.key = new_key(NOW)
        self.method = f"{ISSUER}#{self.key.public_multibase}"
        self.documents = {did_document_url(ISSUER): did_document(ISSUER, [self.key.public_multibase])}
        self.set_status(revoked)

    def set_status(self, revoked: tuple[int, ...]) -> None:
        from credentials.badge import status_list_credential

        unsigned = status_list_credential(
            url=STATUS_URL,
            issuer_did=ISSUER,
            encoded_list=encode_list(revoked),
            valid_from=NOW - timedelta(days=1),
            ttl_seconds=60,
        )
        self.documents[STATUS_URL] = self.sign(unsigned)

    def sign(self, document: dict) -> dict:
        return proof.sign(document, key=self.key, verification_method=self.method, created=NOW - timedelta(days=1))

    async def fetch_json(self, url: str) -> object:
        if url not in self.documents:
            raise ConnectionError(f"unreachable: {url}")
        return copy.deepcopy(self.documents[url])

    def verify(self, credential: dict, now: datetime = NOW):
        return asyncio.run(verify_credential(credential, fetch_json=self.fetch_json, now=now))


def failed(report) -> dict[str, str]:
    return {check.name: check.detail for check in report.checks if not check.ok}


def test_a_signed_credential_verifies_with_every_check():
    world = World()
    credential = world.sign(open_badge(facts(), salt="00ff"))

    report = world.verify(credential)

    assert report.verified is True
    assert [(c.name, c.ok) for c in report.checks] == [
        ("format", True),
        ("proof", True),
        ("dates", True),
        ("status", True),
    ]
    assert report.revoked is False and report.expired is False
    assert credential["proof"]["cryptosuite"] == "eddsa-rdfc-2022"
    assert credential["proof"]["proofValue"].startswith("z")


def test_the_credential_states_the_facts_and_never_the_address_in_clear():
    credential = open_badge(facts(), salt="a1b2")

    assert credential["@context"] == [
        "https://www.w3.org/ns/credentials/v2",
        "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json",
    ]
    assert credential["type"] == ["VerifiableCredential", "OpenBadgeCredential"]
    assert credential["validFrom"] == "2026-11-20T12:00:00Z"
    assert credential["validUntil"] == "2028-11-02T09:30:00Z"
    assert credential["issuer"] == {
        "id": "did:web:certify.example:orgs:7",
        "type": ["Profile"],
        "name": "Acme Languages",
        "url": "https://certify.example",
    }
    subject = credential["credentialSubject"]
    assert subject["type"] == ["AchievementSubject"]
    assert subject["identifier"] == [
        {
            "type": "IdentityObject",
            "identityHash": identity_hash("zoe@example.com", "a1b2"),
            "identityType": "emailAddress",
            "hashed": True,
            "salt": "a1b2",
        },
        {"type": "IdentityObject", "identityHash": "Zoë Nguyễn", "identityType": "name", "hashed": False},
    ]
    assert identity_hash("zoe@example.com", "a1b2") == (
        "sha256$" + __import__("hashlib").sha256(b"zoe@example.coma1b2").hexdigest()
    )
    assert "zoe@example.com" not in json.dumps(credential)
    assert subject["achievement"]["name"] == "English B2 Academic"
    assert subject["result"] == [
        {"type": ["Result"], "resultDescription": "https://certify.example/achievements/3#score", "value": "77"},
        {"type": ["Result"], "resultDescription": "https://certify.example/achievements/3#level", "value": "B2"},
    ]
    assert credential["credentialStatus"] == {
        "id": f"{STATUS_URL}#4242",
        "type": "BitstringStatusListEntry",
        "statusPurpose": "revocation",
        "statusListIndex": "4242",
        "statusListCredential": STATUS_URL,
    }


def test_no_expiry_and_no_level_leave_them_out():
    credential = open_badge(facts(expires_at=None, level=None, levels=(), score_max=None))

    assert "validUntil" not in credential
    subject = credential["credentialSubject"]
    assert [r["value"] for r in subject["result"]] == ["77"]
    assert subject["achievement"]["resultDescription"] == [
        {
            "id": "https://certify.example/achievements/3#score",
            "type": ["ResultDescription"],
            "name": "Score",
            "resultType": "RawScore",
            "valueMin": "0",
        }
    ]


TAMPERS = {
    "name": lambda c: c["credentialSubject"]["identifier"][1].__setitem__("identityHash", "Zoe Nguyen"),
    "score": lambda c: c["credentialSubject"]["result"][0].__setitem__("value", "97"),
    "validFrom": lambda c: c.__setitem__("validFrom", "2026-11-19T12:00:00Z"),
    "validUntil": lambda c: c.__setitem__("validUntil", "2099-11-02T09:30:00Z"),
    "issuer name": lambda c: c["issuer"].__setitem__("name", "Acme Language Institute"),
    "status index": lambda c: c["credentialStatus"].__setitem__("statusListIndex", "4243"),
    "proof created": lambda c: c["proof"].__setitem__("created", "2026-11-19T12:00:00Z"),
}


@pytest.mark.parametrize("field", TAMPERS)
def test_any_changed_field_fails_the_proof(field):
    world = World()
    credential = world.sign(open_badge(facts()))
    TAMPERS[field](credential)

    report = world.verify(credential)

    assert report.verified is False
    assert failed(report)["proof"] == (
        "the signature does not match the credential: it was changed or signed with another key"
    )


def test_an_issuer_changed_to_another_did_finds_no_key():
    world = World()
    credential = world.sign(open_badge(facts()))
    credential["issuer"]["id"] = "did:web:evil.example:orgs:7"

    report = world.verify(credential)

    assert failed(report)["proof"] == (
        f"the proof's key {world.method} is not a key of the issuer did:web:evil.example:orgs:7"
    )


def test_a_key_the_issuer_does_not_list_fails():
    world = World()
    other = new_key(NOW)
    credential = proof.sign(
        open_badge(facts()), key=other, verification_method=f"{ISSUER}#{other.public_multibase}", created=NOW
    )

    report = world.verify(credential)

    assert failed(report)["proof"] == (
        f"the issuer's DID document does not list the key {ISSUER}#{other.public_multibase} for assertions"
    )


def test_a_wrong_key_under_a_listed_name_fails_the_signature():
    world = World()
    other = new_key(NOW)
    credential = proof.sign(open_badge(facts()), key=other, verification_method=world.method, created=NOW)

    assert failed(world.verify(credential))["proof"].startswith("the signature does not match")


def test_a_context_that_is_not_bundled_is_refused_without_the_network():
    world = World()
    credential = open_badge(facts())
    credential["@context"].append("https://example.org/contexts/extra.jsonld")

    with pytest.raises(proof.ProofError) as refused:
        world.sign(credential)
    assert (
        str(refused.value)
        == "the context https://example.org/contexts/extra.jsonld is not bundled here, so it is refused"
    )

    signed = world.sign(open_badge(facts()))
    signed["@context"].append("https://example.org/contexts/extra.jsonld")
    assert failed(world.verify(signed))["proof"] == (
        "the context https://example.org/contexts/extra.jsonld is not bundled here, so it is refused"
    )


def test_an_undefined_term_would_go_unsigned_so_it_fails():
    world = World()
    signed = world.sign(open_badge(facts()))
    signed["grade"] = "A+"

    assert failed(world.verify(signed))["proof"] == "the term 'grade' is not defined by the credential's contexts"


def test_revoked_expired_and_unreachable_status_fail_closed():
    world = World(revoked=(4242,))
    credential = world.sign(open_badge(facts()))

    revoked = world.verify(credential)
    assert revoked.revoked is True and revoked.verified is False
    assert failed(revoked) == {"status": "revoked"}

    expired = world.verify(credential, now=datetime(2029, 1, 1, tzinfo=UTC))
    assert expired.expired is True
    assert failed(expired)["dates"] == "expired: valid from 2026-11-20T12:00:00Z until 2028-11-02T09:30:00Z"

    del world.documents[STATUS_URL]
    unreachable = world.verify(credential)
    assert unreachable.revoked is None
    assert failed(unreachable) == {
        "status": f"the status list could not be fetched from {STATUS_URL}: unreachable: {STATUS_URL}"
    }


def test_a_status_list_signed_by_someone_else_is_refused():
    world = World()
    credential = world.sign(open_badge(facts()))
    forged = World()
    forged.set_status(())
    world.documents[STATUS_URL] = forged.documents[STATUS_URL]

    assert failed(world.verify(credential))["status"] == (
        f"the issuer's DID document does not list the key {forged.method} for assertions"
    )


def test_status_list_bits_are_gzip_then_multibase_base64url_with_the_spec_minimum_length():
    encoded = encode_list([0, 9, LIST_LENGTH - 1])

    assert encoded.startswith("u")
    raw = gzip.decompress(base64.urlsafe_b64decode(encoded[1:] + "=" * (-len(encoded[1:]) % 4)))
    assert len(raw) * 8 == LIST_LENGTH == 131_072
    assert raw[0] == 0b1000_0000 and raw[1] == 0b0100_0000 and raw[-1] == 0b0000_0001
    bits = decode_list(encoded)
    assert [bit_is_set(bits, i) for i in (0, 1, 9, 10, LIST_LENGTH - 1)] == [True, False, True, False, True]
    with pytest.raises(StatusListError):
        decode_list("u" + base64.urlsafe_b64encode(gzip.compress(bytes(100))).decode().rstrip("="))
    with pytest.raises(ValueError):
        encode_list([LIST_LENGTH])


def test_the_javascript_signed_fixture_verifies_here():
    credential = json.loads((FIXTURES / "js-signed-credential.json").read_text())
    documents = {
        "https://issuer.example/orgs/demo/did.json": json.loads((FIXTURES / "js-did-document.json").read_text()),
        "https://issuer.example/credentials/status/1": json.loads((FIXTURES / "js-status-list.json").read_text()),
    }

    async def fetch_json(url: str) -> object:
        return copy.deepcopy(documents[url])

    report = asyncio.run(verify_credential(credential, fetch_json=fetch_json, now=NOW))
    assert report.verified is True, report.checks

    credential["name"] = "English C2"
    tampered = asyncio.run(verify_credential(credential, fetch_json=fetch_json, now=NOW))
    assert failed(tampered)["proof"].startswith("the signature does not match")


def test_baking_carries_the_exact_json_and_keeps_the_picture():
    out = io.BytesIO()
    Image.new("RGB", (40, 30), (10, 80, 160)).save(out, format="PNG")
    credential = json.dumps({"id": "x", "name": "Zoë 王"}, ensure_ascii=False)

    baked = bake(out.getvalue(), credential)

    assert baked_text(baked) == credential
    assert unbake(baked) == {"id": "x", "name": "Zoë 王"}
    assert baked_text(bake(baked, '{"id": "y"}')) == '{"id": "y"}'
    with Image.open(io.BytesIO(baked)) as image:
        assert image.size == (40, 30) and image.getpixel((5, 5)) == (10, 80, 160)
    with pytest.raises(BakingError):
        unbake(out.getvalue())
    with pytest.raises(BakingError):
        bake(b"not a png", credential)


def test_the_key_ring_is_made_once_rotated_and_read_back(tmp_path):
    path = tmp_path / "keys" / "issuer-keys.json"

    ring, created = load_or_create_key_ring(path)
    again, created_again = load_or_create_key_ring(path)
    rotated = rotate(path)

    assert created is True and created_again is False
    assert again.current.public_multibase == ring.current.public_multibase
    assert len(rotated.keys) == 2 and rotated.keys[0].public_multibase == ring.current.public_multibase
    assert read_key_ring(path).current.public_multibase == rotated.current.public_multibase
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert ring.current.public_multibase.startswith("z6Mk")
    public = public_key_from_multibase(ring.current.public_multibase)
    public.verify(ring.current.sign(b"hello"), b"hello")
    assert isinstance(KeyRing((new_key(),)).current.public_multibase, str)


def test_did_web_paths_follow_the_method():
    assert did_web("http://127.0.0.1:8123", "orgs", "3") == "did:web:127.0.0.1%3A8123:orgs:3"
    assert did_document_url("did:web:127.0.0.1%3A8123:orgs:3#z6Mk") == "http://127.0.0.1:8123/orgs/3/did.json"
    assert did_document_url("did:web:certify.example:orgs:3") == "https://certify.example/orgs/3/did.json"
    assert did_document_url("did:web:certify.example") == "https://certify.example/.well-known/did.json"
    assert did_web("https://certify.example/base/") == "did:web:certify.example:base"


EXAMPLES = sorted((FIXTURES / "ob3-examples").glob("*.json"))


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda path: path.stem)
def test_1edtech_examples_canonicalise_with_the_bundled_contexts_only(example):
    credential = json.loads(example.read_text())

    nquads = proof.canonical_nquads({k: v for k, v in credential.items() if k != "proof"})

    assert "<https://purl.imsglobal.org/spec/vc/ob/vocab.html#OpenBadgeCredential>" in nquads
    assert nquads.endswith(" .\n")


def test_1edtechs_signed_test_vector_verifies_with_its_key():
    credential = json.loads((FIXTURES / "ob3-examples" / "signed-eddsa-rdfc-2022.json").read_text())
    key = public_key_from_multibase(credential["proof"]["verificationMethod"].split("#", 1)[1])

    proof.verify(credential, key)

    credential["name"] = credential["name"] + "!"
    with pytest.raises(proof.ProofError):
        proof.verify(credential, key)


def test_a_credential_valid_only_later_fails_beyond_five_minutes_of_clock_skew():
    world = World()
    credential = world.sign(open_badge(facts(issued_at=NOW + timedelta(minutes=4))))
    later = world.sign(open_badge(facts(issued_at=NOW + timedelta(minutes=6))))

    assert world.verify(credential).verified is True
    assert failed(world.verify(later)) == {"dates": "the credential is not valid before 2026-12-03T10:06:00Z"}


def test_a_date_moved_under_its_full_iri_is_refused_though_what_is_signed_is_the_same():
    world = World()
    credential = world.sign(open_badge(facts()))
    until = credential.pop("validUntil")
    credential["https://www.w3.org/2018/credentials#validUntil"] = {
        "@value": until,
        "@type": "http://www.w3.org/2001/XMLSchema#dateTime",
    }

    report = world.verify(credential)

    assert report.verified is False
    assert failed(report) == {
        "format": "the key 'https://www.w3.org/2018/credentials#validUntil' is not a term of the credential's contexts"
    }


def test_an_inline_context_or_a_keyword_key_is_refused():
    world = World()
    inline = world.sign(open_badge(facts()))
    inline["@context"].append({"until": "https://www.w3.org/2018/credentials#validUntil"})
    keyword = world.sign(open_badge(facts()))
    keyword["credentialSubject"]["@id"] = "urn:x"

    assert failed(world.verify(inline)) == {"format": "every @context must be the URL of a bundled context"}
    assert failed(world.verify(keyword)) == {"format": "the key '@id' is not a term of the credential's contexts"}


def poison(nodes: int) -> dict:
    """A credential whose achievements all point at each other: RDFC-1.0's factorial case."""
    credential = open_badge(facts())
    credential["credentialSubject"]["achievement"] = [
        {
            "id": f"_:a{i}",
            "type": ["Achievement"],
            "name": "x",
            "alignment": [{"id": f"_:a{j}"} for j in range(nodes) if j != i],
        }
        for i in range(nodes)
    ]
    return credential


@pytest.mark.parametrize("nodes", [6, 9, 30])
def test_a_poison_graph_is_refused_within_bounded_work(nodes):
    started = time.perf_counter()
    with pytest.raises(proof.ProofError) as refused:
        proof.canonical_nquads(poison(nodes))

    assert str(refused.value) == "the document's blank nodes are too entangled to canonicalise (a poison graph)"
    assert time.perf_counter() - started < 5  # unbounded, 9 nodes take about 25 minutes


def test_an_absurd_status_index_fails_its_check_cleanly():
    world = World()
    credential = world.sign(open_badge(facts()))
    credential["credentialStatus"]["statusListIndex"] = "9" * 5000

    report = world.verify(credential)

    assert failed(report)["status"] == "the status entry has no statusListCredential URL or numeric statusListIndex"


def test_a_credential_file_is_read_without_decoding_pixels_or_recursing_without_end():
    out = io.BytesIO()
    Image.new("RGB", (4, 4)).save(out, format="PNG")
    baked = bytearray(bake(out.getvalue(), '{"id": "x"}'))
    # the header claims 13,000 × 13,000 pixels: decoding would take half a gigabyte
    baked[16:24] = (13_000).to_bytes(4, "big") * 2
    baked[29:33] = zlib.crc32(bytes(baked[12:29])).to_bytes(4, "big")

    assert read_credential(bytes(baked)) == {"id": "x"}
    with pytest.raises(BakingError) as nested:
        read_credential(b"[" * 100_000 + b"]" * 100_000)
    assert str(nested.value) == "The file's JSON is nested too deeply to be a credential."
    with pytest.raises(BakingError) as signature_only:
        read_credential(b"\x89PNG\r\n\x1a\n")
    assert str(signature_only.value) == "The PNG carries no credential: the file cannot be read as a PNG."


def test_credentials_are_signed_correctly_from_many_threads_at_once():
    # pyld's context caches are shared and not thread-safe: without the lock about 1 in 1,000 such runs
    # raised KeyError, which failed a render
    world = World()
    credentials = [open_badge(facts(status_list_index=n)) for n in range(1_000)]

    with ThreadPoolExecutor(8) as pool:
        signed = list(pool.map(world.sign, credentials))

    assert [c["credentialStatus"]["statusListIndex"] for c in signed] == [str(n) for n in range(1_000)]
    assert world.verify(signed[-1]).verified is True
