"""The invariants the data must always satisfy, each checked by one set-based statement (``certify check``).

Rules: docs/RULES.md, "Invariants". Every check reads the database through
the Tortoise connection already open and returns :class:`Violation` rows;
only the issued certificates' files are read one by one, because their
bytes must be hashed. The statements are the same on SQLite and
PostgreSQL and scan each table once (grouped joins, one window), so they
stay fast on a million sittings.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

from tortoise import connections

from adapters.storage import FileStorage, StoredFileMissing
from credentials.baking import BakingError, baked_text
from models.enums import CertificateStatus, CertificationStatus, CreditTransactionKind
from resolvers.sql import Statement

CERTIFIED_STATUSES = (CertificationStatus.IN_PROGRESS, CertificationStatus.CERTIFIED)
"""Sitting statuses that were charged a credit and carry a certificate."""
LAPSED = "LAPSED"
"""A certificate status that is no longer the sitting's current one; compared as text, so it counts once recorded."""


@dataclass(frozen=True, slots=True)
class Violation:
    """One broken invariant.

    ``rule`` is a short stable name (``ledger-sum``, ``balance-negative``,
    ``ledger-balance-after``, ``sitting-debit``, ``current-certificate``,
    ``issued-files``, ``file-sha256``, ``credential-status-entry``, ``credential-baked``);
    ``subject`` names what it is about (``"Organisation 3"``,
    ``"Sitting 17"``, ``"Certificate 9"``, ``"Certification batch <id>"``);
    ``detail`` is one human sentence.
    """

    rule: str
    subject: str
    detail: str

    def __str__(self) -> str:
        return f"{self.rule} {self.subject}: {self.detail}"


@dataclass(frozen=True, slots=True)
class InvariantReport:
    """The violations found and how many rows of each kind were checked (``{"organisations": 2, …}``)."""

    violations: list[Violation]
    checked: dict[str, int] = field(default_factory=dict)


async def find_violations(*, storage: FileStorage) -> list[Violation]:
    """Every violated invariant, in the order of docs/RULES.md, "Invariants"; an empty list when the data is sound.

    ``storage`` holds the certificate files (``LocalFileStorage(settings.files_dir)``).
    Raises the database driver's errors when the database cannot be read.
    """
    return (await check_invariants(storage=storage)).violations


async def check_invariants(*, storage: FileStorage) -> InvariantReport:
    """:func:`find_violations` together with the counts of what was checked (organisations, ledger rows,
    sittings, certificates, issued certificates' files, credentials)."""
    stmt = Statement(connections.get("default"))
    violations = [
        *await _ledger_sums(stmt.conn),
        *await _negative_balances(stmt.conn),
        *await _balances_after(stmt.conn),
        *await _sitting_debits(stmt.conn),
        *await _current_certificates(stmt.conn),
    ]
    file_violations, issued = await _issued_files(stmt.conn, storage)
    violations.extend(file_violations)
    credential_violations, credentials = await _credential_status_entries(stmt.conn)
    violations.extend(credential_violations)
    counts = (
        await stmt.fetch(
            "SELECT (SELECT COUNT(*) FROM organisation) AS organisations, "
            "(SELECT COUNT(*) FROM credit_transaction) AS ledger_rows, "
            "(SELECT COUNT(*) FROM sitting) AS sittings, (SELECT COUNT(*) FROM certificate) AS certificates"
        )
    )[0]
    checked = {name: int(value) for name, value in counts.items()}
    checked.update(issued_certificates=issued, credentials=credentials)
    return InvariantReport(violations, checked)


async def _ledger_sums(conn) -> list[Violation]:
    """``ledger-sum``: an organisation's balance equals the sum of its ledger's deltas."""
    rows = await Statement(conn).fetch(
        "SELECT o.id, o.credit_balance, COALESCE(l.total, 0) AS total FROM organisation o "
        "LEFT JOIN (SELECT organisation_id, SUM(delta) AS total FROM credit_transaction GROUP BY organisation_id) l "
        "ON l.organisation_id = o.id WHERE o.credit_balance <> COALESCE(l.total, 0) ORDER BY o.id"
    )
    return [
        Violation(
            "ledger-sum",
            f"Organisation {row['id']}",
            f"the balance is {row['credit_balance']} but the ledger sums to {int(row['total'])}",
        )
        for row in rows
    ]


async def _negative_balances(conn) -> list[Violation]:
    """``balance-negative``: no balance below zero."""
    rows = await Statement(conn).fetch(
        "SELECT id, credit_balance FROM organisation WHERE credit_balance < 0 ORDER BY id"
    )
    return [
        Violation("balance-negative", f"Organisation {row['id']}", f"the balance is {row['credit_balance']}")
        for row in rows
    ]


