"""Tortoise models, enums and the status transition table. Never imports strawberry."""

from models.audit import AuditEvent, IdempotencyRecord
from models.certificate import Certificate, StatusList
from models.messaging import Notification, OutboxEmail, Reminder
from models.organisation import CreditTransaction, Organisation
from models.sitting import Sitting, Test, TestTaker

__all__ = [
    "AuditEvent",
    "Certificate",
    "CreditTransaction",
    "IdempotencyRecord",
    "Notification",
    "Organisation",
    "OutboxEmail",
    "Reminder",
    "Sitting",
    "StatusList",
    "Test",
    "TestTaker",
]
