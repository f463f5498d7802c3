"""The data's invariants (resolvers/invariants.py, docs/RULES.md "Invariants") and ``certify check``.

A world is built through the public API (certify, claim, approve, render with
real Chromium); each invariant is then broken with direct SQL inside a
transaction that is rolled back afterwards, or on disk, and the exact
violations are asserted.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from builders import PURCHASE_CREDITS, RECORD_SITTINGS, sitting_row
from certificate_flow import approve, certified_candidates, claim_ok, rendering_server, wait_for_status
from harness import free_port
from support import admin_of, sitting_gid
from tortoise import connections
from tortoise.transactions import in_transaction

from adapters.storage import LocalFileStorage
from credentials.baking import bake
from models import Certificate, CreditTransaction, Sitting
from resolvers.invariants import Violation, check_invariants, find_violations

SELECT_IDS = "mutation($ids: [ID!]!) { selectSittings(input: {ids: $ids}) { changedCount errors { code } } }"
ROOT = Path(__file__).resolve().parents[1]
STATUS_ENTRY_INDEX = "uid_certificate_status__2f6c25"
"""The unique index on (status_list_id, status_list_index), migration 0007."""


@dataclass
class Facts:
    """The ids of the world the breakages aim at."""

    organisation: int
    sittings: list[int]  # the three certified sittings; the first is CERTIFIED with an ISSUED certificate
    certificates: list[int]
    batch: str
    ledger: list[int]  # purchase of 3, certification of 3, purchase of 2
    uncertified: list[int]  # SELECTED, UNSELECTED, INELIGIBLE
    storage: LocalFileStorage


async def certified_world(server) -> Facts:
    """Three sittings certified in one batch (one of them issued), a top-up, and three never certified."""
    world, candidates = await certified_candidates(server, 3)
    platform = server.platform()
    await platform.data(PURCHASE_CREDITS, {"org": world.organisation_id, "credits": 2, "ref": "top-up"})
    rows = [
        sitting_row(world.organisation_id, world.test_id, n, prefix="later", score=s)
        for n, s in enumerate([80, 80, 10])
    ]
    assert (await platform.data(RECORD_SITTINGS, {"rows": rows}))["recordSittings"]["errors"] == []
    uncertified = [
        pk for (pk,) in await Sitting.filter(external_id__startswith="later-").order_by("id").values_list("id")
    ]
    selected = await admin_of(server, world).data(SELECT_IDS, {"ids": [sitting_gid(uncertified[0])]})
    assert selected["selectSittings"] == {"changedCount": 1, "errors": []}
    await claim_ok(server, candidates[0])
    await approve(server, candidates[0])
    await wait_for_status(server, candidates[0], "ISSUED")
    sittings = [c.sitting_pk for c in candidates]
    return Facts(
        organisation=world.organisation_pk,
        sittings=sittings,
        certificates=[c.certificate_pk for c in candidates],
        batch=(await Sitting.get(id=sittings[0])).certification_batch,
        ledger=[
            pk
            for (pk,) in await CreditTransaction.filter(organisation_id=world.organisation_pk)
            .order_by("id")
            .values_list("id")
        ],
        uncertified=uncertified,
        storage=LocalFileStorage(server.settings.files_dir),
    )


class RolledBack(Exception):
    """Ends the breakage's transaction."""


async def violations_while(facts: Facts, *statements: str) -> list[Violation]:
    """The violations found while ``statements`` are applied, in a transaction rolled back afterwards."""
    found: list[Violation] = []
    try:
        async with in_transaction("default") as conn:
            for sql in statements:
                await conn.execute_query(sql)
            found = await find_violations(storage=facts.storage)
            raise RolledBack
    except RolledBack:
        pass
    return found