async def _balances_after(conn) -> list[Violation]:
    """``ledger-balance-after``: each ledger row's ``balance_after`` is the running sum of its organisation's
    deltas up to it, in the order written (id). Both writers (credits, certification) set it to the balance
    their UPDATE returned under the organisation's lock, so rows of one organisation never interleave."""
    rows = await Statement(conn).fetch(
        "SELECT id, organisation_id, balance_after, running FROM (SELECT id, organisation_id, balance_after, "
        "SUM(delta) OVER (PARTITION BY organisation_id ORDER BY id ROWS UNBOUNDED PRECEDING) AS running "
        "FROM credit_transaction) ledger WHERE balance_after <> running ORDER BY organisation_id, id"
    )
    return [
        Violation(
            "ledger-balance-after",
            f"CreditTransaction {row['id']}",
            f"balance_after is {row['balance_after']} but the ledger of Organisation {row['organisation_id']} "
            f"sums to {int(row['running'])} up to it",
        )
        for row in rows
    ]


async def _sitting_debits(conn) -> list[Violation]:
    """``sitting-debit``: every IN_PROGRESS or CERTIFIED sitting is charged exactly one credit, net.

    Certification writes one ledger row per call, its reference the batch id
    every sitting of the call carries (``sitting.certification_batch``); so a
    batch's net debit (minus the sum of the non-purchase rows naming it, which
    nets the refund of each lapsed claim, whose reference starts with the batch) must equal its count of
    IN_PROGRESS or CERTIFIED sittings, and a certified sitting without a batch
    was charged nothing.
    """
    stmt = Statement(conn)
    certified = ", ".join(stmt.param(status.value) for status in CERTIFIED_STATUSES)
    purchase = stmt.param(CreditTransactionKind.PURCHASE.value)
    # A refund's reference is "<batch>/lapse/<certificate id>" (resolvers/lifecycle.py, refund_reference).
    head = (
        "split_part(reference, '/', 1)" if stmt.postgres else "substr(reference, 1, instr(reference || '/', '/') - 1)"
    )
    batch = f"CASE WHEN kind = {stmt.param(CreditTransactionKind.REFUND.value)} THEN {head} ELSE reference END"
    rows = await stmt.fetch(
        "SELECT organisation_id, batch, SUM(sittings) AS sittings, SUM(debited) AS debited FROM ("
        "SELECT organisation_id, certification_batch AS batch, COUNT(*) AS sittings, 0 AS debited FROM sitting "
        f"WHERE status IN ({certified}) GROUP BY organisation_id, certification_batch "
        f"UNION ALL SELECT organisation_id, {batch} AS batch, 0 AS sittings, -SUM(delta) AS debited "
        f"FROM credit_transaction WHERE kind <> {purchase} GROUP BY organisation_id, {batch}) per_batch "
        "GROUP BY organisation_id, batch HAVING SUM(sittings) <> SUM(debited) "
        # NULL sorts first on SQLite and last on PostgreSQL: put sittings without a batch first on both.
        "ORDER BY organisation_id, CASE WHEN batch IS NULL THEN 0 ELSE 1 END, batch"
    )
    return [_debit_violation(row) for row in rows]


def _debit_violation(row: dict) -> Violation:
    organisation, sittings, debited = row["organisation_id"], int(row["sittings"]), int(row["debited"])
    if row["batch"] is None:
        return Violation(
            "sitting-debit",
            f"Organisation {organisation}",
            f"{sittings} IN_PROGRESS or CERTIFIED sittings have no certification batch, so no ledger debit",
        )
    return Violation(
        "sitting-debit",
        f"Certification batch {row['batch']}",
        f"Organisation {organisation} has {sittings} IN_PROGRESS or CERTIFIED sittings in it "
        f"but the ledger debits {debited} credits for it",
    )


async def _current_certificates(conn) -> list[Violation]:
    """``current-certificate``: an IN_PROGRESS or CERTIFIED sitting has exactly one current (not LAPSED)
    certificate; an UNSELECTED, SELECTED or INELIGIBLE sitting has none."""
    stmt = Statement(conn)
    certified = ", ".join(stmt.param(status.value) for status in CERTIFIED_STATUSES)
    rows = await stmt.fetch(
        "SELECT s.id, s.status, COALESCE(c.current, 0) AS current FROM sitting s LEFT JOIN ("
        f"SELECT sitting_id, COUNT(*) AS current FROM certificate WHERE status <> {stmt.param(LAPSED)} "
        "GROUP BY sitting_id) c ON c.sitting_id = s.id "
        f"WHERE (s.status IN ({certified}) AND COALESCE(c.current, 0) <> 1) "
        f"OR (s.status NOT IN ({certified}) AND c.current > 0) ORDER BY s.id"
    )
    return [
        Violation(
            "current-certificate",
            f"Sitting {row['id']}",
            f"it is {row['status']} with {int(row['current'])} current certificates"
            + (" instead of one" if row["status"] in CERTIFIED_STATUSES else " instead of none"),
        )
        for row in rows
    ]


