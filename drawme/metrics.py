"""Prometheus metrics, with prometheus_client: the bot and each engine worker serve their own
`/metrics` (BOT_METRICS_PORT, ENGINE_METRICS_PORT; empty: off).

Every process keeps its metrics in its own `CollectorRegistry`, never the library's global one, so
two processes (or two in one interpreter, as in the tests) never mix their figures, and each
worker's series are its own however many run: Prometheus adds them up across its targets
(`sum(...)`). What every process exports (`Metrics`): the queue as the store sees it (jobs by
status, the oldest queued job's age, live and stale workers), refreshed every QUEUE_REFRESH seconds,
and its own memory and CPU (prometheus_client's process collector). bot/metrics.py and
engine/metrics.py add each one's own. deploy/README.md has a scrape config and the alerts.
"""

from __future__ import annotations

import logging
import threading
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Gauge, ProcessCollector, start_http_server

from drawme.models import Stats

log = logging.getLogger(__name__)

QUEUE_REFRESH = 15.0  # seconds between reads of the queue figures from the store
LISTEN = "0.0.0.0"  # /metrics is for the operator's Prometheus: keep the port off the internet


class Metrics:
    """One process's registry, the figures every process exports, and the HTTP server for them."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)  # process_resident_memory_bytes, CPU seconds...
        self.queue = Gauge(
            "drawme_queue_jobs", "Jobs in the store by status.", ["status"], registry=self.registry
        )
        self.oldest = Gauge(
            "drawme_queue_oldest_age_seconds",
            "Age of the oldest queued job (0 when none waits).",
            registry=self.registry,
        )
        self.workers = Gauge(
            "drawme_workers",
            "Registered engine workers: live (a recent heartbeat) or stale (hung, or gone unregistered).",
            ["state"],
            registry=self.registry,
        )
        self._server: WSGIServer | None = None
        self._thread: threading.Thread | None = None

    def observe_stats(self, stats: Stats) -> None:
        """The queue as `Backend.stats` reports it."""
        self.queue.labels("queued").set(stats.queued)
        self.queue.labels("running").set(stats.running)
        self.oldest.set(stats.oldest_queued_age or 0.0)
        stale = sum(worker.stale for worker in stats.workers)
        self.workers.labels("live").set(len(stats.workers) - stale)
        self.workers.labels("stale").set(stale)

    def serve(self, port: int, address: str = LISTEN) -> bool:
        """Serve /metrics on `port` (in a thread). A port already taken is logged, not fatal."""
        try:
            self._server, self._thread = start_http_server(port, address, registry=self.registry)
        except OSError as error:
            log.warning("metrics not served: port %d is not free (%s)", port, error)
            return False
        log.info("metrics at http://%s:%d/metrics", address, port)
        return True

    @property
    def port(self) -> int | None:
        return None if self._server is None else self._server.server_port

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
