"""An engine worker's own Prometheus metrics (on top of drawme.metrics's queue and process figures):
painting time and queue wait per job, failures by code, busy or idle, and the device's memory."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from drawme.metrics import Metrics

# Seconds: a draft paints in a second, a large CPU painting in minutes.
DURATION_BUCKETS = (1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1200)
WAIT_BUCKETS = (0.5, 1, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)


class EngineMetrics(Metrics):
    def __init__(self) -> None:
        super().__init__()
        self.job_duration = Histogram(
            "drawme_job_duration_seconds",
            "Painting time of each job this worker finished (claimed → stored).",
            buckets=DURATION_BUCKETS,
            registry=self.registry,
        )
        self.job_wait = Histogram(
            "drawme_job_wait_seconds",
            "How long each job this worker claimed had waited in the queue.",
            buckets=WAIT_BUCKETS,
            registry=self.registry,
        )
        self.failures = Counter(
            "drawme_job_failures_total",
            "Jobs this worker ended as failed, by code (FailureCode, ImageCode).",
            ["code"],
            registry=self.registry,
        )
        self.busy = Gauge(
            "drawme_worker_busy", "Jobs this worker is painting now (0: idle).", registry=self.registry
        )
        self.device_memory = Gauge(
            "drawme_device_memory_bytes",
            "Memory the painter holds on its device (CUDA: allocated by torch; else the process's"
            " resident memory, as process_resident_memory_bytes).",
            ["device"],
            registry=self.registry,
        )
