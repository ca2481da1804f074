"""The one module that talks to the task engine (Dramatiq): the broker, its actors, its workers.

`BROKER_URL` "" (the embedded default) is Dramatiq's in-process `StubBroker` with `dramatiq.Worker`
threads inside `sachnoi serve` / `sachnoi worker` (no server to install); `amqp://…` is RabbitMQ.
Both run the same actors:

    sachnoi_job      queue `default`  a job: book-level stages of `produce`, clip, align, talking_book
    sachnoi_master   queue `master`   one chapter's master (a job part)
    sachnoi_encode   queue `encode`   one chapter × one output encode, or the M4B (a job part)

Messages carry row ids only; the database holds the state (studio.jobs), the engine only delivers.
The engine's pitfalls, handled here:
- retries: `max_retries=0` (Dramatiq's default is 20 with backoff over days); attempts are counted
  in the database, at most JOB_MAX_ATTEMPTS, and a failed attempt is sent again by the reconciler;
- prefetch: one message per worker thread (Dramatiq's default is two), so a queued message is not
  held unacknowledged behind a long one on a busy worker while an idle one waits;
- RabbitMQ's `consumer_timeout` (30 min by default) closes the channel of a consumer that holds an
  unacknowledged message longer: stages are per chapter and output, and every message has a time
  limit (JOB_TIME_LIMIT_S, default 14 min: a message can wait one limit behind a running one in a
  thread's prefetch, then run one, within 30 min);
- the time limit raises `TimeLimitExceeded` in the worker thread; `delivery.ffmpeg` waits on its
  child in short slices, so the exception arrives within ~0.2 s and the child is killed;
- a worker killed with -9: RabbitMQ redelivers its unacknowledged message at once, and the
  reconciler sends the row again once its lease has expired; the database claim lets one run it.
"""
from __future__ import annotations

import logging
import threading
from urllib.parse import urlsplit
from typing import Callable, Iterable

import dramatiq
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import Retries, ShutdownNotifications, TimeLimit
from dramatiq.middleware.time_limit import TimeLimitExceeded

from studio.errors import N_, StudioError

log = logging.getLogger(__name__)

QUEUES = ("default", "master", "encode")
TIME_LIMIT_ERRORS: tuple[type[BaseException], ...] = (TimeLimitExceeded,)
TIME_LIMIT_CHECK_MS = 200   # how often Dramatiq looks for threads past their limit (its default: 1 s)


class BrokerError(StudioError):
    """The broker could not be reached or refused a message, or a queue name is unknown."""


def parse_queues(text: str | None) -> tuple[str, ...]:
    """`--queues master,encode` → ("master", "encode"); empty → all. Unknown names are refused."""
    names = tuple(q.strip() for q in (text or "").split(",") if q.strip())
    unknown = [q for q in names if q not in QUEUES]
    if unknown:
        raise BrokerError(N_("Không có hàng đợi %(names)s; các hàng đợi: %(known)s."),
                          names=", ".join(unknown), known=", ".join(QUEUES))
    return names or QUEUES


class Broker:
    """A Dramatiq broker for `url` with the three actors, calling `on_job(job_id)` and
    `on_part(part_id)` in the worker threads. One per process (or per test instance)."""

    def __init__(self, url: str, *, time_limit_s: float, on_job: Callable[[int], None],
                 on_part: Callable[[int], None]):
        self.url = url or ""
        middleware = [TimeLimit(time_limit=int(time_limit_s * 1000), interval=TIME_LIMIT_CHECK_MS),
                      ShutdownNotifications(), Retries(max_retries=0)]
        try:
            self.broker = (RabbitmqBroker(url=self.url, middleware=middleware, confirm_delivery=True)
                           if self.url else StubBroker(middleware=middleware))
        except Exception as exc:  # pika raises its own classes for a bad URL
            raise BrokerError(N_("Không dùng được BROKER_URL: %(error)s"), error=str(exc)) from exc
        # what Dramatiq's own CLI does at start: the TimeLimit middleware starts its watcher here
        self.broker.emit_after("process_boot")
        limit_ms = int(time_limit_s * 1000)
        self.actors = {
            queue: dramatiq.actor(actor_name=name, queue_name=queue, broker=self.broker, max_retries=0,
                                  time_limit=limit_ms)(handler)
            for queue, name, handler in (("default", "sachnoi_job", on_job), ("master", "sachnoi_master", on_part),
                                         ("encode", "sachnoi_encode", on_part))}
        self.worker: dramatiq.Worker | None = None
        self.lock = threading.Lock()

    @property
    def in_process(self) -> bool:
        return isinstance(self.broker, StubBroker)

    def send(self, queue: str, row_id: int) -> None:
        """One message naming row `row_id` on `queue` ("default": a job; "master"/"encode": a part)."""
        try:
            with self.lock:  # pika's connections are per thread in Dramatiq, but be safe with the stub
                self.actors[queue].send(int(row_id))
        except Exception as exc:
            raise BrokerError(N_("Không gửi được việc tới hàng đợi: %(error)s"), error=str(exc)) from exc

    def start(self, queues: Iterable[str] = QUEUES, threads: int = 1, *, poll_ms: int = 1000,
              name: str = "sachnoi-worker") -> None:
        """Worker threads consuming `queues`, one message each at a time (prefetch 1 per thread),
        named `name` (thread listings and tests tell them from request threads)."""
        if isinstance(self.broker, RabbitmqBroker):
            try:
                self.broker.connection  # noqa: B018 - opens this thread's connection: a server down is said now
            except Exception as exc:  # pika raises its own classes
                raise BrokerError(N_("Không kết nối được tới máy chủ hàng đợi %(host)s: %(error)s"),
                                  host=_host(self.url), error=str(exc) or exc.__class__.__name__) from exc
        worker = dramatiq.Worker(self.broker, queues=set(queues), worker_threads=max(1, threads),
                                 worker_timeout=poll_ms)
        worker.queue_prefetch = max(1, threads)   # per consumer: one message for each thread
        worker.start()
        for index, thread in enumerate(worker.workers):
            thread.name = name if len(worker.workers) == 1 else f"{name}-{index}"
        self.worker = worker

    def idle(self) -> bool:
        """In-process broker only: no message waiting or running on any queue."""
        if not isinstance(self.broker, StubBroker):
            return False
        return all(self.broker.queues[q].unfinished_tasks == 0 for q in self.broker.queues)

    def join(self, timeout_s: float | None = None) -> None:
        """In-process broker only: wait until every queue is empty and its messages finished."""
        if isinstance(self.broker, StubBroker):
            for queue in list(self.broker.queues):
                self.broker.join(queue, timeout=None if timeout_s is None else int(timeout_s * 1000),
                                 fail_fast=False)

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop the worker threads (a message still running is redelivered or sent again later)."""
        if self.worker is not None:
            self.worker.stop(timeout=int(timeout_s * 1000))
            self.worker = None

    def close(self) -> None:
        self.stop()
        try:
            self.broker.close()
        except Exception:  # closing a connection that is already gone
            log.debug("broker close failed", exc_info=True)


def _host(url: str) -> str:
    """host:port of a broker URL, without the user and password it may carry."""
    parts = urlsplit(url)
    return f"{parts.hostname or ''}:{parts.port or 5672}"
