"""Per-request loaders: created on first use, and a set counts as used once it has cached a row."""

from __future__ import annotations

from gql.loaders import Loaders


async def test_loaders_are_created_on_first_use():
    # given a fresh set
    loaders = Loaders()
    assert vars(loaders) == {} and not loaders.used

    # when one loader is asked for twice, then primed with a row
    loader = loaders.sitting_by_id
    same = loaders.sitting_by_id
    unused_after_asking = loaders.used
    loader.prime(1, None)

    # then only that loader exists, it is the same object both times, and the set is used only once it holds a row
    assert same is loader and list(vars(loaders)) == ["sitting_by_id"]
    assert not unused_after_asking
    assert loaders.used
