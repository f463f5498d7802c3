"""The root schema, assembled from the per-area classes."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.extensions import AddValidationRules, MaxTokensLimiter
from strawberry.extensions.max_aliases import create_validator as alias_limit
from strawberry.extensions.query_depth_limiter import create_validator as depth_limit
from strawberry.schema.config import StrawberryConfig
from strawberry.tools import merge_types

from gql.certificates import CertificateMutation, CertificateQuery
from gql.errors import ErrorCodes
from gql.notifications import NotificationMutation, NotificationQuery
from gql.platform import PlatformMutation
from gql.realtime import SharingExecutionContext, StreamErrorCodes, Subscription
from gql.scalars import DateTimeScalar
from gql.sittings import SittingMutation, SittingQuery
from gql.types.certificate import Certificate
from gql.types.notification import Notification
from gql.types.organisation import CreditTransaction, Organisation
from gql.types.sitting import Sitting, Test, TestTaker
from gql.viewer import ViewerQuery

MAX_ALIASES = 30  # bounds one request's cost: 30 × a 500-row page
MAX_DEPTH = 12
# strawberry's QueryDepthLimiter / MaxAliasesLimiter build a new rule class per
# operation; built once here, they cost nothing per open subscription.
LIMIT_RULES = [depth_limit(MAX_DEPTH, None), alias_limit(MAX_ALIASES)]

Query = merge_types("Query", (ViewerQuery, SittingQuery, NotificationQuery, CertificateQuery))
Mutation = merge_types("Mutation", (SittingMutation, PlatformMutation, NotificationMutation, CertificateMutation))


class CertifySchema(strawberry.Schema):
    """Strawberry's schema, minus its logging of expected errors (``ErrorCodes`` logs the unexpected)."""

    def process_errors(self, errors, execution_context=None) -> None:
        return None


def build_schema() -> strawberry.Schema:
    """The executable schema with its limits: depth 12, 30 aliases, 20,000 tokens."""
    return CertifySchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        types=[Organisation, CreditTransaction, Test, TestTaker, Sitting, Certificate, Notification],
        extensions=[
            ErrorCodes,
            StreamErrorCodes,
            lambda: AddValidationRules(LIMIT_RULES),
            lambda: MaxTokensLimiter(max_token_count=20_000),
        ],
        config=StrawberryConfig(scalar_map={datetime: DateTimeScalar}),
        execution_context_class=SharingExecutionContext,
    )


def export_sdl() -> str:
    """The SDL that ``certify export-schema`` prints and ``schema.graphql`` holds."""
    return build_schema().as_str() + "\n"
