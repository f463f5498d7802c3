"""The root schema, assembled from the per-area classes."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import strawberry
from strawberry.extensions import SchemaExtension
from strawberry.schema.config import StrawberryConfig
from strawberry.tools import merge_types

from gql.analytics import AnalyticsQuery
from gql.certificates import CertificateMutation, CertificateQuery
from gql.errors import ErrorCodes
from gql.exports import ExportQuery
from gql.notifications import NotificationMutation, NotificationQuery
from gql.platform import PlatformMutation
from gql.realtime import StreamErrorCodes, Subscription, sharing_of
from gql.scalars import DateTimeScalar
from gql.sittings import SittingMutation, SittingQuery
from gql.types.certificate import Certificate
from gql.types.notification import Notification
from gql.types.organisation import CreditTransaction, Organisation
from gql.types.sitting import Sitting, Test, TestTaker
from gql.viewer import ViewerQuery

Query = merge_types(
    "Query", (ViewerQuery, SittingQuery, NotificationQuery, CertificateQuery, ExportQuery, AnalyticsQuery)
)
Mutation = merge_types("Mutation", (SittingMutation, PlatformMutation, NotificationMutation, CertificateMutation))


class CertifySchema(strawberry.Schema):
    """Strawberry's schema, minus its logging of expected errors (``ErrorCodes`` logs the unexpected)."""

    def process_errors(self, errors, execution_context=None) -> None:
        return None


def build_schema(
    *, limits: Sequence[type[SchemaExtension]] = (), execution_context_class: type | None = None
) -> strawberry.Schema:
    """The executable schema: every error with its code, then ``limits``.

    ``limits``: the extensions that bound what a request may ask, which the
    server adds (:class:`server.documents.DocumentLimits`: tokens, shape,
    cost, depth, aliases, rate limits); they change nothing in the SDL.
    ``execution_context_class``: graphql-core's executor to run operations with
    (the server's :class:`server.strawberry_internals.ExecutionContext`); None: strawberry's.

    Raises:
        TypeError: a Subscription field that declares no sharing (:func:`gql.realtime.sharing_of`).
    """
    schema = CertifySchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        types=[Organisation, CreditTransaction, Test, TestTaker, Sitting, Certificate, Notification],
        extensions=[ErrorCodes, StreamErrorCodes, *limits],
        config=StrawberryConfig(scalar_map={datetime: DateTimeScalar}),
        execution_context_class=execution_context_class,
    )
    sharing_of(schema)
    return schema


def export_sdl() -> str:
    """The SDL that ``certify export-schema`` prints and ``schema.graphql`` holds."""
    return build_schema().as_str() + "\n"
