"""The per-request GraphQL context and the ``Info`` alias resolvers use."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from strawberry.types import Info as StrawberryInfo

from gql.loaders import Loaders
from resolvers.errors import Unauthenticated
from resolvers.principal import Principal


class Services(Protocol):
    """What the schema's resolvers use of the process's services (the server's ``AppState`` provides it).

    ``publisher`` publishes events after commit (:class:`subscriptions.events.Publisher`);
    ``hub`` opens event channels (:class:`subscriptions.hub.Hub`); ``file_urls``
    signs download URLs; ``exports`` signs CSV export URLs
    (``url_for(request) -> (url, expires_at)``); ``storage`` stores photos and files
    (:class:`adapters.storage.FileStorage`); ``render_worker`` is woken after an
    approval (None when rendering is off); ``settings`` carries
    ``live_query_window_seconds``.
    """

    settings: Any
    publisher: Any
    hub: Any
    file_urls: Any
    exports: Any
    storage: Any
    render_worker: Any


@dataclass
class Context:
    """What every resolver can reach: the caller, the app's services and this request's loaders.

    ``principal`` is None for an anonymous caller; ``auth_error`` keeps the
    reason a presented token was refused, raised only where auth is needed.
    """

    state: Services
    loaders: Loaders
    principal: Principal | None = None
    auth_error: Unauthenticated | None = None
    request: Any = None
    response: Any = None
    connection_params: dict[str, Any] | None = field(default=None)
    cost: Any = None
    """The operation's cost once the server has measured it (``server.cost.Cost``)."""
    prepaid: bool = False
    """The operation's cost was spent from the caller's budget before it ran (a shared subscription stream)."""
    """The operation's cost once the server has measured it (``server.cost.Cost``)."""

    def require_principal(self) -> Principal:
        """The authenticated caller. Raises :class:`Unauthenticated` otherwise."""
        if self.auth_error is not None:
            raise self.auth_error
        if self.principal is None:
            raise Unauthenticated("authentication required: send Authorization: Bearer <token>")
        return self.principal

    @property
    def publisher(self):
        return self.state.publisher

    @property
    def settings(self):
        return self.state.settings


Info = StrawberryInfo[Context, None]
