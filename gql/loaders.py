"""Per-request DataLoaders (one batched query per type and request)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from strawberry.dataloader import DataLoader

from models import Certificate, Organisation, Sitting, Test, TestTaker


def _by_id(model: type) -> Any:
    async def load(keys: Sequence[int]) -> list[Any]:
        rows = {row.id: row for row in await model.filter(id__in=list(set(keys)))}
        return [rows.get(key) for key in keys]

    return load


async def _certificate_by_sitting_id(keys: Sequence[int]) -> list[Certificate | None]:
    rows = {row.sitting_id: row for row in await Certificate.filter(sitting_id__in=list(set(keys)))}
    return [rows.get(key) for key in keys]


@dataclass
class Loaders:
    """Loaders named ``XByYLoader``; build one set per request (never share across requests)."""

    organisation_by_id: DataLoader[int, Organisation | None] = field(default_factory=lambda: DataLoader(_by_id(Organisation)))
    test_by_id: DataLoader[int, Test | None] = field(default_factory=lambda: DataLoader(_by_id(Test)))
    test_taker_by_id: DataLoader[int, TestTaker | None] = field(default_factory=lambda: DataLoader(_by_id(TestTaker)))
    sitting_by_id: DataLoader[int, Sitting | None] = field(default_factory=lambda: DataLoader(_by_id(Sitting)))
    certificate_by_id: DataLoader[int, Certificate | None] = field(default_factory=lambda: DataLoader(_by_id(Certificate)))
    certificate_by_sitting_id: DataLoader[int, Certificate | None] = field(
        default_factory=lambda: DataLoader(_certificate_by_sitting_id)
    )
