"""Fixtures of the fault tests: throw-away PostgreSQL clusters and Redis servers that a test may stop, freeze and start."""

from __future__ import annotations

from own_postgres import own_postgres  # noqa: F401 - fixture
from own_redis import own_redis  # noqa: F401 - fixture
