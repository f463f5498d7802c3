"""The app starts, answers health checks and serves GraphQL over real HTTP."""

from builders import build_world

from models.enums import Role

SITTINGS = "{ sittings(first: 2) { totalCount edges { node { id status } } pageInfo { hasNextPage } } }"


async def test_health_and_first_query(server):
    # given a world with five sittings
    response = await server.http.get("/healthz")
    assert response.status_code == 200
    world = await build_world(server.platform())
    admin = server.client(server.token(Role.ORG_ADMIN, org=world.organisation_pk))

    # when the admin lists two sittings
    data = await admin.data(SITTINGS)

    # then the page has two of five, and more to come
    assert data["sittings"]["totalCount"] == 5
    assert len(data["sittings"]["edges"]) == 2
    assert data["sittings"]["pageInfo"]["hasNextPage"] is True
