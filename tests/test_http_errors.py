"""Every HTTP-level refusal is JSON in the GraphQL error shape, with a code (server/errors.py)."""

from __future__ import annotations

from models.enums import Role


def refusal(message: str, code: str) -> dict:
    return {"errors": [{"message": message, "extensions": {"code": code}}]}


async def test_refusals_before_graphql_are_graphql_errors(sqlite_server):
    http = sqlite_server.http

    # when a path that does not exist, a method a route does not take, a bad file link and a
    # GraphQL body over the 1 MB limit for JSON are sent
    unknown = await http.get("/no-such-page")
    method = await http.delete("/graphql")
    link = await http.get("/files/not-a-token")
    big = await http.post("/graphql", content=b"{" + b" " * (2 * 1024 * 1024) + b"}",
                          headers={"Content-Type": "application/json"})  # fmt: skip

    # then each is JSON with its status, its message and a code
    answers = {
        name: (response.status_code, response.headers["content-type"], response.json())
        for name, response in {"unknown": unknown, "method": method, "link": link, "big": big}.items()
    }
    assert answers == {
        "unknown": (404, "application/json", refusal("Not Found", "NOT_FOUND")),
        "method": (405, "application/json", refusal("Method Not Allowed", "METHOD_NOT_ALLOWED")),
        "link": (403, "application/json", refusal("This link is invalid or has expired.", "FORBIDDEN")),
        "big": (
            413,
            "application/json",
            refusal("the request body is more than 2 MB; at most 1 MB is allowed", "PAYLOAD_TOO_LARGE"),
        ),
    }


async def test_a_subscription_sent_over_http_is_told_to_use_a_websocket(sqlite_server):
    # when a subscription is POSTed, or sent with GET
    token = sqlite_server.token(Role.PLATFORM_ADMIN)
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    query = "subscription { notificationReceived { id } }"
    posted = await sqlite_server.http.post("/graphql", json={"query": query}, headers=headers)
    got = await sqlite_server.http.get("/graphql", params={"query": query}, headers=headers)

    # then each is one error with a code saying where subscriptions run, not an internal error
    message = "subscriptions run over a websocket: connect to /graphql with graphql-transport-ws"
    for response in (posted, got):
        body = response.json()
        assert (response.status_code, body["data"], body["errors"][0]["message"]) == (200, None, message)
        assert [e["extensions"]["code"] for e in body["errors"]] == ["BAD_REQUEST"]
