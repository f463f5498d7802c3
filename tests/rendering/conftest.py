"""A warm renderer per test; on teardown, proof that Chromium left no process behind.

This directory is ``tests/rendering``, not ``tests/renderer``: with ``tests/``
on ``sys.path`` (pytest's prepend import mode) and the project root not on
it, a ``tests/renderer`` directory would shadow the ``renderer`` package as a
namespace package for every test, including ``tests/conftest.py``'s imports.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from certificate_samples import new_renderer, started

from renderer import CertificateRenderer
from renderer.chromium import still_running


@pytest.fixture
async def renderer() -> AsyncIterator[CertificateRenderer]:
    """A started ``CertificateRenderer`` (concurrency 3, 20 s per render)."""
    warm = await started(new_renderer())
    try:
        yield warm
    finally:
        processes = warm.processes()
        await warm.close()
    assert processes, "the Chromium process tree was not found"
    assert not still_running(processes), "Chromium processes survived close()"