async def _issued_files(conn, storage: FileStorage) -> tuple[list[Violation], int]:
    """``issued-files`` and ``file-sha256``: every ISSUED certificate's PDF and PNG are stored, and the PDF's
    SHA-256 is its ``pdf_sha256``, and its credential (see :func:`_credential_matches`); a REVOKED one keeps
    them too (the organisation still downloads them).
    Returns the violations and the number of certificates checked."""
    stmt = Statement(conn)
    issued, revoked = stmt.param(CertificateStatus.ISSUED.value), stmt.param(CertificateStatus.REVOKED.value)
    rows = await stmt.fetch(
        "SELECT id, status, pdf_key, png_key, pdf_sha256, credential_key, status_list_id, status_list_index "
        f"FROM certificate WHERE status IN ({issued}, {revoked}) ORDER BY id"
    )
    violations: list[Violation] = []
    for row in rows:
        subject = f"Certificate {row['id']}"
        pdf = await _stored(storage, row["pdf_key"], "PDF", subject, violations, row["status"])
        png = await _stored(storage, row["png_key"], "PNG", subject, violations, row["status"])
        if row["credential_key"] is not None:
            credential = await _stored(storage, row["credential_key"], "credential", subject, violations, row["status"])
            if credential is not None:
                violations.extend(_credential_matches(row, credential, png))
        if pdf is not None and hashlib.sha256(pdf).hexdigest() != row["pdf_sha256"]:
            violations.append(
                Violation(
                    "file-sha256",
                    subject,
                    f"the stored PDF's SHA-256 is {hashlib.sha256(pdf).hexdigest()}, not {row['pdf_sha256']}",
                )
            )
    return violations, len(rows)


async def _stored(
    storage: FileStorage, key: str | None, what: str, subject: str, violations: list, status: str
) -> bytes | None:
    """The bytes under ``key``, or None after appending an ``issued-files`` violation."""
    if key is None:
        violations.append(Violation("issued-files", subject, f"it is {status} without a {what} key"))
        return None
    try:
        return await storage.get(key)
    except StoredFileMissing:
        problem = f"its {what} {key} is not in the storage"
    except ValueError:
        problem = f"its {what} key {key!r} is not a storage key"
    violations.append(Violation("issued-files", subject, problem))
    return None


async def _credential_status_entries(conn) -> tuple[list[Violation], int]:
    """``credential-status-entry``: every issued (or since revoked) certificate has a credential with a status
    list entry, and no two share an entry (docs/RULES.md, "Credentials"). Returns the violations and the
    number of credentials."""
    stmt = Statement(conn)
    issued, revoked = stmt.param(CertificateStatus.ISSUED.value), stmt.param(CertificateStatus.REVOKED.value)
    missing = await stmt.fetch(
        f"SELECT id, status FROM certificate WHERE status IN ({issued}, {revoked}) AND (credential_key IS NULL "
        "OR status_list_id IS NULL OR status_list_index IS NULL) ORDER BY id"
    )
    shared = await Statement(conn).fetch(
        "SELECT status_list_id, status_list_index, COUNT(*) AS holders FROM certificate "
        "WHERE status_list_id IS NOT NULL AND status_list_index IS NOT NULL "
        "GROUP BY status_list_id, status_list_index HAVING COUNT(*) > 1 ORDER BY status_list_id, status_list_index"
    )
    total = await Statement(conn).fetch("SELECT COUNT(*) AS n FROM certificate WHERE credential_key IS NOT NULL")
    violations = [
        Violation(
            "credential-status-entry",
            f"Certificate {row['id']}",
            f"it is {row['status']} without a credential and its status entry",
        )
        for row in missing
    ] + [
        Violation(
            "credential-status-entry",
            f"Status list {row['status_list_id']} entry {row['status_list_index']}",
            f"{int(row['holders'])} credentials share it",
        )
        for row in shared
    ]
    return violations, int(total[0]["n"])


def _credential_matches(row: dict, credential: bytes, png: bytes | None) -> list[Violation]:
    """``credential-status-entry`` and ``credential-baked``: the stored credential names the row's status entry,
    and the PNG carries exactly that credential."""
    subject = f"Certificate {row['id']}"
    try:
        entry = json.loads(credential).get("credentialStatus") or {}
    except (ValueError, AttributeError):
        return [Violation("credential-status-entry", subject, "its stored credential is not a JSON object")]
    violations = []
    expected_url = f"/credentials/status/{row['status_list_id']}"
    if entry.get("statusListIndex") != str(row["status_list_index"]) or not str(
        entry.get("statusListCredential", "")
    ).endswith(expected_url):
        violations.append(
            Violation(
                "credential-status-entry",
                subject,
                f"its credential names entry {entry.get('statusListIndex')} of {entry.get('statusListCredential')}, "
                f"not entry {row['status_list_index']} of status list {row['status_list_id']}",
            )
        )
    if png is not None:
        try:
            baked = baked_text(png)
        except BakingError as error:
            baked = None
            violations.append(Violation("credential-baked", subject, f"its PNG carries no credential: {error}"))
        if baked is not None and baked.encode("utf-8") != credential:
            violations.append(
                Violation("credential-baked", subject, "its PNG carries another credential than the stored one")
            )
    return violations
