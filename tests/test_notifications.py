"""A test taker's notifications: listing, unread filter, marking read (own ids only)."""

from __future__ import annotations

from builders import build_world
from support import admin_of

from gql.ids import decode_id, to_global_id
from models import Notification
from models.enums import Role

CERTIFY_ALL = """
mutation { certifySittings(input: {selection: {all: true}, idempotencyKey: "notify"}) { certifiedCount errors { code } } }
"""
TAKERS = "{ sittings(orderBy: {field: TAKEN_AT, direction: ASC}) { edges { node { testTaker { id } } } } }"
NOTIFICATIONS = """
query($unreadOnly: Boolean, $first: Int, $after: String) {
  notifications(unreadOnly: $unreadOnly, first: $first, after: $after) {
    totalCount edges { node { id kind readAt } } pageInfo { hasNextPage endCursor }
  }
}
"""
MARK_NOTIFICATIONS_READ = """
mutation($ids: [ID!]!) { markNotificationsRead(input: {ids: $ids}) { updatedCount errors { code message field } } }
"""


async def two_test_takers(server):
    """Two certified sittings of two test takers; a client for each."""
    world = await build_world(server.platform(), sittings=2, credits=5)
    admin = admin_of(server, world)
    assert (await admin.data(CERTIFY_ALL))["certifySittings"]["certifiedCount"] == 2
    takers = [edge["node"]["testTaker"]["id"] for edge in (await admin.data(TAKERS))["sittings"]["edges"]]
    return [server.client(server.token(Role.TEST_TAKER, test_taker=decode_id(t, "TestTaker"))) for t in takers]


async def inbox(client, **variables) -> dict:
    return (await client.data(NOTIFICATIONS, variables))["notifications"]


async def test_marking_own_notifications_read(server):
    # given a test taker with one unread notification
    alice, _ = await two_test_takers(server)
    notification = (await inbox(alice))["edges"][0]["node"]

    # when they mark it read, twice
    first = (await alice.data(MARK_NOTIFICATIONS_READ, {"ids": [notification["id"]]}))["markNotificationsRead"]
    second = (await alice.data(MARK_NOTIFICATIONS_READ, {"ids": [notification["id"]]}))["markNotificationsRead"]

    # then the first marks one, the second none, and the unread list is empty
    assert notification["readAt"] is None
    assert first == {"updatedCount": 1, "errors": []}
    assert second == {"updatedCount": 0, "errors": []}
    assert (await inbox(alice, unreadOnly=True))["totalCount"] == 0
    read = (await inbox(alice))["edges"][0]["node"]
    assert read["readAt"].endswith("+00:00")


async def test_another_test_takers_notification_is_not_found(server):
    # given two test takers with a notification each
    alice, bob = await two_test_takers(server)
    own = (await inbox(alice))["edges"][0]["node"]["id"]
    theirs = (await inbox(bob))["edges"][0]["node"]["id"]

    # when Alice marks her own and Bob's, or a malformed id, or an unknown one
    results = [
        (await alice.data(MARK_NOTIFICATIONS_READ, {"ids": ids}))["markNotificationsRead"]
        for ids in ([own, theirs], ["garbage"], [to_global_id("Notification", 999)], [to_global_id("Sitting", 1)])
    ]

    # then each is NOT_FOUND naming the index, and nothing was marked
    assert [(r["updatedCount"], [(e["code"], e["field"]) for e in r["errors"]]) for r in results] == [
        (0, [("NOT_FOUND", ["input", "ids", "1"])]),
        (0, [("NOT_FOUND", ["input", "ids", "0"])]),
        (0, [("NOT_FOUND", ["input", "ids", "0"])]),
        (0, [("NOT_FOUND", ["input", "ids", "0"])]),
    ]
    assert await Notification.filter(read_at__isnull=False).count() == 0


async def test_marking_no_notification_is_invalid(sqlite_server):
    # given a test taker
    alice, _ = await two_test_takers(sqlite_server)

    # when they mark an empty list
    result = (await alice.data(MARK_NOTIFICATIONS_READ, {"ids": []}))["markNotificationsRead"]

    # then it is INVALID_INPUT
    assert [(e["code"], e["field"]) for e in result["errors"]] == [("INVALID_INPUT", ["input", "ids"])]


async def test_a_test_taker_sees_only_their_own_notifications(sqlite_server):
    # given two test takers with a notification each
    alice, bob = await two_test_takers(sqlite_server)

    # when each lists theirs
    alice_inbox = await inbox(alice)
    bob_inbox = await inbox(bob)

    # then each sees exactly one, and not the same one
    assert alice_inbox["totalCount"] == bob_inbox["totalCount"] == 1
    assert alice_inbox["edges"][0]["node"]["id"] != bob_inbox["edges"][0]["node"]["id"]


async def test_notification_page_size_is_checked(sqlite_server):
    # given a test taker
    alice, _ = await two_test_takers(sqlite_server)

    # when they ask for 0 or 501 notifications, or page after a malformed cursor
    bodies = [
        await alice.post(NOTIFICATIONS, {"first": 0}),
        await alice.post(NOTIFICATIONS, {"first": 501}),
        await alice.post(NOTIFICATIONS, {"after": "nonsense"}),
    ]

    # then each is BAD_USER_INPUT
    assert [[e["extensions"]["code"] for e in body["errors"]] for body in bodies] == [["BAD_USER_INPUT"]] * 3