async def test_a_certified_world_is_sound_and_each_broken_invariant_is_reported(tmp_path, database_url):
    async with rendering_server(tmp_path, database_url) as server:
        # given certifications, a claim approved and rendered, a top-up and sittings never certified
        f = await certified_world(server)

        # then no invariant is broken, and everything was looked at
        report = await check_invariants(storage=f.storage)
        assert report.violations == []
        assert report.checked == {
            "organisations": 1,
            "ledger_rows": 3,
            "sittings": 6,
            "certificates": 3,
            "issued_certificates": 1,
            "credentials": 1,
        }
        org, (issued, second, third), batch = f.organisation, f.sittings, f.batch
        purchase, certification, top_up = f.ledger
        issued_certificate, second_certificate, _ = f.certificates

        # when the balance is off by one
        # then the ledger no longer sums to it
        assert await violations_while(f, f"UPDATE organisation SET credit_balance = 3 WHERE id = {org}") == [
            Violation("ledger-sum", f"Organisation {org}", "the balance is 3 but the ledger sums to 2"),
        ]

        # when the balance is negative
        assert await violations_while(f, f"UPDATE organisation SET credit_balance = -1 WHERE id = {org}") == [
            Violation("ledger-sum", f"Organisation {org}", "the balance is -1 but the ledger sums to 2"),
            Violation("balance-negative", f"Organisation {org}", "the balance is -1"),
        ]

        # when the certification's ledger row is deleted
        # then the sum, the later row's balance and the batch's debit are all wrong
        assert await violations_while(f, f"DELETE FROM credit_transaction WHERE id = {certification}") == [
            Violation("ledger-sum", f"Organisation {org}", "the balance is 2 but the ledger sums to 5"),
            Violation(
                "ledger-balance-after",
                f"CreditTransaction {top_up}",
                f"balance_after is 2 but the ledger of Organisation {org} sums to 5 up to it",
            ),
            Violation(
                "sitting-debit",
                f"Certification batch {batch}",
                f"Organisation {org} has 3 IN_PROGRESS or CERTIFIED sittings in it but the ledger debits 0 credits for it",
            ),
        ]

        # when a ledger row's balance_after is off, with the sum intact
        assert await violations_while(f, f"UPDATE credit_transaction SET balance_after = 4 WHERE id = {purchase}") == [
            Violation(
                "ledger-balance-after",
                f"CreditTransaction {purchase}",
                f"balance_after is 4 but the ledger of Organisation {org} sums to 3 up to it",
            ),
        ]

        # when a certified sitting loses its batch
        assert await violations_while(f, f"UPDATE sitting SET certification_batch = NULL WHERE id = {third}") == [
            Violation(
                "sitting-debit",
                f"Organisation {org}",
                "1 IN_PROGRESS or CERTIFIED sittings have no certification batch, so no ledger debit",
            ),
            Violation(
                "sitting-debit",
                f"Certification batch {batch}",
                f"Organisation {org} has 2 IN_PROGRESS or CERTIFIED sittings in it but the ledger debits 3 credits for it",
            ),
        ]

        # when an IN_PROGRESS sitting's certificate is deleted
        assert await violations_while(
            f,
            f"DELETE FROM notification WHERE certificate_id = {second_certificate}",
            f"DELETE FROM outbox_email WHERE certificate_id = {second_certificate}",
            f"DELETE FROM certificate WHERE id = {second_certificate}",
        ) == [
            Violation(
                "current-certificate",
                f"Sitting {second}",
                "it is IN_PROGRESS with 0 current certificates instead of one",
            ),
        ]

        # when a certified sitting is put back to UNSELECTED, keeping its certificate
        assert await violations_while(f, f"UPDATE sitting SET status = 'UNSELECTED' WHERE id = {second}") == [
            Violation(
                "sitting-debit",
                f"Certification batch {batch}",
                f"Organisation {org} has 2 IN_PROGRESS or CERTIFIED sittings in it but the ledger debits 3 credits for it",
            ),
            Violation(
                "current-certificate",
                f"Sitting {second}",
                "it is UNSELECTED with 1 current certificates instead of none",
            ),
        ]

        # when a never-certified (INELIGIBLE) sitting is given the certificate of another
        ineligible = f.uncertified[2]
        assert await violations_while(
            f, f"UPDATE certificate SET sitting_id = {ineligible} WHERE id = {second_certificate}"
        ) == [
            Violation(
                "current-certificate",
                f"Sitting {second}",
                "it is IN_PROGRESS with 0 current certificates instead of one",
            ),
            Violation(
                "current-certificate",
                f"Sitting {ineligible}",
                "it is INELIGIBLE with 1 current certificates instead of none",
            ),
        ]

        # when the issued certificate's recorded SHA-256 differs from its PDF's
        certificate = await Certificate.get(id=issued_certificate)
        assert await violations_while(
            f, f"UPDATE certificate SET pdf_sha256 = '{'0' * 64}' WHERE id = {issued_certificate}"
        ) == [
            Violation(
                "file-sha256",
                f"Certificate {issued_certificate}",
                f"the stored PDF's SHA-256 is {certificate.pdf_sha256}, not {'0' * 64}",
            ),
        ]

        # when the PDF is corrupted on disk
        pdf_path, png_path = f.storage.path(certificate.pdf_key), f.storage.path(certificate.png_key)
        original = pdf_path.read_bytes()
        pdf_path.write_bytes(original[:-1] + b"!")
        corrupted = await find_violations(storage=f.storage)
        pdf_path.write_bytes(original)
        assert corrupted == [
            Violation(
                "file-sha256",
                f"Certificate {issued_certificate}",
                f"the stored PDF's SHA-256 is {hashlib.sha256(original[:-1] + b'!').hexdigest()}, "
                f"not {certificate.pdf_sha256}",
            ),
        ]

        # when the PNG and the PDF are gone from the storage
        png_path.rename(png_path.with_suffix(".gone"))
        pdf_path.rename(pdf_path.with_suffix(".gone"))
        missing = await find_violations(storage=f.storage)
        png_path.with_suffix(".gone").rename(png_path)
        pdf_path.with_suffix(".gone").rename(pdf_path)
        assert missing == [
            Violation(
                "issued-files",
                f"Certificate {issued_certificate}",
                f"its PDF {certificate.pdf_key} is not in the storage",
            ),
            Violation(
                "issued-files",
                f"Certificate {issued_certificate}",
                f"its PNG {certificate.png_key} is not in the storage",
            ),
        ]

        # when an ISSUED certificate has no PNG key
        assert await violations_while(f, f"UPDATE certificate SET png_key = NULL WHERE id = {issued_certificate}") == [
            Violation("issued-files", f"Certificate {issued_certificate}", "it is ISSUED without a PNG key"),
        ]

        # when an ISSUED certificate has no credential
        assert await violations_while(
            f, f"UPDATE certificate SET credential_key = NULL WHERE id = {issued_certificate}"
        ) == [
            Violation(
                "credential-status-entry",
                f"Certificate {issued_certificate}",
                "it is ISSUED without a credential and its status entry",
            ),
        ]

        # when another certificate holds the issued one's status list entry (past the unique index)
        entry = (certificate.status_list_id, certificate.status_list_index)
        assert await violations_while(
            f,
            f'ALTER TABLE certificate DROP CONSTRAINT "{STATUS_ENTRY_INDEX}"'
            if database_url.startswith("postgres")
            else f'DROP INDEX "{STATUS_ENTRY_INDEX}"',
            f"UPDATE certificate SET status_list_id = {entry[0]}, status_list_index = {entry[1]} "
            f"WHERE id = {second_certificate}",
        ) == [
            Violation("credential-status-entry", f"Status list {entry[0]} entry {entry[1]}", "2 credentials share it")
        ]

        # when the row's entry differs from the one its signed credential names
        other_index = (entry[1] + 1) % 131_072
        assert await violations_while(
            f, f"UPDATE certificate SET status_list_index = {other_index} WHERE id = {issued_certificate}"
        ) == [
            Violation(
                "credential-status-entry",
                f"Certificate {issued_certificate}",
                f"its credential names entry {entry[1]} of {server.settings.public_url}/orgs/{org}/credentials/status/"
                f"{entry[0]}, not entry {other_index} of status list {entry[0]}",
            ),
        ]

        # when the PNG carries another credential than the stored one
        png = png_path.read_bytes()
        png_path.write_bytes(bake(png, '{"id": "forged"}'))
        forged = await find_violations(storage=f.storage)
        png_path.write_bytes(png)
        assert forged == [
            Violation(
                "credential-baked",
                f"Certificate {issued_certificate}",
                "its PNG carries another credential than the stored one",
            )
        ]

        # then, every breakage undone, the world is sound again
        assert await find_violations(storage=f.storage) == []
        assert issued == f.sittings[0]


