"""The services one server process shares between its requests, made by the lifespan (:mod:`server.app`)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from adapters.storage import FileStorage
from renderer import CertificateRenderer
from resolvers.credential_status import StatusListCache
from resolvers.credentials import CredentialIssuer
from server.auth import TokenService
from server.exports import SittingExports
from server.files import FileUrls
from server.multiplex import SharedStreams
from server.rate_limits import RateLimiter
from server.settings import Settings
from subscriptions.hub import Hub
from workers.outbox import OutboxDeliverer
from workers.rendering import RenderWorker


@dataclass
class AppState:
    """Services shared by every request of one process; provides :class:`gql.context.Services`.

    Everything but ``settings`` and ``tokens`` is set by the lifespan and
    cleared of meaning when it ends; ``ready`` drives ``GET /healthz``.
    """

    settings: Settings
    tokens: TokenService
    publisher: Any = None
    hub: Hub | None = None
    shared_streams: SharedStreams | None = None
    file_urls: FileUrls | None = None
    exports: SittingExports | None = None
    outbox: OutboxDeliverer | None = None
    storage: FileStorage | None = None
    renderer: CertificateRenderer | None = None
    render_worker: RenderWorker | None = None
    issuer: CredentialIssuer | None = None
    status_lists: StatusListCache | None = None
    rate_limiter: RateLimiter | None = None
    background: list[asyncio.Task] = field(default_factory=list)
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    ready: bool = False
