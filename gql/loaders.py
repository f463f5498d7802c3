"""Per-request DataLoaders (one batched query per type and request, one per level for nested connections)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, TypeVar

from strawberry.dataloader import DataLoader

from models import Certificate, CreditTransaction, Organisation, Sitting, Test, TestTaker
from models.enums import CertificateStatus
from resolvers import credits, sittings
from resolvers.pagination import Page
from resolvers.principal import Principal

T = TypeVar("T")
R = TypeVar("R")


def loaded(loader: DataLoader[Any, T], key: Any, convert: Callable[[T], R]) -> R | Awaitable[R]:
    """``convert`` of ``key``'s value: at once if ``loader`` holds it already (a connection prefetched it),
    else an awaitable of it, ``key`` joining the loader's next batch.

    A resolver returning this stays synchronous for prefetched rows: graphql-core awaits only what is
    awaitable, so a 50-row page spares the event loop a task per related field (about 150 for a
    dashboard's page of sittings with test taker, test and certificate).
    """
    future = loader.cache_map.get(key)
    if future is not None and future.done() and not future.cancelled() and future.exception() is None:
        return convert(future.result())
    return _converted(loader.load(key), convert)


async def prefetch(loader: DataLoader[Any, Any], keys: set[Any]) -> None:
    """Load ``keys`` not yet in ``loader`` by one call of its batch function and keep the values in its cache.

    The same rows and statement as ``loader.load_many(keys)``, without a future and a gather per key
    (a 50-row page prefetches about 150 keys, :meth:`gql.types.sitting.SittingConnection.prefetched`).
    """
    missing = [key for key in keys if loader.cache_map.get(key) is None]
    if missing:
        loader.prime_many(dict(zip(missing, await loader.load_fn(missing), strict=True)))


async def _converted(value: Awaitable[T], convert: Callable[[T], R]) -> R:
    return convert(await value)


def _by_id(model: type) -> Any:
    async def load(keys: Sequence[int]) -> list[Any]:
        rows = {row.id: row for row in await model.filter(id__in=list(set(keys)))}
        return [rows.get(key) for key in keys]

    return load


async def _certificate_by_sitting_id(keys: Sequence[int]) -> list[Certificate | None]:
    current = Certificate.filter(sitting_id__in=list(set(keys))).exclude(status=CertificateStatus.LAPSED)
    rows = {row.sitting_id: row for row in await current}
    return [rows.get(key) for key in keys]


async def _certificates_by_sitting_id(keys: Sequence[int]) -> list[list[Certificate]]:
    """Every certificate of each sitting, newest first."""
    found: dict[int, list[Certificate]] = {key: [] for key in keys}
    for row in await Certificate.filter(sitting_id__in=list(set(keys))).order_by("-id"):
        found[row.sitting_id].append(row)
    return [found[key] for key in keys]


@dataclass(frozen=True, slots=True)
class PageKey:
    """One parent's page of a nested connection: who asks, of which parent, with which arguments.

    ``count``: whether the selection reads ``totalCount``. Keys that differ only in ``parent_id``
    load together.
    """

    principal: Principal
    parent_id: int
    first: int | None
    after: str | None
    count: bool = True

    @property
    def call(self) -> tuple[Principal, int | None, str | None, bool]:
        """What the keys loaded by one call share."""
        return self.principal, self.first, self.after, self.count


PagesOf = Callable[..., Awaitable[dict[int, Page]]]
"""A batch verb: ``(*, principal, <parents>, first, after, count)`` → parent id → page."""


def _pages(verb: PagesOf, parents: str) -> Callable[[Sequence[PageKey]], Awaitable[list[Page | Exception]]]:
    """A load function calling ``verb`` once per (principal, first, after, count), its ids as ``parents``.

    A verb's error (a bad ``first`` or cursor, a refusal) becomes the result of each key of its call.
    """

    async def load(keys: Sequence[PageKey]) -> list[Page | Exception]:
        calls: dict[tuple, set[int]] = {}
        for key in keys:
            calls.setdefault(key.call, set()).add(key.parent_id)
        results: dict[tuple, dict[int, Page] | Exception] = {}
        for call, ids in calls.items():
            principal, first, after, count = call
            try:
                results[call] = await verb(principal=principal, **{parents: ids}, first=first, after=after, count=count)
            except Exception as error:  # noqa: BLE001 - each key of the call receives it
                results[call] = error
        return [_result_of(results[key.call], key.parent_id) for key in keys]

    return load


def _result_of(pages: dict[int, Page] | Exception, parent_id: int) -> Page | Exception:
    return pages if isinstance(pages, Exception) else pages[parent_id]


class Loaders:
    """Loaders named ``XByYLoader``; build one set per request (never share across requests).

    Each loader is created on first use: a websocket keeps its set for as long as
    it is open, and most subscriptions never load anything (≈ 3.6 KiB per idle
    connection when all six were built up front).
    """

    @cached_property
    def organisation_by_id(self) -> DataLoader[int, Organisation | None]:
        return DataLoader(_by_id(Organisation))

    @cached_property
    def test_by_id(self) -> DataLoader[int, Test | None]:
        return DataLoader(_by_id(Test))

    @cached_property
    def test_taker_by_id(self) -> DataLoader[int, TestTaker | None]:
        return DataLoader(_by_id(TestTaker))

    @cached_property
    def sitting_by_id(self) -> DataLoader[int, Sitting | None]:
        return DataLoader(_by_id(Sitting))

    @cached_property
    def certificate_by_id(self) -> DataLoader[int, Certificate | None]:
        return DataLoader(_by_id(Certificate))

    @cached_property
    def certificate_by_sitting_id(self) -> DataLoader[int, Certificate | None]:
        return DataLoader(_certificate_by_sitting_id)

    @cached_property
    def certificates_by_sitting_id(self) -> DataLoader[int, list[Certificate]]:
        return DataLoader(_certificates_by_sitting_id)

    @cached_property
    def sitting_page_by_test_taker(self) -> DataLoader[PageKey, Page[Sitting]]:
        return DataLoader(_pages(sittings.pages_of_test_takers, "test_taker_ids"))

    @cached_property
    def credit_transaction_page_by_organisation(self) -> DataLoader[PageKey, Page[CreditTransaction]]:
        return DataLoader(_pages(credits.pages_of_organisations, "organisation_ids"))

    @property
    def used(self) -> bool:
        """Whether a loader of this set has cached a row (an unused set is as good as a fresh one).

        Looks only at the loaders already created, so asking creates none.
        """
        return any(getattr(loader.cache_map, "cache_map", True) for loader in vars(self).values())
