"""Logging of every certify process: one format for uvicorn and the app, and each line's request.

``CERTIFY_LOG_FORMAT``: ``json`` (one JSON object a line: ``time``, ``level``,
``logger``, ``message``, ``request_id``, ``operation``, and for an access
line ``client``, ``method``, ``path``, ``status``), ``text`` (the same
fields on one readable line) or ``auto`` (text when stderr is a terminal,
JSON otherwise). Every line goes to stderr.

The request of a line comes from :data:`current_request`, which
:class:`server.request_ids.RequestIds` sets for each HTTP request and
websocket connection, and which the GraphQL view and the websocket handlers
name the operation on (:func:`name_operation`, :func:`operation_scope`):
its name, ``(anonymous)`` for an unnamed operation (as in the metrics'
labels), ``-`` on lines of no GraphQL operation (start-up, workers, files).

What never reaches a line: the query string and the signed tokens of
``/files/…`` and ``/exports/…`` in access lines (shown as ``…``), and the
statements with their parameters that Tortoise logs at DEBUG (e-mail bodies,
names), whose logger stays at INFO. Tokens, photos and e-mail bodies are
logged nowhere else (``tests/test_logs.py``).
"""

from __future__ import annotations

import logging
import logging.config
import re
import sys
from contextvars import ContextVar, Token
from dataclasses import dataclass
from typing import Any


@dataclass(slots=True)
class RequestLog:
    """What every log line of one request (or websocket operation) says about it."""

    request_id: str
    operation: str | None = None


current_request: ContextVar[RequestLog | None] = ContextVar("certify_request", default=None)
"""The request the running task serves; None outside requests (start-up, background workers)."""

_SECRET_SEGMENTS = re.compile(r"^(/(?:files|exports)/)[^/]+")
_ACCESS = "uvicorn.access"
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s %(operation)s] %(message)s"
JSON_FIELDS = "{asctime}{levelname}{name}{message}{request_id}{operation}"


def name_operation(name: str | None) -> None:
    """Name the current request's operation (an HTTP GraphQL request), so its later lines and access line carry it."""
    request = current_request.get()
    if request is not None:
        request.operation = name or None


class operation_scope:
    """Lines of the current task inside the ``with`` block carry ``name``: a websocket operation in its own task.

    A new :class:`RequestLog` with the connection's request id, so that
    operations of one connection do not rename each other. A class with slots
    rather than a generator: one lives as long as each subscription.
    """

    __slots__ = ("name", "token")

    def __init__(self, name: str | None):
        self.name = name or None
        self.token: Token[RequestLog | None] | None = None

    def __enter__(self) -> None:
        request = current_request.get()
        self.token = current_request.set(RequestLog(request.request_id if request else "-", self.name))

    def __exit__(self, *exc_info: object) -> None:
        if self.token is not None:
            current_request.reset(self.token)


def safe_path(path: str) -> str:
    """``path`` without its query string and with the signed token of a file or export URL as ``…``."""
    return _SECRET_SEGMENTS.sub(r"\1…", path.split("?", 1)[0])


class RequestContext(logging.Filter):
    """Adds ``request_id`` and ``operation`` to every record; gives access lines their fields, paths made safe."""

    def filter(self, record: logging.LogRecord) -> bool:
        request = current_request.get()
        record.request_id = request.request_id if request else "-"
        record.operation = (request.operation if request else None) or "-"
        record.__dict__.pop("color_message", None)  # uvicorn's copy of the message with terminal colours
        if record.name == _ACCESS and isinstance(record.args, tuple) and len(record.args) == 5:
            client, method, path, version, status = record.args
            path = safe_path(str(path))
            record.args = (client, method, path, version, status)
            record.client, record.method, record.path, record.status = client, method, path, status
        elif isinstance(record.args, tuple) and "WebSocket %s" in str(record.msg):
            # uvicorn's websocket lines name the path, query string included.
            record.args = tuple(
                safe_path(arg) if isinstance(arg, str) and arg.startswith("/") else arg for arg in record.args
            )
        return True


def resolved_format(log_format: str, stream: Any = None) -> str:
    """``json`` or ``text`` for ``log_format`` (``auto``: text on a terminal)."""
    if log_format != "auto":
        return log_format
    stream = stream if stream is not None else sys.stderr
    return "text" if getattr(stream, "isatty", lambda: False)() else "json"


def log_config(*, level: str, log_format: str) -> dict[str, Any]:
    """A ``logging.config.dictConfig`` dict (also uvicorn's ``log_config``): every logger through one stderr handler.

    ``level``: a logging level name (``INFO``); ``log_format``: ``json``, ``text`` or ``auto``.
    """
    formatter: dict[str, Any] = {"format": TEXT_FORMAT}
    if resolved_format(log_format) == "json":
        formatter = {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": JSON_FIELDS,
            "style": "{",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
            "datefmt": "%Y-%m-%dT%H:%M:%S%z",
        }
    level = level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request": {"()": "server.logs.RequestContext"}},
        "formatters": {"default": formatter},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
                "formatter": "default",
                "filters": ["request"],
            }
        },
        "root": {"level": level, "handlers": ["stderr"]},
        "loggers": {
            # uvicorn's own handlers would print its lines in its own format.
            "uvicorn": {"handlers": [], "propagate": True},
            "uvicorn.error": {"handlers": [], "propagate": True},
            "uvicorn.access": {"handlers": [], "propagate": True},
            # At DEBUG it logs every statement with its parameters: e-mail bodies, names, addresses.
            "tortoise.db_client": {"level": "INFO" if level == "DEBUG" else level},
        },
    }


def configure_logging(*, level: str, log_format: str) -> None:
    """Apply :func:`log_config` to this process; Python warnings become log lines too."""
    logging.config.dictConfig(log_config(level=level, log_format=log_format))
    logging.captureWarnings(True)