def run_check(database_url: str, data_dir: Path) -> subprocess.CompletedProcess:
    """``certify check`` in a separate process, configured through the environment as an operator would."""
    env = {**os.environ, "CERTIFY_DATABASE_URL": database_url, "CERTIFY_DATA_DIR": str(data_dir)}
    command = [str(Path(sys.executable).parent / "certify"), "check"]
    return subprocess.run(command, check=False, env=env, capture_output=True, text=True, timeout=60, cwd=ROOT)


async def test_certify_check_prints_violations_and_exits_by_outcome(tmp_path, sqlite_url):
    from harness import live_server, make_settings

    async with live_server(make_settings(tmp_path, sqlite_url)) as server:
        # given a database file with three certified sittings
        world, candidates = await certified_candidates(server, 3)
        org = world.organisation_pk

        # when certify check runs on it
        clean = run_check(sqlite_url, server.settings.data_dir)

        # then it reports what it checked and exits 0
        summary = (
            "checked 1 organisations, 2 ledger rows, 3 sittings, 3 certificates, "
            "0 issued certificates, 0 credentials: {} violations\n"
        )
        assert (clean.returncode, clean.stdout, clean.stderr) == (0, summary.format(0), "")

        # when the balance and a certificate are broken
        conn = connections.get("default")
        await conn.execute_query(f"UPDATE organisation SET credit_balance = 7 WHERE id = {org}")
        await conn.execute_query(f"UPDATE sitting SET status = 'UNSELECTED' WHERE id = {candidates[2].sitting_pk}")
        broken = run_check(sqlite_url, server.settings.data_dir)
        batch = (await Sitting.get(id=candidates[0].sitting_pk)).certification_batch

    # then each violation is one line, the summary counts them, and it exits 1
    assert (broken.returncode, broken.stderr) == (1, "")
    assert broken.stdout.splitlines() == [
        f"ledger-sum Organisation {org}: the balance is 7 but the ledger sums to 0",
        (
            f"sitting-debit Certification batch {batch}: Organisation {org} has 2 IN_PROGRESS or CERTIFIED sittings "
            "in it but the ledger debits 3 credits for it"
        ),
        f"current-certificate Sitting {candidates[2].sitting_pk}: it is UNSELECTED with 1 current certificates instead of none",
        summary.format(3).rstrip("\n"),
    ]


async def test_certify_check_exits_2_when_the_database_cannot_be_reached(tmp_path):
    # given no database file, and a PostgreSQL address nobody listens on (both checked at once)
    port = free_port()
    missing, refused = await asyncio.gather(
        asyncio.to_thread(run_check, f"sqlite://{tmp_path / 'absent.sqlite3'}", tmp_path),
        asyncio.to_thread(run_check, f"postgres://certify:secret@127.0.0.1:{port}/certify", tmp_path),
    )

    # then each exits 2 with one clear line, no traceback, and the password hidden; no file was created
    assert (missing.returncode, missing.stdout, missing.stderr) == (
        2,
        "",
        f"certify check: no database at sqlite://{tmp_path / 'absent.sqlite3'} (set CERTIFY_DATABASE_URL or CERTIFY_DATA_DIR)\n",
    )
    assert not (tmp_path / "absent.sqlite3").exists()
    assert (refused.returncode, refused.stdout) == (2, "")
    assert refused.stderr == (
        f"certify check: cannot read the database at postgres://certify:***@127.0.0.1:{port}/certify: "
        f"ConnectionRefusedError: [Errno 111] Connect call failed ('127.0.0.1', {port})\n"
    )
