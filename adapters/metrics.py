"""The Prometheus metric families of every certify process, and their exposition.

The API server and the worker processes import this module alike (it
imports nothing of ours), so a job increments its family without knowing
the server. The families are module-level, as prometheus_client intends:
a process has one set of counters, and in multiprocess mode each process
writes them to its own files under ``PROMETHEUS_MULTIPROC_DIR``, which
:func:`exposition` sums (``livesum`` gauges: only processes still alive).

That variable must be set before this module is first imported (the
client picks its storage at import); ``certify serve --workers N`` sets it
(docs/ARCHITECTURE.md, "Metrics and logs").

Gauges that describe the database (outbox backlog, render queue) are not
kept here: the server reads them at scrape time (:mod:`server.metrics`).
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.registry import Collector

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
ANONYMOUS = "(anonymous)"
"""Operation label of an operation without a name (GraphQL names cannot hold parentheses, so no clash)."""
INVALID = "(invalid)"
"""Operation label of a name that is not a GraphQL name (``[_A-Za-z][_0-9A-Za-z]*``) or longer than 100 characters."""
OTHER = "(other)"
"""Operation label once a process has seen :data:`MAX_OPERATION_LABELS` distinct names."""
MAX_OPERATION_LABELS = 500
"""Distinct operation names one process labels; clients choose names, so the series they make are bounded."""
_NAME = re.compile(r"[_A-Za-z][_0-9A-Za-z]{0,99}")
_CODE = re.compile(r"[A-Z][A-Z0-9_]{0,59}")
# From 5 ms to the 30 s operation timeout (docs/RULES.md, "Limits"), in seconds.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

GRAPHQL_REQUESTS = Counter(
    "certify_graphql_requests", "GraphQL queries and mutations answered over HTTP, by operation name.", ["operation"]
)
GRAPHQL_ERRORS = Counter(
    "certify_graphql_errors",
    "GraphQL operations answered with errors, by operation name and the first error's extensions.code.",
    ["operation", "code"],
)
GRAPHQL_DURATION = Histogram(
    "certify_graphql_request_duration_seconds",
    "Time from parsing a GraphQL operation to its result, by operation name.",
    ["operation"],
    buckets=LATENCY_BUCKETS,
)
WEBSOCKET_CONNECTIONS = Gauge(
    "certify_websocket_connections", "Open GraphQL websocket connections.", multiprocess_mode="livesum"
)
SUBSCRIPTIONS = Gauge(
    "certify_subscriptions",
    "Running websocket operations (subscriptions, live queries), by operation name.",
    ["operation"],
    multiprocess_mode="livesum",
)
SUBSCRIPTIONS_STARTED = Counter(
    "certify_subscriptions_started", "Websocket operations started, by operation name.", ["operation"]
)
RENDER_FAILURES = Counter("certify_render_failures", "Certificate render attempts that failed.")
SCHEDULED_JOB_RUNS = Counter(
    "certify_scheduled_job_runs", "Runs of scheduled jobs, by job name and result (ok, error).", ["job", "result"]
)
SCHEDULED_JOB_DURATION = Histogram(
    "certify_scheduled_job_duration_seconds", "How long scheduled job runs took, by job name.", ["job"]
)
SCHEDULED_JOB_LAST_SUCCESS = Gauge(
    "certify_scheduled_job_last_success_timestamp_seconds",
    "Unix time of each scheduled job's last successful run.",
    ["job"],
    multiprocess_mode="max",
)

_labelled: set[str] = set()


def operation_label(name: object) -> str:
    """The ``operation`` label of a client-sent operation name: itself, or ANONYMOUS, INVALID or OTHER."""
    if name is None or name == "":
        return ANONYMOUS
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        return INVALID
    if name not in _labelled:
        if len(_labelled) >= MAX_OPERATION_LABELS:
            return OTHER
        _labelled.add(name)
    return name


def error_code_label(code: object) -> str:
    """The ``code`` label of an error's ``extensions.code`` (upper-case, at most 60 characters), else OTHER."""
    return code if isinstance(code, str) and _CODE.fullmatch(code) else OTHER


@contextmanager
def scheduled_job_run(job: str) -> Iterator[None]:
    """Count one run of the scheduled job ``job`` (a fixed name, e.g. ``"expire-claims"``) and time it.

    A run that raises counts as ``result="error"`` (the exception propagates);
    otherwise ``ok``, and the job's last-success time is set.
    """
    started = time.perf_counter()
    try:
        yield
    except BaseException:
        SCHEDULED_JOB_RUNS.labels(job=job, result="error").inc()
        raise
    finally:
        SCHEDULED_JOB_DURATION.labels(job=job).observe(time.perf_counter() - started)
    SCHEDULED_JOB_RUNS.labels(job=job, result="ok").inc()
    SCHEDULED_JOB_LAST_SUCCESS.labels(job=job).set(time.time())


def multiprocess_dir() -> Path | None:
    """The directory of multiprocess mode (``PROMETHEUS_MULTIPROC_DIR``), or None in single-process mode."""
    value = os.environ.get(MULTIPROC_ENV)
    return Path(value) if value else None


def _forget_dead_processes(path: Path) -> None:
    # A worker that died without cleaning up would keep its open connections counted for ever.
    pids = {
        int(match.group(1)) for file in path.glob("gauge_live*_*.db") if (match := re.search(r"_(\d+)\.db$", file.name))
    }
    for pid in pids:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            mark_process_dead(pid, str(path))
        except PermissionError:
            pass  # alive, someone else's


def exposition(extra: Iterable[Collector] = ()) -> bytes:
    """Every family in Prometheus text format, summed over live and past processes in multiprocess mode, then ``extra``."""
    directory = multiprocess_dir()
    if directory is None:
        body = generate_latest(REGISTRY)
    else:
        _forget_dead_processes(directory)
        summed = CollectorRegistry(auto_describe=False)
        MultiProcessCollector(summed, str(directory))
        body = generate_latest(summed)
    extras = CollectorRegistry(auto_describe=False)
    for collector in extra:
        extras.register(collector)
    return body + generate_latest(extras)
