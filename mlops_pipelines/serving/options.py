"""The service's runtime knobs (`ServiceOptions`), set by the command line or by an embedding app."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from mlops_pipelines.serving.rotation import RotationRule

if TYPE_CHECKING:
    from mlops_pipelines.serving.runtime import RuntimeMode


@dataclass(frozen=True)
class ServiceOptions:
    """Runtime knobs; None means 'take it from the spec'."""

    poll_seconds: float = 5.0
    retry_seconds: float = 60.0  # before re-trying a version that failed to load
    canary_share: float | None = None
    shadow: bool | None = None
    log_flush_rows: int = 20_000  # a Delta commit costs ~20 ms fixed: fewer, larger commits (and files)
    log_flush_seconds: float = 1.0
    shadow_queue: int = 1000  # pending shadow requests; beyond this shadow scoring is skipped
    shadow_collect_seconds: float = 0.2  # shadow scores in batches gathered this long
    guard_window: int = 200
    guard_min_requests: int = 20
    # Requests merge into one model call up to this many rows (a bigger request scores alone):
    # per-row costs dominate past a few hundred rows, and a big batch makes everyone in it wait.
    batch_max_rows: int = 256
    batch_linger_seconds: float = 0.001  # under concurrency, wait this long for more requests to batch
    model_threads: int | None = 1  # OpenMP/BLAS threads per model call; None keeps the library default
    # The prediction log is built and written in a child process (off the event loop's GIL);
    # True keeps it on a thread of this process.
    log_in_process: bool = False
    runtime: RuntimeMode | None = None  # overrides spec.serving.runtime
    # A request gets its scores within this many seconds of arriving, or a 504.
    score_timeout_seconds: float = 10.0
    # Scoring jobs waiting for the answering thread; a request finding it full gets 503 +
    # Retry-After. At the measured ~2,500 1-row requests/s this is about 0.1 s of work.
    max_queue: int = 256
    # uvicorn's limit on open connections plus in-flight requests (503 past it): the service
    # holds each request's body and rows in memory, so their number is bounded before parsing.
    limit_concurrency: int = 512
    hang_seconds: float = 30.0  # a worker busy with one call this long is replaced (or fails readiness)
    supervise_seconds: float = 1.0  # how often workers and readiness gauges are checked
    max_restarts: int = 5  # per worker within 300 s; past that readiness fails
    # Host header values (no port) the service answers; None answers any (see http.RequestContext).
    allowed_hosts: tuple[str, ...] | None = None
    log_rotation: RotationRule | None = field(default_factory=RotationRule)

    def __post_init__(self) -> None:
        positive = {
            # 0 would poll the registry (and retry a refused version) in a busy loop.
            "poll_seconds": self.poll_seconds,
            "retry_seconds": self.retry_seconds,
            "score_timeout_seconds": self.score_timeout_seconds,
            "max_queue": self.max_queue,
            "limit_concurrency": self.limit_concurrency,
            "hang_seconds": self.hang_seconds,
            "supervise_seconds": self.supervise_seconds,
        }
        for name, value in positive.items():
            if value <= 0:
                raise ValueError(f"ServiceOptions.{name} must be > 0, got {value}")
