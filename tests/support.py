"""Helpers shared by the core tests: role clients, database snapshots and SQL statement counting.

Snapshots read the database with the ORM the live server registered (its
context is the process-wide fallback), so a test can prove that a refused
call changed nothing.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from dataclasses import dataclass

from tortoise.expressions import Subquery
from tortoise.functions import Sum

from gql.ids import decode_id, to_global_id
from models import Certificate, CreditTransaction, IdempotencyRecord, Notification, Organisation, OutboxEmail, Sitting
from models.enums import Role

SITTING_IDS = """
query($after: String) {
  sittings(first: 500, after: $after, orderBy: {field: TAKEN_AT, direction: ASC}) {
    edges { node { id status } } pageInfo { hasNextPage endCursor }
  }
}
"""


def admin_of(server, world, *, subject: str = "admin"):
    """A client holding an org_admin token for ``world``'s organisation."""
    return server.client(server.token(Role.ORG_ADMIN, org=world.organisation_pk, subject=subject))


def analyst_of(server, world):
    return server.client(server.token(Role.ANALYST, org=world.organisation_pk, subject="analyst"))


def sitting_gid(pk: int) -> str:
    return to_global_id("Sitting", pk)


def sitting_pk(gid: str) -> int:
    return decode_id(gid, "Sitting")


async def sitting_nodes(client) -> list[dict]:
    """Every sitting the client sees, oldest first, as ``{id, status}``."""
    nodes, after = [], None
    while True:
        page = (await client.data(SITTING_IDS, {"after": after}))["sittings"]
        nodes.extend(edge["node"] for edge in page["edges"])
        if not page["pageInfo"]["hasNextPage"]:
            return nodes
        after = page["pageInfo"]["endCursor"]


async def statuses(organisation_pk: int) -> dict[int, str]:
    """Sitting pk → status value, read from the database."""
    rows = await Sitting.filter(organisation_id=organisation_pk).values_list("id", "status")
    return {pk: str(status) for pk, status in rows}


async def ledger_sum(organisation_pk: int) -> int:
    row = (
        await CreditTransaction.filter(organisation_id=organisation_pk)
        .annotate(total=Sum("delta"))
        .first()
        .values("total")
    )
    return int(row["total"] or 0) if row else 0


async def balance(organisation_pk: int) -> int:
    return (await Organisation.get(id=organisation_pk)).credit_balance


@dataclass(frozen=True)
class Snapshot:
    """Everything a certification or selection may change for one organisation."""

    statuses: dict[int, str]
    balance: int
    ledger: list[tuple[str, int]]
    certificates: int
    notifications: int
    outbox: int
    idempotency_keys: int


async def snapshot(organisation_pk: int) -> Snapshot:
    sittings = Subquery(Sitting.filter(organisation_id=organisation_pk).values("id"))
    certificates = Certificate.filter(sitting_id__in=sittings)
    certificate_ids = Subquery(Certificate.filter(sitting_id__in=sittings).values("id"))
    ledger = await CreditTransaction.filter(organisation_id=organisation_pk).order_by("id").values_list("kind", "delta")
    return Snapshot(
        statuses=await statuses(organisation_pk),
        balance=await balance(organisation_pk),
        ledger=[(str(kind), delta) for kind, delta in ledger],
        certificates=await certificates.count(),
        notifications=await Notification.filter(certificate_id__in=certificate_ids).count(),
        outbox=await OutboxEmail.filter(certificate_id__in=certificate_ids).count(),
        idempotency_keys=await IdempotencyRecord.filter(organisation_id=organisation_pk).count(),
    )


class SqlStatements(logging.Handler):
    """Counts the SQL statements the server runs for requests made inside the ``with`` block.

    Tortoise logs every statement on ``tortoise.db_client`` at DEBUG. Only
    statements from tasks born inside the block count (the request and its
    DataLoader batches); long-lived background workers started earlier are
    left out.
    """

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.statements: list[str] = []
        self._before: set[asyncio.Task] = set()
        self._level = logging.NOTSET

    def __enter__(self) -> SqlStatements:
        self._before = set(asyncio.all_tasks())
        logger = logging.getLogger("tortoise.db_client")
        self._level = logger.level
        logger.setLevel(logging.DEBUG)
        logger.addHandler(self)
        return self

    def __exit__(self, *exc) -> None:
        logger = logging.getLogger("tortoise.db_client")
        logger.removeHandler(self)
        logger.setLevel(self._level)

    def emit(self, record: logging.LogRecord) -> None:
        if asyncio.current_task() in self._before:
            return
        if str(record.msg).startswith(("Created connection", "Closed connection")):
            return
        self.statements.append(str(record.args[0]) if record.args else str(record.msg))

    @property
    def count(self) -> int:
        return len(self.statements)


def slow_socket(port: int) -> socket.socket:
    """A client socket to 127.0.0.1:``port`` with a tiny receive buffer (a client on a congested network)."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    return sock


def shrink_server_send_buffer(server, client_port: int) -> None:
    """Make the server's kernel send buffer for one client tiny, so little data fills it."""
    for connection in server.server.server_state.connections:
        sock = connection.transport.get_extra_info("socket")
        if sock is not None and sock.getpeername()[1] == client_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
            return
    raise AssertionError("no server connection for the client")


async def subscribed(server, count: int, timeout: float = 5.0) -> None:
    """Wait until the server's hub holds ``count`` local subscribers (the subscriptions are live)."""
    async with asyncio.timeout(timeout):
        while server.state.hub.subscriber_count() != count:
            await asyncio.sleep(0.005)
