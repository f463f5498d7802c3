"""The per-request GraphQL context and the ``Info`` alias resolvers use."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from strawberry.types import Info as StrawberryInfo

from resolvers.errors import Unauthenticated
from resolvers.principal import Principal

if TYPE_CHECKING:
    from server.app import AppState
    from gql.loaders import Loaders


@dataclass
class Context:
    """What every resolver can reach: the caller, the app's services and this request's loaders.

    ``principal`` is None for an anonymous caller; ``auth_error`` keeps the
    reason a presented token was refused, raised only where auth is needed.
    """

    state: AppState
    loaders: Loaders
    principal: Principal | None = None
    auth_error: Unauthenticated | None = None
    request: Any = None
    response: Any = None
    connection_params: dict[str, Any] | None = field(default=None)

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
